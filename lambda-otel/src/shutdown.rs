//! The last flush, when the execution environment shuts down.
//!
//! Lambda sends the runtime SIGTERM at shutdown only if an extension is registered, so the function registers an
//! internal one that subscribes to no events: it exists to be counted. Its `event/next` request has to be made (Lambda
//! waits for it to finish the init phase) and then stays pending for the life of the process. This is a direct HTTP
//! call rather than `lambda_runtime`'s graceful-shutdown helper, which panics where the Extensions API is missing
//! (cargo-lambda, the Runtime Interface Emulator, a local host): there registration fails, is logged at debug level,
//! and SIGTERM/SIGINT still flush.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lambda_http::Error as BoxError;
use lambda_http::http::Request;
use tokio::signal::unix::{SignalKind, signal};

use crate::Telemetry;

/// The name Lambda lists the extension under.
const EXTENSION_NAME: &str = "hello-lambda-otel-flush";

/// Registration is a call to the local Runtime API: anything slower means there is no Extensions API to speak of.
const REGISTRATION_LIMIT: Duration = Duration::from_secs(1);

type ApiClient = Client<HttpConnector, Full<Bytes>>;

/// Registers the extension (when there is a Runtime API) and flushes once more, then exits, on SIGTERM or SIGINT.
/// Must be awaited during init, before the runtime asks for its first event.
pub(crate) async fn install(telemetry: &Telemetry) {
    if !telemetry.is_enabled() {
        return;
    }
    if let Some(runtime_api) = telemetry.runtime_api() {
        let client: ApiClient = Client::builder(TokioExecutor::new()).build_http();
        match register(&client, runtime_api).await {
            Ok(id) => {
                tokio::spawn(wait_for_events(client, runtime_api.to_string(), id));
            }
            Err(error) => tracing::debug!(%error, "no extension registered; SIGTERM will not be sent by Lambda"),
        }
    }
    let telemetry = telemetry.clone();
    tokio::spawn(async move {
        let signal = terminated().await;
        tracing::debug!(signal, "flushing telemetry before exiting");
        telemetry.flush().await;
        std::process::exit(0);
    });
}

async fn register(client: &ApiClient, runtime_api: &str) -> Result<String, BoxError> {
    let request = Request::post(format!("http://{runtime_api}/2020-01-01/extension/register"))
        .header("Lambda-Extension-Name", EXTENSION_NAME)
        .body(Full::from(r#"{"events":[]}"#))?;
    let response = tokio::time::timeout(REGISTRATION_LIMIT, client.request(request)).await??;
    if !response.status().is_success() {
        return Err(format!("the Extensions API answered {}", response.status()).into());
    }
    let id = response.headers().get("Lambda-Extension-Identifier").and_then(|id| id.to_str().ok());
    Ok(id.ok_or("the Extensions API gave no Lambda-Extension-Identifier")?.to_string())
}

async fn wait_for_events(client: ApiClient, runtime_api: String, id: String) {
    let request = Request::get(format!("http://{runtime_api}/2020-01-01/extension/event/next"))
        .header("Lambda-Extension-Identifier", id)
        .body(Full::default());
    // Subscribed to no events, so an answer only comes at shutdown, if at all; SIGTERM is what acts on it.
    let answer = match request {
        Ok(request) => client.request(request).await.map(|response| response.status().to_string()),
        Err(error) => Ok(error.to_string()),
    };
    tracing::debug!(?answer, "the extension's event/next returned");
}

/// Waits for SIGTERM or SIGINT and names it. A signal that cannot be listened to is only logged: the other may work.
async fn terminated() -> &'static str {
    async fn wait(kind: SignalKind, name: &'static str) -> &'static str {
        match signal(kind) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::debug!(%error, signal = name, "cannot listen to the signal");
                std::future::pending::<()>().await;
            }
        }
        name
    }
    tokio::select! {
        name = wait(SignalKind::terminate(), "SIGTERM") => name,
        name = wait(SignalKind::interrupt(), "SIGINT") => name,
    }
}
