//! The access log's `traceId` is the trace the client is told about in `X-Amzn-Trace-Id`, and with tracing on the
//! trace of the gateway's spans: a log line leads to the trace and back.

mod common;

use common::{Gateway, client, json, scripted_function, send};
use serde_json::Value;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Sends one request with `traceparent` and returns the response's `X-Amzn-Trace-Id` and the access log line.
async fn one_request(env: &[(&str, &str)]) -> (String, Value) {
    let gateway = Gateway::start_with_env(&["--function", scripted_function().to_str().unwrap()], env);
    let request = client()
        .get(gateway.url("/test/helloworld"))
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"));
    let (status, headers, body) = send(request).await;
    assert_eq!(status, 200, "{body}");
    let request_id = headers["x-amzn-requestid"].to_str().unwrap().to_string();
    let xray = headers["x-amzn-trace-id"].to_str().unwrap().to_string();
    let is_the_line = |line: &str| line.starts_with('{') && json(line)["requestId"] == request_id.as_str();
    let lines = gateway.stdout_until(is_the_line);
    let line = lines.iter().find(|line| is_the_line(line)).unwrap_or_else(|| panic!("no access log line: {lines:?}"));
    (xray, json(line))
}

/// `Root=1-{8}-{24};…` as 32 hex digits.
fn root(xray: &str) -> String {
    xray.split(';').next().unwrap().trim_start_matches("Root=1-").replace('-', "")
}

#[tokio::test]
async fn with_tracing_on_the_log_names_the_clients_trace() {
    // A port where nothing listens: the spans go nowhere, quickly.
    let (xray, line) =
        one_request(&[("OTEL_SDK_DISABLED", "false"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")]).await;
    assert_eq!(line["traceId"], TRACE_ID, "{line}");
    assert_eq!(root(&xray), TRACE_ID, "{xray}");
}

#[tokio::test]
async fn with_tracing_off_the_log_names_the_trace_of_the_x_ray_header() {
    let (xray, line) = one_request(&[("OTEL_SDK_DISABLED", "true")]).await;
    assert_eq!(line["traceId"].as_str(), Some(root(&xray).as_str()), "{line}");
    assert_ne!(line["traceId"], TRACE_ID, "API Gateway does not read traceparent");
}
