//! One request through the stage: route, event, back end, response, access log, and the request's spans.
//!
//! Trace headers: API Gateway passes the client's `X-Amzn-Trace-Id` on (or a new Root) in the event, as
//! `Lambda-Runtime-Trace-Id`, and back to the client. With tracing on, this gateway's spans join the trace: the
//! header's `Parent` becomes its `Lambda.Invoke` span, and a W3C `traceparent` naming the same span is added to the
//! event, which real API Gateway does not do (see [`crate::telemetry`]).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::backend::{Backend, Invocation, InvokeError};
use crate::event::{self, Api, RequestMeta};
use crate::gateway_response::GatewayResponse;
use crate::http1::{Request, Response};
use crate::output::Stream;
use crate::response;
use crate::routes::{RouteMatch, RouteTable};
use crate::telemetry::{InvokeSpan, Telemetry, TraceHeaders};

/// Lambda refuses a synchronous event over 6 MB, and API Gateway then answers 500.
const MAX_EVENT_BYTES: usize = 6_291_456;

/// One stage of the API: what a request is matched against, the event it becomes, and where it goes.
pub struct Gateway<B> {
    /// The stage's resources and methods.
    pub routes: RouteTable,
    /// The API and stage, as the event's `requestContext` names them.
    pub api: Api,
    /// Where the events go: the Runtime API host or an Invoke endpoint.
    pub backend: B,
    /// The integration timeout.
    pub timeout: Duration,
    /// The request's spans, or none.
    pub telemetry: Telemetry,
}

/// Where the connection came from and arrived at.
#[derive(Debug, Clone, Copy)]
pub struct Peers {
    /// The client's end of the connection.
    pub client: SocketAddr,
    /// The gateway's end: the address and port the client reached.
    pub local: SocketAddr,
}

impl<B: Backend> Gateway<B> {
    /// Answers one request. Every answer, errors included, carries API Gateway's request id and trace headers.
    pub async fn handle(&self, request: &Request, peers: Peers) -> Response {
        let started = Instant::now();
        let route = self.routes.find(&request.method, request.path());
        let resource = route.as_ref().map(|route| route.route.resource());
        let mut meta = request_meta(peers);
        let span = self.telemetry.request_span(request, resource, peers, &self.api, &meta.request_id);
        meta.trace = span.trace_headers();
        let (mut response, integration_error) = match route {
            None => (GatewayResponse::MissingAuthenticationToken.to_response(), None),
            Some(route) => {
                let invoke = span.invoke_span();
                meta.trace = invoke.trace_headers();
                self.integrate(request, &route, &meta, invoke, started).await
            }
        };
        span.end(response.status, integration_error.as_deref());
        let trace_id = meta.trace.trace_id();
        log_access(&meta, Some(request), response.status, response.body.len(), started, integration_error, trace_id);
        response.headers.push(("x-amzn-RequestId".into(), meta.request_id));
        response.headers.push(("x-amz-apigw-id".into(), meta.extended_request_id));
        response.headers.push(("X-Amzn-Trace-Id".into(), meta.trace.xray));
        response
    }

    /// Answers a request that could not be read (too large, malformed, stalled). It is not traced: without a request
    /// there is neither a method to name a span by nor a client trace header to continue.
    pub fn refuse(&self, refusal: GatewayResponse, peers: Peers) -> Response {
        let meta = request_meta(peers);
        let response = refusal.to_response();
        log_access(&meta, None, response.status, response.body.len(), Instant::now(), None, None);
        response.header("x-amzn-RequestId", &meta.request_id).header("x-amz-apigw-id", &meta.extended_request_id)
    }

