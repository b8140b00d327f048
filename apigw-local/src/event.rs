//! The API Gateway REST (v1) proxy event for one request, to the conformance checklist in the project's reference.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::http1::Request;
use crate::routes::RouteMatch;

/// The emulated API and stage, as they appear in `requestContext`.
#[derive(Debug, Clone)]
pub struct Api {
    pub api_id: String,
    pub account_id: String,
    pub stage: String,
    pub deployment_id: String,
    /// Content types (`image/png`, `image/*`, `*/*`) whose bodies travel base64-encoded, in both directions.
    pub binary_media_types: Vec<String>,
}

/// What the gateway knows about one request besides its bytes.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// A fresh UUID: `requestContext.requestId`, and `x-amzn-RequestId` on the response.
    pub request_id: String,
    /// `requestContext.extendedRequestId`, and `x-amz-apigw-id` on the response.
    pub extended_request_id: String,
    pub received_at: SystemTime,
    pub source_ip: IpAddr,
    /// The port the client connected to (`X-Forwarded-Port`).
    pub local_port: u16,
    /// The `X-Amzn-Trace-Id` value the event carries (the client's Root kept, else a new one).
    pub trace_header: String,
}

/// Builds the event as API Gateway would send it to the function.
pub fn build(request: &Request, route: &RouteMatch<'_>, api: &Api, meta: &RequestMeta) -> serde_json::Value {
    todo!()
}
