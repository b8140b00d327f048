//! Property of the `handler_event` fuzz target: any API Gateway REST (v1) proxy event that `lambda_http` accepts gets
//! a well-formed answer from the handler, never a panic or a 5xx.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hello_lambda_otel::handler::handle;
use lambda_http::Body;
use lambda_http::http::header::CONTENT_TYPE;
use serde_json::Value;
use tokio::runtime::Runtime;

/// One runtime for every input: building one per input would dominate the cost of an execution.
static RUNTIME: LazyLock<Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime builds"));

/// Parses `data` as the function's event and checks the handler's answer: `200` with `{"greeting": …}` or `400` with
/// `{"message": …}`, as `application/json`.
pub(crate) fn check(data: &[u8]) {
    // The event is JSON text: `lambda_http` takes a `&str`.
    let Ok(text) = std::str::from_utf8(data) else { return };
    if serde_json::from_str(text).is_ok_and(|event| lambda_http_panics_on(&event)) {
        return;
    }
    let Ok(request) = lambda_http::request::from_str(text) else { return };
    let Ok(response) = RUNTIME.block_on(handle(request));

    let status = response.status().as_u16();
    assert!(status == 200 || status == 400, "status {status}");
    assert_eq!(
        response.headers().get_all(CONTENT_TYPE).iter().map(|value| value.as_bytes()).collect::<Vec<_>>(),
        [b"application/json"],
        "Content-Type"
    );
    let Body::Text(body) = response.body() else { panic!("body is not text: {:?}", response.body()) };
    let body: serde_json::Map<String, Value> = serde_json::from_str(body).expect("body is a JSON object");
    let expected_key = if status == 200 { "greeting" } else { "message" };
    assert!(
        body.len() == 1 && body.get(expected_key).is_some_and(Value::is_string),
        "status {status} with body {body:?}"
    );
}

/// Whether `lambda_http::request::from_str` (1.3.2) panics on the event before the handler runs: it unwraps or
/// expects where API Gateway always puts well-formed values. Not our code, and not an event API Gateway sends, so such
/// inputs are skipped; each case is named here, so that any other panic still fails the property.
fn lambda_http_panics_on(event: &Value) -> bool {
    // `isBase64Encoded: true` with a body that is not base64: aws_lambda_events' `Body::from_maybe_encoded` expects
    // the decoding to succeed. API Gateway sets the flag only on bodies it encoded itself.
    let undecodable_body =
        event["isBase64Encoded"] == true && event["body"].as_str().is_some_and(|body| BASE64.decode(body).is_err());
    // A parameter with no values (`"name": []`): query_map 0.7 indexes its first value when lambda_http writes the
    // query string into the URI. API Gateway lists only parameters that were sent.
    let parameter_without_values = event["multiValueQueryStringParameters"]
        .as_object()
        .is_some_and(|parameters| parameters.values().any(|values| values.as_array().is_some_and(Vec::is_empty)));
    undecodable_body || parameter_without_values || !has_api_gateway_uri_parts(event)
}

/// `lambda_http` builds the request's URI from `X-Forwarded-Proto`, `Host` (or `requestContext.domainName`),
/// `requestContext.stage` and `path`, unwrapping `Url::parse` and expecting `http` to accept the result. API Gateway
/// fills them with `https`, its own domain name, the stage and the request's path. The handler reads none of them, so
/// keeping only events whose parts look like that (a subset of what the parsers accept) costs the fuzzing nothing.
fn has_api_gateway_uri_parts(event: &Value) -> bool {
    let context = &event["requestContext"];
    let hosts = header_values(event, "Host").chain([&context["domainName"]]);
    let plain_path = |path: &str| path.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte));
    hosts.filter(|host| !host.is_null()).all(|host| host.as_str().is_some_and(is_dns_name_and_port))
        && header_values(event, "X-Forwarded-Proto").all(|proto| *proto == "https" || *proto == "http")
        && context["stage"].as_str().is_none_or(plain_path)
        && event["path"].as_str().is_none_or(|path| path.is_empty() || path.starts_with('/') && plain_path(path))
}

/// Every value of a header, whatever its casing, in `headers` and `multiValueHeaders`.
fn header_values<'a>(event: &'a Value, name: &'a str) -> impl Iterator<Item = &'a Value> {
    let single = event["headers"].as_object().into_iter().flatten();
    let multi = event["multiValueHeaders"].as_object().into_iter().flatten();
    let values = multi.flat_map(|(key, values)| values.as_array().into_iter().flatten().map(move |value| (key, value)));
    single.chain(values).filter(move |(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
}

/// A DNS name (letters, digits and hyphens; the last label starting with a letter, so that URL parsers do not read
/// it as an IPv4 address; no punycode, which they validate) and an optional port.
fn is_dns_name_and_port(host: &str) -> bool {
    let (name, port) = host.split_once(':').unwrap_or((host, "443"));
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
            && !label.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"))
    };
    name.split('.').all(valid_label)
        && name.rsplit('.').next().is_some_and(|last| last.starts_with(|c: char| c.is_ascii_alphabetic()))
        && port.bytes().all(|byte| byte.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}
