//! The Runtime API's and Extensions API's HTTP endpoints: what each request from the function asks for
//! ([`RuntimeCall`], handed to the environment's [`Process`](super::process::Process)), and the answers the host
//! gives.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::FunctionConfig;
use crate::backend::Invocation;
use crate::http1::{Connection, Limits, Request, Response};

/// Lambda's synchronous response payload limit (6 MB as Lambda counts it).
pub(super) const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Runtime clients long-poll `/next` on connections they keep open, so idle time is not a reason to hang up.
const RUNTIME_LIMITS: Limits = Limits {
    max_head: 64 * 1024,
    max_body: 2 * MAX_RESPONSE_BYTES,
    head_timeout: Duration::from_secs(30),
    body_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(24 * 60 * 60),
};

pub(super) const EXTENSION_NAME: &str = "Lambda-Extension-Name";
pub(super) const EXTENSION_ID: &str = "Lambda-Extension-Identifier";

/// A Runtime API request from the function, with the channel its HTTP answer goes back on.
pub(super) struct RuntimeCall {
    pub(super) kind: CallKind,
    pub(super) reply: oneshot::Sender<Response>,
}

/// What a Runtime API request asks for.
pub(super) enum CallKind {
    Next,
    Response { request_id: String, body: Vec<u8> },
    Error { request_id: String, summary: String },
    InitError { summary: String },
    RegisterExtension { invoke: bool, shutdown: bool },
    NextExtensionEvent { extension_id: String },
}

/// Serves one environment's Runtime API on `listener`, handing each call to the environment on `calls`.
pub(super) async fn serve(listener: TcpListener, calls: mpsc::Sender<RuntimeCall>) {
    loop {
        let (stream, _) = crate::server::accept(&listener, "Runtime API").await;
        // Runtime clients send small requests and wait for each answer: Nagle's delay would add to every invocation.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, calls.clone()));
    }
}

async fn serve_connection(stream: TcpStream, calls: mpsc::Sender<RuntimeCall>) {
    let mut connection = Connection::new(stream);
    loop {
        let Ok(request) = connection.read_request(&RUNTIME_LIMITS).await else { return };
        let keep_alive = request.keep_alive();
        let response = match parse_call(request) {
            Ok(kind) => {
                let (reply, answer) = oneshot::channel();
                if calls.send(RuntimeCall { kind, reply }).await.is_err() {
                    return;
                }
                // No answer means the environment is being replaced: hanging up tells the old client to stop.
                let Ok(response) = answer.await else { return };
                response
            }
            Err(response) => response,
        };
        if connection.write_response(&response, false, keep_alive).await.is_err() || !keep_alive {
            return;
        }
    }
}

fn parse_call(request: Request) -> Result<CallKind, Response> {
    const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
    let path = request.path();
    match (request.method.as_str(), path) {
        ("GET", "/2018-06-01/runtime/invocation/next") => Ok(CallKind::Next),
        ("POST", "/2018-06-01/runtime/init/error") => Ok(CallKind::InitError { summary: error_summary(&request) }),
        ("POST", "/2020-01-01/extension/register") => parse_registration(&request),
        ("GET", "/2020-01-01/extension/event/next") => match request.header(EXTENSION_ID) {
            Some(extension_id) => Ok(CallKind::NextExtensionEvent { extension_id: extension_id.to_string() }),
            None => Err(runtime_error(403, "Extension.MissingExtensionIdentifier", "no Lambda-Extension-Identifier")),
        },
        ("POST", _) if path.starts_with(INVOCATION) => {
            let rest = &path[INVOCATION.len()..];
            if let Some(request_id) = rest.strip_suffix("/response") {
                let request_id = request_id.to_string();
                Ok(CallKind::Response { request_id, body: request.body })
            } else if let Some(request_id) = rest.strip_suffix("/error") {
                Ok(CallKind::Error { request_id: request_id.to_string(), summary: error_summary(&request) })
            } else {
                Err(runtime_error(404, "NotFound", "unknown Runtime API path"))
            }
        }
        _ => Err(runtime_error(404, "NotFound", "unknown Runtime API path")),
    }
}

