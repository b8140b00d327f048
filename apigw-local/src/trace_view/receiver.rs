//! The OTLP/HTTP endpoint the functions export to when the view collects their traces: `POST /v1/traces` with an
//! `ExportTraceServiceRequest` in protobuf, decoded and handed to the view; `POST /v1/metrics` (and `/v1/logs`)
//! answered with success and discarded, so that the function's metric exports succeed too (the view shows traces).
//!
//! Served with the HTTP/1.1 of the Runtime API host ([`crate::http1`]), on the view's own thread.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::net::{TcpListener, TcpStream};

use super::Inbox;
use super::model;
use crate::http1::{Connection, Limits, Request, Response};

/// An export is a batch of spans, at most the function's span buffer (2,048 spans) after an outage: a few MB.
/// Exporters keep connections open between exports, so idle time is not a reason to hang up (hanging up on a pooled
/// connection can fail the export that picks it up as it closes).
const LIMITS: Limits = Limits {
    max_head: 64 * 1024,
    max_body: 32 * 1024 * 1024,
    head_timeout: Duration::from_secs(30),
    body_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(24 * 60 * 60),
};

const PROTOBUF: &str = "application/x-protobuf";

/// Serves the endpoint on `listener` for as long as it is polled.
pub(super) async fn serve(listener: TcpListener, inbox: Inbox) {
    loop {
        let (stream, _) = crate::server::accept(&listener, "trace collection").await;
        // Exporters wait for each answer: Nagle's delay would add to the function's billed time after each response.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, inbox.clone()));
    }
}

async fn serve_connection(stream: TcpStream, inbox: Inbox) {
    let mut connection = Connection::new(stream);
    while let Ok(request) = connection.read_request(&LIMITS).await {
        let keep_alive = request.keep_alive();
        let response = answer(&request, &inbox);
        if connection.write_response(&response, false, keep_alive).await.is_err() || !keep_alive {
            return;
        }
    }
}

/// The answer to one request; the spans of a trace export go to `inbox`.
pub(super) fn answer(request: &Request, inbox: &Inbox) -> Response {
    let signal = match request.path() {
        "/v1/traces" => Signal::Traces,
        "/v1/metrics" | "/v1/logs" => Signal::Other,
        _ => return Response::new(404),
    };
    if request.method != "POST" {
        return Response::new(405).header("Allow", "POST");
    }
    let content_type = request.header("Content-Type").unwrap_or_default();
    let protobuf = content_type.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case(PROTOBUF));
    // OTLP/JSON and compressed bodies are not what otlp-setup's exporters send: refused rather than misread.
    if !protobuf || request.header("Content-Encoding").is_some_and(|coding| !coding.eq_ignore_ascii_case("identity")) {
        return Response::new(415);
    }
    if signal == Signal::Traces {
        match ExportTraceServiceRequest::decode(request.body.as_slice()) {
            Ok(export) => inbox.spans(model::spans_of_export(export)),
            Err(_) => return Response::new(400),
        }
    }
    // An empty Export*ServiceResponse: everything accepted.
    Response::new(200).header("Content-Type", PROTOBUF)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Other,
}
