//! What the client sees when the function misbehaves: API Gateway's 502 and 504, and the environment replaced.

mod common;

use std::time::{Duration, Instant};

use common::{Gateway, client, json, scripted_function, send};

const INTERNAL_SERVER_ERROR: &str = r#"{"message":"Internal server error"}"#;

fn scripted(extra: &[&str]) -> Gateway {
    let function = scripted_function();
    let mut args = vec!["--function", function.to_str().unwrap()];
    args.extend_from_slice(extra);
    Gateway::start(&args)
}

async fn pid(gateway: &Gateway) -> u64 {
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld"))).await;
    assert_eq!(status, 200, "{body}");
    json(&body)["pid"].as_u64().unwrap()
}

#[tokio::test]
async fn a_crash_mid_invocation_is_a_502_and_the_process_is_replaced() {
    let gateway = scripted(&[]);
    let before = pid(&gateway).await;
    let (status, headers, body) = send(client().get(gateway.url("/test/helloworld?act=crash"))).await;
    assert_eq!((status, body.as_str()), (502, INTERNAL_SERVER_ERROR));
    assert_eq!(headers["x-amzn-errortype"], "InternalServerErrorException");
    let after = pid(&gateway).await;
    assert_ne!(before, after, "a new process serves after the crash");
}

#[tokio::test]
async fn a_function_past_the_integration_timeout_is_a_504_and_is_replaced() {
    // Long enough for a Python cold start on a loaded machine, far shorter than the function sleeps.
    let gateway = scripted(&["--timeout", "2s"]);
    let before = pid(&gateway).await;
    let started = Instant::now();
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld?act=sleep&seconds=30"))).await;
    assert_eq!((status, body.as_str()), (504, r#"{"message":"Endpoint request timed out"}"#));
    assert!(started.elapsed() < Duration::from_secs(10), "answered at the timeout, not when the function finished");
    let after = pid(&gateway).await;
    assert_ne!(before, after, "the overrunning process was stopped and replaced");
}

#[tokio::test]
async fn a_reported_function_error_is_a_502() {
    let gateway = scripted(&[]);
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld?act=error"))).await;
    assert_eq!((status, body.as_str()), (502, INTERNAL_SERVER_ERROR));
    let log = gateway.stdout_until(|line| line.contains("Scripted.Error: scripted failure")).join("\n");
    assert!(log.contains("Scripted.Error: scripted failure"), "access log names the function error: {log}");
    pid(&gateway).await;
}

#[tokio::test]
async fn a_function_that_cannot_start_fails_the_request_at_once() {
    let function = scripted_function();
    let gateway = Gateway::start_with_env(&["--function", function.to_str().unwrap()], &[("SCRIPTED_INIT", "fail")]);
    let started = Instant::now();
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld"))).await;
    assert_eq!((status, body.as_str()), (502, INTERNAL_SERVER_ERROR));
    assert!(started.elapsed() < Duration::from_secs(10), "not left to the 29 s integration timeout");
}

#[tokio::test]
async fn a_missing_executable_fails_requests_instead_of_hanging_them() {
    let gateway = Gateway::start(&["--function", "/nonexistent/bootstrap", "--timeout", "20s"]);
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld"))).await;
    assert_eq!((status, body.as_str()), (502, INTERNAL_SERVER_ERROR));
}

#[tokio::test]
async fn malformed_proxy_output_is_a_502_and_valid_output_is_mapped() {
    let gateway = scripted(&[]);
    let cases = [
        ("not json", 502, INTERNAL_SERVER_ERROR),
        (r#""just a string""#, 502, INTERNAL_SERVER_ERROR),
        (r#"{"statusCode":200,"body":"x","extra":1}"#, 502, INTERNAL_SERVER_ERROR),
        (r#"{"statusCode":"test"}"#, 502, INTERNAL_SERVER_ERROR),
        (r#"{"statusCode":"201","body":"made"}"#, 201, "made"),
        (r#"{"headers":{}}"#, 200, ""),
    ];
    for (output, expected_status, expected_body) in cases {
        let request = client().get(gateway.url("/test/helloworld")).query(&[("act", "raw"), ("output", output)]);
        let (status, headers, body) = send(request).await;
        assert_eq!((status, body.as_str()), (expected_status, expected_body), "{output}");
        if status < 300 {
            assert_eq!(headers["content-type"], "application/json", "default Content-Type for {output}");
        }
    }
}

#[tokio::test]
async fn an_oversized_function_response_is_a_502() {
    let gateway = scripted(&[]);
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld?act=big&bytes=7000000"))).await;
    assert_eq!((status, body.as_str()), (502, INTERNAL_SERVER_ERROR));
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld?act=big&bytes=6000000"))).await;
    assert_eq!((status, body.len()), (200, 6_000_000), "just under Lambda's limit passes");
}
