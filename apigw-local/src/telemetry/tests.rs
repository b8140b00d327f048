use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use opentelemetry::Value;
use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::*;
use crate::http1::Header;

/// Keeps what it is given; with the simple processor, a span is here as soon as it ends.
#[derive(Debug, Clone, Default)]
struct Captured(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Captured {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

impl Captured {
    fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap().clone()
    }

    fn named(&self, name: &str) -> SpanData {
        self.spans().into_iter().find(|span| span.name == name).unwrap_or_else(|| panic!("no span {name}"))
    }
}

fn traced() -> (Telemetry, Captured) {
    let captured = Captured::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(captured.clone())
        .with_id_generator(XrayTraceIds::default())
        .build();
    let function = InvokedFunction { name: "GetStartedLambdaProxyIntegration".into(), region: "eu-west-1".into() };
    let propagators = vec![Propagator::TraceContext, Propagator::Baggage, Propagator::XRay];
    (Telemetry::with_provider(provider, function, propagators), captured)
}

fn request(method: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: method.into(),
        target: "/test/helloworld?name=John".into(),
        minor_version: 1,
        headers: headers.iter().map(|(name, value)| Header { name: (*name).into(), value: (*value).into() }).collect(),
        body: Vec::new(),
    }
}

fn peers() -> Peers {
    Peers { client: "192.0.2.7:51234".parse().unwrap(), local: "127.0.0.1:8080".parse().unwrap() }
}

fn api() -> Api {
    Api {
        api_id: "abc123defg".into(),
        account_id: "123456789012".into(),
        stage: "test".into(),
        deployment_id: "dep001".into(),
        binary_media_types: Vec::new(),
    }
}