    /// Invokes the function with the request's event, within the `invoke` span, which the event names as its caller.
    async fn integrate(
        &self,
        request: &Request,
        route: &RouteMatch<'_>,
        meta: &RequestMeta,
        invoke: InvokeSpan,
        started: Instant,
    ) -> (Response, Option<String>) {
        // Straight into bytes: `Value`'s `Display` (`to_string`) writes the same JSON through `core::fmt`, which
        // callgrind showed at a quarter of the gateway's user-space instructions per request.
        let event = event::build(request, route, &self.api, meta);
        let payload = serde_json::to_vec(&event).expect("a serde_json::Value serializes");
        let outcome = if payload.len() > MAX_EVENT_BYTES {
            let reason = format!("event of {} bytes is over Lambda's 6 MB invoke limit", payload.len());
            Err(InvokeError::Service(reason))
        } else {
            let invocation = Invocation {
                request_id: meta.request_id.clone(),
                trace_header: meta.trace.xray.clone(),
                payload,
                deadline: started + self.timeout,
                deadline_wall: meta.received_at + self.timeout,
            };
            tokio::time::timeout_at(started + self.timeout, self.backend.invoke(invocation))
                .await
                .unwrap_or(Err(InvokeError::Timeout))
        };
        invoke.end(outcome.as_ref().map(|_| ()));
        let refusal = match outcome {
            Ok(output) => match response::map_output(&output, request.header("Accept"), &self.api) {
                Ok(response) => return (response, None),
                Err(refusal) => return (refusal.to_response(), Some("malformed Lambda proxy response".into())),
            },
            Err(InvokeError::Timeout) => GatewayResponse::IntegrationTimeout,
            Err(InvokeError::Function(_)) => GatewayResponse::IntegrationFailure,
            Err(InvokeError::Service(_)) => GatewayResponse::ServiceFailure,
        };
        let reason = outcome.err().map(|error| error.to_string());
        (refusal.to_response(), reason)
    }
}

/// Fresh ids and the arrival time of one request; the trace headers are the request's span's, set once it starts.
fn request_meta(peers: Peers) -> RequestMeta {
    RequestMeta {
        request_id: crate::random::uuid_v4().to_string(),
        extended_request_id: extended_request_id(),
        received_at: SystemTime::now(),
        source_ip: peers.client.ip(),
        local_port: peers.local.port(),
        // A placeholder (not `TraceHeaders::untraced`, which would draw a random root for nothing): `handle` sets the
        // span's headers before anything reads them, and `refuse` never reads them.
        trace: TraceHeaders { xray: String::new(), traceparent: None },
    }
}

/// API Gateway's extended request ids look like `Bc3XdFJ9IAMFtVw=`: 11 random bytes in base64.
fn extended_request_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crate::random::bytes::<11>())
}

/// One JSON line per request, with the field names of API Gateway's access log variables, so local and deployed
/// logs read the same.
fn log_access(
    meta: &RequestMeta,
    request: Option<&Request>,
    status: u16,
    response_length: usize,
    started: Instant,
    integration_error: Option<String>,
    trace_id: Option<String>,
) {
    let line = AccessLogLine {
        http_method: request.map_or("-", |request| request.method.as_str()),
        integration_error_message: integration_error.as_deref(),
        ip: meta.source_ip,
        path: request.map_or("-", |request| request.path()),
        request_id: &meta.request_id,
        request_time_epoch: meta.received_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis()
            as u64,
        response_latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        response_length,
        status,
        trace_id: trace_id.as_deref(),
    };
    let mut bytes = serde_json::to_vec(&line).expect("an access log line serializes");
    bytes.push(b'\n');
    // Queued, not written: a reader that stopped reading stdout must not stop the requests (see `output`).
    Stream::Stdout.write_line(&bytes);
}

/// The access log line. Serialized straight from borrowed fields instead of through a `serde_json::Value` (callgrind:
/// about 23,000 instructions per request); the fields are in the order a `Value` map wrote them, sorted by name, so
/// the line is byte for byte what it was.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessLogLine<'a> {
    http_method: &'a str,
    integration_error_message: Option<&'a str>,
    ip: IpAddr,
    path: &'a str,
    request_id: &'a str,
    request_time_epoch: u64,
    response_latency_ms: f64,
    response_length: usize,
    status: u16,
    trace_id: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_request_ids_look_like_api_gateways() {
        let id = extended_request_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
        assert_ne!(id, extended_request_id());
    }

    #[test]
    fn access_log_lines_keep_the_key_order_of_a_json_map() {
        let line = AccessLogLine {
            http_method: "POST",
            integration_error_message: Some("timed out"),
            ip: IpAddr::from([127, 0, 0, 1]),
            path: "/test/helloworld",
            request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            request_time_epoch: 1_764_000_000_000,
            response_latency_ms: 0.41,
            response_length: 62,
            status: 504,
            trace_id: None,
        };
        let direct = serde_json::to_string(&line).unwrap();
        // A `Value` map sorts its keys: the order the line had when it was built as one.
        assert_eq!(direct, serde_json::to_value(&line).unwrap().to_string());
        assert!(direct.starts_with(r#"{"httpMethod":"POST","integrationErrorMessage":"timed out","ip":"127.0.0.1","#));
    }
}
