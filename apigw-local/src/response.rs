//! The function's proxy output mapped back to HTTP, with API Gateway's rules for what is malformed.

use crate::event::Api;
use crate::gateway_response::GatewayResponse;
use crate::http1::Response;

/// Maps a proxy integration output (`statusCode`, `headers`, `multiValueHeaders`, `body`, `isBase64Encoded`) to the
/// response the client gets. Anything API Gateway would reject is [`GatewayResponse::IntegrationFailure`].
/// `accept` is the client's `Accept` header, which decides whether a base64 body is decoded.
pub fn map_output(output: &[u8], accept: Option<&str>, api: &Api) -> Result<Response, GatewayResponse> {
    todo!()
}
