//! Property of the `proxy_response` fuzz target: whatever the function answers, the gateway either writes a response it
//! can frame safely or answers `502` (integration failure), and never panics.

use apigw_local::event::Api;
use apigw_local::gateway_response::GatewayResponse;
use apigw_local::http1::Response;
use apigw_local::response::map_output;

/// Written by the gateway itself: a function's header by one of these names must have been renamed.
const FRAMING_HEADERS: [&str; 3] = ["Connection", "Content-Length", "Transfer-Encoding"];

/// Maps `data` as a proxy output twice, as text (no binary media types) and with a binary `Accept` that makes a
/// base64 body be decoded, and checks both results.
pub(crate) fn check(data: &[u8]) {
    let text = map_output(data, None, &api(&[]));
    let binary = map_output(data, Some("application/octet-stream"), &api(&["*/*"]));
    for result in [&text, &binary] {
        match result {
            Ok(response) => check_response(response),
            Err(error) => assert_eq!(*error, GatewayResponse::IntegrationFailure),
        }
    }
    // Decoding base64 is the only difference between the two: it can only add a failure, and never changes the head.
    match (&text, &binary) {
        (Ok(text), Ok(binary)) => assert_eq!((text.status, &text.headers), (binary.status, &binary.headers)),
        (Ok(_), Err(_)) | (Err(_), Err(_)) => {}
        (Err(_), Ok(_)) => panic!("accepted only when the body is decoded as base64"),
    }
}

fn check_response(response: &Response) {
    assert!((100..=599).contains(&response.status), "status {}", response.status);
    for (name, value) in &response.headers {
        assert!(is_token(name), "header name {name:?}");
        assert!(!value.contains(['\r', '\n', '\0']), "header {name}: {value:?}");
        assert!(!FRAMING_HEADERS.iter().any(|framing| framing.eq_ignore_ascii_case(name)), "header {name} passed on");
    }
    assert!(response.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("Content-Type")), "no Content-Type");
}

/// RFC 9110's `token`: what a header name may be.
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

fn api(binary_media_types: &[&str]) -> Api {
    Api {
        api_id: "abc123defg".into(),
        account_id: "123456789012".into(),
        stage: "test".into(),
        deployment_id: "dep001".into(),
        binary_media_types: binary_media_types.iter().map(ToString::to_string).collect(),
    }
}
