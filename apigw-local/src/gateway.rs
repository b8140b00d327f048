//! One request through the stage: route, event, back end, response, access log, and the request's spans.
//!
//! Trace headers: API Gateway passes the client's `X-Amzn-Trace-Id` on (or a new Root) in the event, as
//! `Lambda-Runtime-Trace-Id`, and back to the client. With tracing on, this gateway's spans join the trace: the
//! header's `Parent` becomes its `Lambda.Invoke` span, and a W3C `traceparent` naming the same span is added to the
//! event, which real API Gateway does not do (see [`crate::telemetry`]).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::backend::{Backend, Invocation, InvokeError};
use crate::event::{self, Api, RequestMeta};
use crate::gateway_response::GatewayResponse;
use crate::http1::{Request, Response};
use crate::response;
use crate::routes::{RouteMatch, RouteTable};
use crate::telemetry::{InvokeSpan, Telemetry, TraceHeaders};

/// Lambda refuses a synchronous event over 6 MB, and API Gateway then answers 500.
const MAX_EVENT_BYTES: usize = 6_291_456;

pub struct Gateway<B> {
    pub routes: RouteTable,
    pub api: Api,
    pub backend: B,
    /// The integration timeout.
    pub timeout: Duration,
    pub telemetry: Telemetry,
}

/// Where the connection came from and arrived at.
#[derive(Debug, Clone, Copy)]
pub struct Peers {
    pub client: SocketAddr,
    pub local: SocketAddr,
}

impl<B: Backend> Gateway<B> {
    /// Answers one request. Every answer, errors included, carries API Gateway's request id and trace headers.
    pub async fn handle(&self, request: &Request, peers: Peers) -> Response {
        let started = Instant::now();
        let route = self.routes.find(&request.method, request.path());
        let resource = route.as_ref().map(|route| route.route.resource.as_str());
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
        let payload = event::build(request, route, &self.api, meta).to_string().into_bytes();
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
        request_id: uuid::Uuid::new_v4().to_string(),
        extended_request_id: extended_request_id(),
        received_at: SystemTime::now(),
        source_ip: peers.client.ip(),
        local_port: peers.local.port(),
        trace: TraceHeaders::untraced(None),
    }
}

/// API Gateway's extended request ids look like `Bc3XdFJ9IAMFtVw=`: 11 random bytes in base64.
fn extended_request_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(&uuid::Uuid::new_v4().as_bytes()[..11])
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
    let line = serde_json::json!({
        "requestId": meta.request_id,
        "ip": meta.source_ip.to_string(),
        "requestTimeEpoch": meta.received_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis() as u64,
        "httpMethod": request.map_or("-", |request| request.method.as_str()),
        "path": request.map_or("-", |request| request.path()),
        "status": status,
        "responseLength": response_length,
        "responseLatencyMs": started.elapsed().as_secs_f64() * 1000.0,
        "integrationErrorMessage": integration_error,
        "traceId": trace_id,
    });
    println!("{line}");
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
}