fn start(telemetry: &Telemetry, request: &Request, resource: Option<&str>) -> RequestSpan {
    telemetry.request_span(request, resource, peers(), &api(), "c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes.iter().find(|attribute| attribute.key.as_str() == key).map(|attribute| attribute.value.clone())
}

fn string(value: &str) -> Option<Value> {
    Some(Value::from(value.to_string()))
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[test]
fn a_request_is_a_server_span_around_a_client_span_that_the_event_names_as_its_caller() {
    let (telemetry, captured) = traced();
    let request = request("POST", &[("Host", "localhost:8080"), ("User-Agent", "curl/8.5.0")]);
    let span = start(&telemetry, &request, Some("/helloworld"));
    let invoke = span.invoke_span();
    let headers = invoke.trace_headers();
    invoke.end(Ok(()));
    span.end(200, None);

    let server = captured.named("POST /helloworld");
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(server.parent_span_id, SpanId::INVALID, "a new trace without a client trace header");
    for (key, expected) in [
        ("http.request.method", string("POST")),
        ("http.route", string("/helloworld")),
        ("url.path", string("/test/helloworld")),
        ("url.scheme", string("http")),
        ("server.address", string("localhost")),
        ("server.port", Some(Value::I64(8080))),
        ("client.address", string("192.0.2.7")),
        ("user_agent.original", string("curl/8.5.0")),
        ("http.response.status_code", Some(Value::I64(200))),
        ("aws.api_gateway.stage", string("test")),
        ("aws.api_gateway.api_id", string("abc123defg")),
        ("aws.request_id", string("c6af9ac6-7b61-11e6-9a41-93e8deadbeef")),
        ("error.type", None),
    ] {
        assert_eq!(attribute(&server, key), expected, "{key}");
    }
    assert_eq!(server.status, Status::Unset);

    let client = captured.named("Lambda.Invoke");
    assert_eq!(client.span_kind, SpanKind::Client);
    assert_eq!(client.parent_span_id, server.span_context.span_id());
    assert!(!client.parent_span_is_remote);
    assert_eq!(client.span_context.trace_id(), server.span_context.trace_id());
    for (key, expected) in [
        ("rpc.system", "aws-api"),
        ("rpc.service", "Lambda"),
        ("rpc.method", "Invoke"),
        ("faas.invoked_name", "GetStartedLambdaProxyIntegration"),
        ("faas.invoked_provider", "aws"),
        ("faas.invoked_region", "eu-west-1"),
    ] {
        assert_eq!(attribute(&client, key), string(expected), "{key}");
    }
    assert_eq!(attribute(&client, "error.type"), None);

    let (trace, caller) = (client.span_context.trace_id(), client.span_context.span_id());
    assert_eq!(headers.traceparent, Some(format!("00-{trace}-{caller}-01")));
    let hex = trace.to_string();
    assert_eq!(headers.xray, format!("Root=1-{}-{};Parent={caller};Sampled=1", &hex[..8], &hex[8..]));
    assert_eq!(headers.trace_id(), Some(hex));
}

#[test]
fn new_trace_ids_start_with_the_time_as_x_ray_requires() {
    let (telemetry, _) = traced();
    let span = start(&telemetry, &request("GET", &[]), Some("/helloworld"));
    let root = span.trace_headers().xray;
    let seconds = u64::from_str_radix(&root["Root=1-".len()..][..8], 16).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(seconds) < 60, "{root}");
    let again = start(&telemetry, &request("GET", &[]), Some("/helloworld")).trace_headers().xray;
    assert_ne!(root[..43], again[..43], "the rest is random");
}

/// The trace id and parent of the server span of a request with these headers.
fn parent_of(headers: &[(&str, &str)]) -> (TraceId, SpanId, bool) {
    let (telemetry, captured) = traced();
    start(&telemetry, &request("GET", headers), Some("/helloworld")).end(200, None);
    let server = captured.named("GET /helloworld");
    (server.span_context.trace_id(), server.parent_span_id, server.parent_span_is_remote)
}

#[test]
fn the_parent_is_the_clients_traceparent_else_its_x_ray_header() {
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let w3c = (TraceId::from_hex(TRACE).unwrap(), SpanId::from_hex(PARENT).unwrap(), true);
    let from_xray = (
        TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
        true,
    );
    assert_eq!(parent_of(&[("traceparent", &traceparent)]), w3c);
    assert_eq!(parent_of(&[("X-Amzn-Trace-Id", xray), ("TraceParent", &traceparent)]), w3c, "traceparent wins");
    assert_eq!(parent_of(&[("x-amzn-trace-id", xray)]), from_xray);
    assert_eq!(parent_of(&[("traceparent", "00-garbage"), ("X-Amzn-Trace-Id", xray)]), from_xray);
    let (_, parent, _) = parent_of(&[("traceparent", "00-garbage"), ("X-Amzn-Trace-Id", "Root=nope")]);
    assert_eq!(parent, SpanId::INVALID, "invalid headers start a new trace");
}

#[test]
fn an_x_ray_root_without_parent_is_continued_by_a_root_span() {
    let (trace, parent, _) = parent_of(&[("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")]);
    assert_eq!(trace, TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap());
    assert_eq!(parent, SpanId::INVALID);
    let (next, _, _) = parent_of(&[]);
    assert_ne!(next, trace, "the continued trace id was used once");
}

#[test]
fn an_unsampled_caller_is_followed_and_said_so_downstream() {
    let (telemetry, captured) = traced();
    let request = request("GET", &[("traceparent", &format!("00-{TRACE}-{PARENT}-00"))]);
    let span = start(&telemetry, &request, Some("/helloworld"));
    let invoke = span.invoke_span();
    let headers = invoke.trace_headers();
    invoke.end(Ok(()));
    span.end(200, None);
    assert!(captured.spans().is_empty(), "nothing recorded: {:?}", captured.spans());
    assert!(headers.traceparent.unwrap().starts_with(&format!("00-{TRACE}-")));
    assert!(headers.xray.ends_with(";Sampled=0"), "{}", headers.xray);
}

#[test]
fn a_5xx_is_an_error_and_an_unmatched_route_is_named_by_its_method() {
    let (telemetry, captured) = traced();
    let span = start(&telemetry, &request("GET", &[]), Some("/helloworld"));
    let invoke = span.invoke_span();
    invoke.end(Err(&InvokeError::Function("process exited".into())));
    span.end(502, Some("function error: process exited"));
    let server = captured.named("GET /helloworld");
    assert_eq!(attribute(&server, "error.type"), string("502"));
    assert_eq!(server.status, Status::error("function error: process exited"));
    let client = captured.named("Lambda.Invoke");
    assert_eq!(attribute(&client, "error.type"), string("function_error"));
    assert_eq!(client.status, Status::error("function error: process exited"));

    start(&telemetry, &request("DELETE", &[]), None).end(403, None);
    let unmatched = captured.named("DELETE");
    assert_eq!(attribute(&unmatched, "http.route"), None);
    assert_eq!(attribute(&unmatched, "http.response.status_code"), Some(Value::I64(403)));
    assert_eq!(attribute(&unmatched, "error.type"), None, "a 4xx is the client's error, not the server's");
    assert_eq!(unmatched.status, Status::Unset);
}

#[test]
fn invoke_errors_are_typed() {
    for (error, expected) in [
        (InvokeError::Timeout, "timeout"),
        (InvokeError::Function("x".into()), "function_error"),
        (InvokeError::Service("x".into()), "service_error"),
    ] {
        let (telemetry, captured) = traced();
        let span = start(&telemetry, &request("GET", &[]), Some("/helloworld"));
        span.invoke_span().end(Err(&error));
        assert_eq!(attribute(&captured.named("Lambda.Invoke"), "error.type"), string(expected));
    }
}

#[test]
fn off_there_are_no_spans_and_the_headers_are_api_gateways() {
    let client = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let request = request("GET", &[("X-Amzn-Trace-Id", client), ("traceparent", &format!("00-{TRACE}-{PARENT}-01"))]);
    let span = start(&Telemetry::off(), &request, Some("/helloworld"));
    let invoke = span.invoke_span();
    let expected = TraceHeaders { xray: client.into(), traceparent: None };
    assert_eq!((span.trace_headers(), invoke.trace_headers()), (expected.clone(), expected));
    invoke.end(Ok(()));
    span.end(200, None);
    Telemetry::off().shutdown();
}

#[test]
fn server_address_is_the_host_header_or_the_local_socket() {
    let peers = peers();
    assert_eq!(server_address(Some("localhost:8080"), peers), ("localhost".into(), 8080));
    assert_eq!(server_address(Some("example.com"), peers), ("example.com".into(), 80));
    assert_eq!(server_address(Some("[::1]:9000"), peers), ("::1".into(), 9000));
    assert_eq!(server_address(Some("[::1]"), peers), ("::1".into(), 80));
    assert_eq!(server_address(Some(" "), peers), ("127.0.0.1".into(), 8080));
    assert_eq!(server_address(None, peers), ("127.0.0.1".into(), 8080));
    let mapped = Peers { local: SocketAddr::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(), 1), ..peers };
    assert_eq!(server_address(None, mapped), ("127.0.0.1".into(), 1));
}

