//! API Gateway's own answers (its "gateway responses"): the errors a client sees when the request never reached the
//! function or the function's answer could not be used. Bodies and `x-amzn-ErrorType` values are API Gateway's.

use crate::http1::Response;

/// One of API Gateway's own error answers, as a status paired with its JSON body and error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayResponse {
    /// No resource or method matches (API Gateway says this rather than 404 so as not to reveal which paths exist).
    MissingAuthenticationToken,
    /// The request was not HTTP that API Gateway would accept.
    BadRequest,
    /// The body is over 10 MB.
    RequestTooLarge,
    /// The request line and headers are over 10,240 bytes.
    RequestHeaderFieldsTooLarge,
    /// The client started a request and stalled before finishing it.
    RequestTimeout,
    /// The function failed, crashed, or answered with output that is not a valid proxy response.
    IntegrationFailure,
    /// The function did not answer within the integration timeout.
    IntegrationTimeout,
    /// The Lambda service itself refused the invoke (unreachable, throttled).
    ServiceFailure,
}

impl GatewayResponse {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::MissingAuthenticationToken => 403,
            Self::BadRequest => 400,
            Self::RequestTooLarge => 413,
            Self::RequestHeaderFieldsTooLarge => 431,
            Self::RequestTimeout => 408,
            Self::IntegrationFailure => 502,
            Self::IntegrationTimeout => 504,
            Self::ServiceFailure => 500,
        }
    }

    /// The body's `message`.
    pub fn message(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "Missing Authentication Token",
            Self::BadRequest => "Bad Request",
            Self::RequestTooLarge => "Request Too Long",
            Self::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Self::RequestTimeout => "Request Timeout",
            Self::IntegrationFailure | Self::ServiceFailure => "Internal server error",
            Self::IntegrationTimeout => "Endpoint request timed out",
        }
    }

    /// The `x-amzn-ErrorType` header value.
    pub fn error_type(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::BadRequest => "BadRequestException",
            Self::RequestTooLarge => "RequestTooLargeException",
            Self::RequestHeaderFieldsTooLarge => "RequestHeaderFieldsTooLargeException",
            Self::RequestTimeout => "RequestTimeoutException",
            Self::IntegrationFailure | Self::ServiceFailure | Self::IntegrationTimeout => {
                "InternalServerErrorException"
            }
        }
    }

    /// The whole answer: status, `{"message": …}` and `x-amzn-ErrorType`.
    pub fn to_response(self) -> Response {
        Response::json(self.status(), &serde_json::json!({ "message": self.message() }))
            .header("x-amzn-ErrorType", self.error_type())
    }
}
