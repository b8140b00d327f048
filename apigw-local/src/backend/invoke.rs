//! Forwards events to a Lambda Invoke endpoint, typically the Runtime Interface Emulator (RIE) in the function's
//! container: `POST /2015-03-31/functions/function/invocations`.
//!
//! The RIE is not Lambda: it serves one invoke at a time (a second concurrent one is refused), reports function errors
//! and timeouts with status 200, and has no `X-Amz-Function-Error` header. So requests take turns here, error payloads
//! are recognised by their shape, and the integration timeout is the gateway's own.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

use super::{Backend, Invocation, InvokeError};

/// Larger than Lambda's 6 MB response limit, so that the mapper, not a transport error, reports oversized output.
const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// The back end that forwards each event to a Lambda Invoke endpoint, such as the Runtime Interface Emulator in the
/// function's container.
pub struct InvokeClient {
    url: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    /// One invocation at a time, granted in arrival order (tokio's semaphore is fair).
    turn: Arc<Semaphore>,
}

/// An `--invoke-url` that cannot be used: it must be an `http://HOST[:PORT]/PATH` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInvokeUrl {
    /// The URL as given.
    pub url: String,
}

impl std::fmt::Display for InvalidInvokeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invoke URL {:?}: must be http://HOST[:PORT]/PATH", self.url)
    }
}

impl std::error::Error for InvalidInvokeUrl {}

impl InvokeClient {
    /// `url` is the endpoint's full invocations URL over plain HTTP.
    pub fn new(url: &str) -> Result<Self, InvalidInvokeUrl> {
        let invalid = || InvalidInvokeUrl { url: url.to_string() };
        let url: Uri = url.parse().map_err(|_| invalid())?;
        if url.scheme_str() != Some("http") || url.host().is_none() {
            return Err(invalid());
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { url, client, turn: Arc::new(Semaphore::new(1)) })
    }
}

impl Backend for InvokeClient {
    async fn invoke(&self, invocation: Invocation) -> Result<Vec<u8>, InvokeError> {
        let turn = self.turn.clone().acquire_owned().await.map_err(|_| InvokeError::Service("shut down".into()))?;
        let request = hyper::Request::post(self.url.clone())
            .header("Content-Type", "application/json")
            .header("X-Amz-Invocation-Type", "RequestResponse")
            .header("X-Amzn-Trace-Id", &invocation.trace_header)
            .body(Full::new(Bytes::from(invocation.payload)))
            .map_err(|error| InvokeError::Service(error.to_string()))?;
        let call = self.client.request(request);
        let url = self.url.clone();
        // The endpoint stays busy with an invocation after the gateway has given up on it (timeout), so the turn is
        // held until the endpoint answers: the next request must not be refused as a concurrent invoke.
        let exchange = tokio::spawn(async move {
            let _turn = turn;
            let response = call.await.map_err(|error| InvokeError::Service(format!("cannot reach {url}: {error}")))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_OUTPUT_BYTES)
                .collect()
                .await
                .map_err(|error| InvokeError::Service(format!("reading the answer of {url}: {error}")))?
                .to_bytes();
            Ok::<_, InvokeError>((parts, body))
        });
        let (parts, body) =
            exchange.await.map_err(|error| InvokeError::Service(format!("invoke task failed: {error}")))??;
        interpret(parts.status.as_u16(), parts.headers.contains_key("x-amz-function-error"), body.into())
    }
}

/// Lambda's Invoke contract: 200 with the function's output for a synchronous invoke (and `X-Amz-Function-Error` when
/// it failed); anything else means the service did not run it.
fn interpret(status: u16, function_error_header: bool, body: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
    if status != 200 {
        let detail = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(InvokeError::Service(format!("the endpoint answered {status}: {detail}")));
    }
    let Ok(output) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Err(InvokeError::Function("the output is not JSON".into()));
    };
    let error_type = output.get("errorType").and_then(serde_json::Value::as_str);
    if function_error_header || error_type.is_some() {
        let message = output.get("errorMessage").and_then(serde_json::Value::as_str).unwrap_or("(no message)");
        return Err(InvokeError::Function(format!("{}: {message}", error_type.unwrap_or("Unhandled"))));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_passed_on_untouched() {
        let body = br#"{"statusCode":200,"body":"hi"}"#.to_vec();
        assert_eq!(interpret(200, false, body.clone()), Ok(body));
    }

    #[test]
    fn the_emulators_error_payload_is_a_function_error() {
        let body = br#"{"errorMessage":"boom","errorType":"Runtime.ExitError"}"#.to_vec();
        assert_eq!(interpret(200, false, body), Err(InvokeError::Function("Runtime.ExitError: boom".into())));
    }

    #[test]
    fn lambdas_function_error_header_is_a_function_error() {
        let body = br#"{"errorMessage":"bad"}"#.to_vec();
        assert_eq!(interpret(200, true, body), Err(InvokeError::Function("Unhandled: bad".into())));
    }

    #[test]
    fn non_json_output_is_a_function_error() {
        assert_eq!(
            interpret(200, false, b"Task timed out".to_vec()),
            Err(InvokeError::Function("the output is not JSON".into()))
        );
    }

    #[test]
    fn anything_but_200_means_the_service_did_not_run_it() {
        for status in [202, 400, 413, 429, 500, 502] {
            assert!(matches!(interpret(status, false, b"{}".to_vec()), Err(InvokeError::Service(_))), "{status}");
        }
    }
}