#[test]
fn the_resource_names_the_gateway_unless_told_otherwise() {
    let get = |resource: &Resource, key: &str| resource.get(&key.to_string().into()).map(|value| value.to_string());
    let config = |variables: &[(&str, &str)]| {
        let variables: Vec<(String, String)> =
            variables.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
        OtlpConfig::read(&mut Variables::new(|name: &str| {
            variables.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
        }))
    };
    let plain = resource("eu-west-1", &config(&[]));
    for (key, expected) in [
        ("service.name", "apigw-local"),
        ("cloud.provider", "aws"),
        ("cloud.platform", "aws_api_gateway"),
        ("cloud.region", "eu-west-1"),
        ("telemetry.sdk.language", "rust"),
    ] {
        assert_eq!(get(&plain, key).as_deref(), Some(expected), "{key}");
    }
    let attributes = ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes,cloud.region=local");
    let attributed = resource("eu-west-1", &config(&[attributes]));
    assert_eq!(get(&attributed, "service.name").as_deref(), Some("from-attributes"));
    assert_eq!(get(&attributed, "cloud.region").as_deref(), Some("local"));
    let named = resource("eu-west-1", &config(&[attributes, ("OTEL_SERVICE_NAME", "from-variable")]));
    assert_eq!(get(&named, "service.name").as_deref(), Some("from-variable"));
}