/// `POST /2020-01-01/extension/register`: the `Lambda-Extension-Name` header and `{"events": [...]}`.
fn parse_registration(request: &Request) -> Result<CallKind, Response> {
    if request.header(EXTENSION_NAME).is_none_or(str::is_empty) {
        return Err(runtime_error(400, "InvalidRequest", "the Lambda-Extension-Name header is required"));
    }
    #[derive(serde::Deserialize)]
    struct Registration {
        #[serde(default)]
        events: Vec<String>,
    }
    let registration: Registration = serde_json::from_slice(&request.body)
        .map_err(|error| runtime_error(400, "InvalidRequest", &format!("registration body: {error}")))?;
    let (mut invoke, mut shutdown) = (false, false);
    for event in &registration.events {
        match event.as_str() {
            "INVOKE" => invoke = true,
            "SHUTDOWN" => shutdown = true,
            other => return Err(runtime_error(400, "InvalidEventType", &format!("unknown event type {other:?}"))),
        }
    }
    Ok(CallKind::RegisterExtension { invoke, shutdown })
}

/// `errorType: errorMessage` from an error report, for the gateway's log.
fn error_summary(request: &Request) -> String {
    let report: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let error_type = report["errorType"]
        .as_str()
        .or_else(|| request.header("Lambda-Runtime-Function-Error-Type"))
        .unwrap_or("Unhandled");
    let message = report["errorMessage"].as_str().unwrap_or("(no message)");
    format!("{error_type}: {message}")
}

pub(super) fn runtime_error(status: u16, error_type: &str, message: &str) -> Response {
    Response::json(status, &serde_json::json!({ "errorMessage": message, "errorType": error_type }))
}

pub(super) fn accepted() -> Response {
    Response::json(202, &serde_json::json!({ "status": "OK" }))
}

/// The answer to the runtime's `/next`: the event, and its context in headers.
pub(super) fn next_event(invocation: Invocation, config: &FunctionConfig) -> Response {
    let deadline_ms = invocation.deadline_wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Lambda-Runtime-Aws-Request-Id".into(), invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms".into(), deadline_ms.to_string()),
            ("Lambda-Runtime-Invoked-Function-Arn".into(), config.arn()),
            ("Lambda-Runtime-Trace-Id".into(), invocation.trace_header),
        ],
        body: invocation.payload,
    }
}

/// The answer to an extension's registration.
pub(super) fn registered(config: &FunctionConfig, extension_id: &str) -> Response {
    let handler = config.executable.file_name().map(|name| name.to_string_lossy().into_owned());
    let body = serde_json::json!({ "functionName": config.name, "functionVersion": "$LATEST", "handler": handler });
    Response::json(200, &body).header(EXTENSION_ID, extension_id)
}

/// The `INVOKE` event of the Extensions API for an invocation.
pub(super) fn invoke_event(invocation: &Invocation, config: &FunctionConfig) -> Response {
    let deadline_ms = invocation.deadline_wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    let event = serde_json::json!({
        "eventType": "INVOKE",
        "deadlineMs": u64::try_from(deadline_ms).unwrap_or(0),
        "requestId": invocation.request_id,
        "invokedFunctionArn": config.arn(),
        "tracing": { "type": "X-Amzn-Trace-Id", "value": invocation.trace_header },
    });
    Response::json(200, &event).header("Lambda-Extension-Event-Identifier", &crate::random::uuid_v4().to_string())
}

/// The `SHUTDOWN` event of the Extensions API.
pub(super) fn shutdown_event(deadline: SystemTime) -> Response {
    let deadline_ms = u64::try_from(deadline.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(0);
    let event = serde_json::json!({ "eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": deadline_ms });
    Response::json(200, &event).header("Lambda-Extension-Event-Identifier", &crate::random::uuid_v4().to_string())
}
