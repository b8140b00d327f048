//! One request through the stage: route, event, back end, response, access log.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::backend::{Backend, Invocation, InvokeError};
use crate::event::{self, Api, RequestMeta};
use crate::gateway_response::GatewayResponse;
use crate::http1::{Request, Response};
use crate::response;
use crate::routes::{RouteMatch, RouteTable};

/// Lambda refuses a synchronous event over 6 MB, and API Gateway then answers 500.
const MAX_EVENT_BYTES: usize = 6_291_456;

pub struct Gateway<B> {
    pub routes: RouteTable,
    pub api: Api,
    pub backend: B,
    /// The integration timeout.
    pub timeout: Duration,
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
        let meta = request_meta(peers, request.header("X-Amzn-Trace-Id"));
        let (mut response, integration_error) = match self.routes.find(&request.method, request.path()) {
            None => (GatewayResponse::MissingAuthenticationToken.to_response(), None),
            Some(route) => self.integrate(request, &route, &meta, started).await,
        };
        log_access(&meta, Some(request), response.status, response.body.len(), started, integration_error);
        response.headers.push(("x-amzn-RequestId".into(), meta.request_id));
        response.headers.push(("x-amz-apigw-id".into(), meta.extended_request_id));
        response.headers.push(("X-Amzn-Trace-Id".into(), meta.trace_header));
        response
    }

    /// Answers a request that could not be read (too large, malformed, stalled).
    pub fn refuse(&self, refusal: GatewayResponse, peers: Peers) -> Response {
        let meta = request_meta(peers, None);
        let response = refusal.to_response();
        log_access(&meta, None, response.status, response.body.len(), Instant::now(), None);
        response.header("x-amzn-RequestId", &meta.request_id).header("x-amz-apigw-id", &meta.extended_request_id)
    }

    async fn integrate(
        &self,
        request: &Request,
        route: &RouteMatch<'_>,
        meta: &RequestMeta,
        started: Instant,
    ) -> (Response, Option<String>) {
        let payload = event::build(request, route, &self.api, meta).to_string().into_bytes();
        if payload.len() > MAX_EVENT_BYTES {
            let reason = format!("event of {} bytes is over Lambda's 6 MB invoke limit", payload.len());
            return (GatewayResponse::ServiceFailure.to_response(), Some(reason));
        }
        let invocation = Invocation {
            request_id: meta.request_id.clone(),
            trace_header: meta.trace_header.clone(),
            payload,
            deadline: started + self.timeout,
            deadline_wall: meta.received_at + self.timeout,
        };
        let outcome = tokio::time::timeout_at(started + self.timeout, self.backend.invoke(invocation))
            .await
            .unwrap_or(Err(InvokeError::Timeout));
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

/// Fresh ids and the arrival time of one request.
fn request_meta(peers: Peers, incoming_trace: Option<&str>) -> RequestMeta {
    RequestMeta {
        request_id: uuid::Uuid::new_v4().to_string(),
        extended_request_id: extended_request_id(),
        received_at: SystemTime::now(),
        source_ip: peers.client.ip(),
        local_port: peers.local.port(),
        trace_header: trace_header(incoming_trace),
    }
}

/// The X-Ray trace header API Gateway passes on: the client's, when it names a trace, else a new root.
fn trace_header(incoming: Option<&str>) -> String {
    if let Some(incoming) = incoming
        && incoming.split(';').any(|part| part.trim().starts_with("Root=1-"))
    {
        return incoming.to_string();
    }
    let seconds = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{seconds:08x}-{}", &random[..24])
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
    });
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_trace_is_kept_and_a_new_one_is_well_formed() {
        let incoming = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(trace_header(Some(incoming)), incoming);
        for missing in [None, Some(""), Some("garbage"), Some("Root=2-x")] {
            let fresh = trace_header(missing);
            let root = fresh.strip_prefix("Root=1-").unwrap();
            let (time, id) = root.split_once('-').unwrap();
            assert_eq!((time.len(), id.len()), (8, 24), "{fresh}");
            assert!(root.replace('-', "").bytes().all(|b| b.is_ascii_hexdigit()), "{fresh}");
        }
    }

    #[test]
    fn extended_request_ids_look_like_api_gateways() {
        let id = extended_request_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
        assert_ne!(id, extended_request_id());
    }
}
