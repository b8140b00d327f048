//! The HTTP adapter: an API Gateway request in, the greeting (or what was wrong with the request) out as JSON.

use std::convert::Infallible;
use std::fmt;

use lambda_http::http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use lambda_http::http::{Response, StatusCode};
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value, json};

use crate::greeting::Greeting;

/// The longest value, in Unicode scalar values, accepted for `name`, `city`, `day` or `time`. A greeting is a sentence
/// for a person to read; anything longer is a mistake or an attempt to make the function echo a large payload.
pub const MAX_VALUE_CHARS: usize = 256;

/// Answers one request of the tutorial's `ANY /helloworld` resource (a Lambda proxy integration).
///
/// Contract:
/// - `name` and `city` come from the query string, `day` from the header `day`, `time` from the field `time` of a
///   JSON object body. Each may be absent; the defaults (`you`, `World`, `day`, no wish) are the
///   [`greeting`](crate::greeting) module's. An empty value counts as absent.
/// - A repeated query parameter or `day` header: the last value wins, as in API Gateway's single-value maps.
/// - The body may be absent or empty (no `time`), text, or base64 (`isBase64Encoded`, decoded by `lambda_http`).
///   `"time": null` counts as absent: `null` is how JSON serializers write an unset optional field, and the tutorial's
///   `if (body.time)` skipped it too. Any other field is ignored.
/// - Any method: API Gateway's `ANY` sends them all here alike.
/// - Success: `200`, `Content-Type: application/json`, `{"greeting":"Good {time}, {name} of {city}.[ Happy {day}!]"}`.
/// - A client mistake: `400`, `Content-Type: application/json`, `{"message":"…"}` naming the input and the problem:
///   a body that is not UTF-8, not JSON, or not a JSON object; a `time` that is not a string; a `day` header that is not
///   UTF-8; any value longer than [`MAX_VALUE_CHARS`]. Inputs are checked in the order query, header, body; the first
///   problem is reported.
///
/// Deliberate differences from the tutorial's Node.js function:
/// - The `day` header is found whatever its casing (`Day`, `DAY`): header names are case-insensitive in HTTP, while
///   Node's `event.headers['day']` matched only what the client happened to send in lower case.
/// - A body that is not JSON is a `400` saying so; Node's `JSON.parse` threw and API Gateway answered `502`.
///
/// Never fails and never panics: every request gets an HTTP answer, so the Lambda never reports a function error.
pub async fn handle(request: Request) -> Result<Response<Body>, Infallible> {
    Ok(match greeting(&request) {
        Ok(greeting) => json_response(StatusCode::OK, &json!({ "greeting": greeting })),
        Err(problem) => json_response(StatusCode::BAD_REQUEST, &json!({ "message": problem.to_string() })),
    })
}

fn greeting(request: &Request) -> Result<String, BadRequest> {
    let name = query_parameter(request, Input::Name)?;
    let city = query_parameter(request, Input::City)?;
    let day = day_header(request.headers())?;
    // The two steps whose cost depends on the caller's input, as child spans of the invocation's: parsing the body
    // (up to API Gateway's 10 MB) and writing the sentence.
    let body = tracing::info_span!("decode body").in_scope(|| json_body(request.body()))?;
    let time = time_field(body.as_ref())?;
    Ok(tracing::info_span!("greeting").in_scope(|| Greeting { name, city, time, day }.to_string()))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    // Built field by field rather than with `Response::builder()`, whose `Result` could only be unwrapped.
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A value the caller can send, named as the caller sees it.
#[derive(Debug, Clone, Copy)]
enum Input {
    Name,
    City,
    Day,
    Time,
}

impl Input {
    fn key(self) -> &'static str {
        match self {
            Input::Name => "name",
            Input::City => "city",
            Input::Day => "day",
            Input::Time => "time",
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match self {
            Input::Name | Input::City => "query parameter",
            Input::Day => "header",
            Input::Time => "body field",
        };
        write!(f, "{place} `{}`", self.key())
    }
}

/// Why a request cannot be greeted; its `Display` is the `message` the caller reads.
#[derive(Debug)]
enum BadRequest {
    TooLong(Input),
    HeaderNotUtf8(Input),
    BodyNotUtf8,
    BodyNotJson(serde_json::Error),
    BodyNotObject(&'static str),
    TimeNotString(&'static str),
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRequest::TooLong(input) => write!(f, "{input} is longer than {MAX_VALUE_CHARS} characters"),
            BadRequest::HeaderNotUtf8(input) => write!(f, "{input} is not valid UTF-8"),
            BadRequest::BodyNotUtf8 => f.write_str("request body is not valid UTF-8"),
            BadRequest::BodyNotJson(error) => write!(f, "request body is not valid JSON: {error}"),
            BadRequest::BodyNotObject(found) => write!(f, "request body must be a JSON object, not {found}"),
            BadRequest::TimeNotString(found) => write!(f, "{} must be a string, not {found}", Input::Time),
        }
    }
}

fn query_parameter(request: &Request, input: Input) -> Result<Option<&str>, BadRequest> {
    let last = request.query_string_parameters_ref().and_then(|query| query.all(input.key())?.pop());
    last.map(|value| within_limit(input, value)).transpose()
}

fn day_header(headers: &HeaderMap) -> Result<Option<&str>, BadRequest> {
    let input = Input::Day;
    let Some(value) = headers.get_all(input.key()).iter().next_back() else {
        return Ok(None);
    };
    // `HeaderValue::to_str` accepts visible ASCII only; UTF-8 is what API Gateway's JSON event can carry, so accept it.
    let value = std::str::from_utf8(value.as_bytes()).map_err(|_| BadRequest::HeaderNotUtf8(input))?;
    within_limit(input, value).map(Some)
}

fn json_body(body: &Body) -> Result<Option<Map<String, Value>>, BadRequest> {
    // Bytes whatever the variant: `Binary` is also what a base64 text body decodes to.
    let bytes: &[u8] = body.as_ref();
    if bytes.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| BadRequest::BodyNotUtf8)?;
    match serde_json::from_str(text).map_err(BadRequest::BodyNotJson)? {
        Value::Object(object) => Ok(Some(object)),
        other => Err(BadRequest::BodyNotObject(json_type(&other))),
    }
}

fn time_field(body: Option<&Map<String, Value>>) -> Result<Option<&str>, BadRequest> {
    let input = Input::Time;
    match body.and_then(|body| body.get(input.key())) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(time)) => within_limit(input, time).map(Some),
        Some(other) => Err(BadRequest::TimeNotString(json_type(other))),
    }
}

fn within_limit(input: Input, value: &str) -> Result<&str, BadRequest> {
    // `nth` stops after the limit, so a megabyte value costs no more to reject than a 257-character one.
    match value.chars().nth(MAX_VALUE_CHARS) {
        Some(_) => Err(BadRequest::TooLong(input)),
        None => Ok(value),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
