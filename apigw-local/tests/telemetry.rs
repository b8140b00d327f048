//! Telemetry, end to end: apigw-local and real `bootstrap` processes export over OTLP to a receiver the test starts,
//! which decodes the real protobuf payloads (docs/telemetry.md is the contract). Where the function must be driven
//! directly — events API Gateway never sends, timing the work after each response — a Runtime API served by the test
//! feeds one `bootstrap` process (common/runtime_host.rs).

mod common;
#[path = "common/otlp.rs"]
mod otlp;
#[path = "common/runtime_host.rs"]
mod runtime_host;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use common::{Gateway, bootstrap, client, scripted_function, send};
use futures::future::join_all;
use otlp::{Data, Mode, Protocol, Received, Receiver, Span, SpanKind, StatusCode, Value, refusing_endpoint};
use runtime_host::{Event, FUNCTION_NAME, Function, Outcome, RuntimeHost, apigw_event, set_header};

const GATEWAY: &str = "apigw-local";
const SEED_QUERY: &str = "/test/helloworld?name=John&city=Seattle";
const SEED_GREETING: &str = r#"{"greeting":"Good evening, John of Seattle. Happy Thursday!"}"#;
const USER_AGENT: &str = "curl/8.5.0";
/// How long telemetry may take to arrive once the request that caused it was answered.
const ARRIVAL: Duration = Duration::from_secs(20);
/// Every test finishes within this, or fails.
const TEST_LIMIT: Duration = Duration::from_secs(120);
const METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, test).await.expect("the test ran past its time limit")
}

/// Variables for apigw-local (which passes its environment on to the `bootstrap` processes) to export to `receiver`.
/// The function's flush gets a generous deadline here: these tests check what is exported, not how fast, and a loaded
/// machine must not make them lose spans; the resilience tests below check the deadline itself. The function exports
/// after every invocation, so that each request's telemetry can be waited for; the pacing of dense traffic has tests
/// of its own below.
fn exporting_to(receiver: &Receiver, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = receiver.env();
    env.extend(
        [
            ("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "5000"),
            ("LAMBDA_OTEL_EXPORT_INTERVAL_MS", "0"),
            ("LAMBDA_OTEL_METRICS_INTERVAL_MS", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(key, value)| (key.to_string(), value.to_string())),
    );
    env
}

fn gateway(args: &[&str], env: &[(String, String)]) -> Gateway {
    let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
    Gateway::start_with_env(args, &env)
}

fn tutorial(env: &[(String, String)], concurrency: usize) -> Gateway {
    let concurrency = concurrency.to_string();
    gateway(&["--function", bootstrap().to_str().unwrap(), "--concurrency", &concurrency], env)
}

fn seed_request(gateway: &Gateway) -> reqwest::RequestBuilder {
    client()
        .post(gateway.url(SEED_QUERY))
        .header("content-type", "application/json")
        .header("day", "Thursday")
        .header("user-agent", USER_AGENT)
        .body(r#"{ "time": "evening" }"#)
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap().to_string()
}

/// The trace id in an X-Ray header, `Root=1-{8 hex}-{24 hex};…`, as OTLP writes it (32 hex digits).
fn xray_trace_id(header: &str) -> String {
    let root = header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .unwrap_or_else(|| panic!("no Root in {header:?}"));
    let parts: Vec<&str> = root.split('-').collect();
    assert!(parts.len() == 3 && parts[0] == "1", "not an X-Ray root: {root:?}");
    format!("{}{}", parts[1], parts[2]).to_ascii_lowercase()
}

fn int(value: i64) -> Value {
    Value::Int(value)
}

fn text(value: &str) -> Value {
    Value::String(value.to_string())
}

fn assert_attr(span: &Span, key: &str, expected: Value) {
    assert_eq!(span.attr(key), Some(&expected), "{key} of {span}");
}

/// The spans of one request through apigw-local: the gateway's SERVER and CLIENT spans and the function's SERVER span,
/// found from the function's `faas.invocation_id` (the request id the client was given).
struct RequestTrace {
    gateway_server: Span,
    invoke: Span,
    function: Span,
    all: Vec<Span>,
}

fn request_trace(received: &Received, request_id: &str) -> Option<RequestTrace> {
    let function = received.invocation_span(FUNCTION_NAME, request_id)?.clone();
    let all: Vec<Span> = received.trace(&function.trace_id).cloned().collect();
    let gateway_server = all.iter().find(|span| span.service() == GATEWAY && span.kind == SpanKind::Server)?.clone();
    let invoke = all.iter().find(|span| span.service() == GATEWAY && span.kind == SpanKind::Client)?.clone();
    Some(RequestTrace { gateway_server, invoke, function, all })
}

async fn wait_for_request_trace(receiver: &Receiver, request_id: &str) -> RequestTrace {
    let received = receiver
        .wait_until(&format!("the gateway and function spans of request {request_id}"), ARRIVAL, |received| {
            request_trace(received, request_id).is_some()
        })
        .await;
    request_trace(&received, request_id).unwrap()
}

/// The seed's curl through apigw-local and `bootstrap`, checked span by span; returns what was received.
async fn seed_curl_is_one_trace(protocol: Protocol) -> Received {
    let receiver = Receiver::start(protocol, Mode::Normal).await;
    let gateway = tutorial(&exporting_to(&receiver, &[]), 1);
    let (status, headers, body) = send(seed_request(&gateway)).await;
    assert_eq!((status, body.as_str()), (200, SEED_GREETING));
    let request_id = header(&headers, "x-amzn-requestid");
    let trace = wait_for_request_trace(&receiver, &request_id).await;
    let RequestTrace { gateway_server, invoke, function, all } = &trace;

    // One trace, the one the client was told about, with one root: the gateway's span.
    assert_eq!(function.trace_id, xray_trace_id(&header(&headers, "x-amzn-trace-id")), "X-Amzn-Trace-Id Root");
    let roots: Vec<&Span> = all.iter().filter(|span| span.parent_span_id.is_none()).collect();
    assert_eq!(roots.len(), 1, "one root span: {roots:#?}");
    let ids: BTreeSet<&str> = all.iter().map(|span| span.span_id.as_str()).collect();
    for span in all {
        if let Some(parent) = &span.parent_span_id {
            assert!(ids.contains(parent.as_str()), "the parent of {span} is in the trace");
        }
    }

    // apigw-local SERVER "POST /helloworld" → CLIENT "Lambda.Invoke" → bootstrap SERVER "POST /helloworld".
    assert_eq!((gateway_server.name.as_str(), gateway_server.kind), ("POST /helloworld", SpanKind::Server));
    assert_eq!(gateway_server.parent_span_id, None, "the gateway's span is the root");
    assert_attr(gateway_server, "http.request.method", text("POST"));
    assert_attr(gateway_server, "http.response.status_code", int(200));
    assert_ne!(gateway_server.status, StatusCode::Error);
    assert_eq!((invoke.name.as_str(), invoke.kind), ("Lambda.Invoke", SpanKind::Client));
    assert_eq!(invoke.parent_span_id.as_deref(), Some(gateway_server.span_id.as_str()), "{invoke}");
    assert_eq!((function.name.as_str(), function.kind), ("POST /helloworld", SpanKind::Server));
    assert_eq!(function.parent_span_id.as_deref(), Some(invoke.span_id.as_str()), "{function}");
    assert_eq!(function.service(), FUNCTION_NAME);
    assert_eq!(gateway_server.service(), GATEWAY);

    // The function's attributes, typed.
    assert_attr(function, "http.request.method", text("POST"));
    assert_attr(function, "http.route", text("/helloworld"));
    assert_attr(function, "url.path", text("/helloworld"));
    assert_attr(function, "url.scheme", text("http"));
    assert_attr(function, "http.response.status_code", int(200));
    assert_attr(function, "faas.trigger", text("http"));
    assert_attr(function, "faas.invocation_id", text(&request_id));
    assert_attr(function, "user_agent.original", text(USER_AGENT));
    assert_attr(function, "client.address", text("127.0.0.1"));
    assert!(matches!(function.attr("faas.coldstart"), Some(Value::Bool(_))), "faas.coldstart is a bool: {function}");
    assert_eq!(function.attr("error.type"), None, "{function}");
    assert_ne!(function.status, StatusCode::Error);

    // Its children, as docs/telemetry.md draws them.
    for name in ["decode body", "greeting"] {
        let child = all.iter().find(|span| span.name == name).unwrap_or_else(|| panic!("no {name:?} span"));
        assert_eq!(child.kind, SpanKind::Internal, "{child}");
        assert_eq!(child.parent_span_id.as_deref(), Some(function.span_id.as_str()), "{child}");
    }

    // The function's resource.
    for (key, expected) in [
        ("service.name", FUNCTION_NAME),
        ("cloud.provider", "aws"),
        ("cloud.platform", "aws_lambda"),
        ("cloud.region", "us-east-1"),
        ("faas.name", FUNCTION_NAME),
        ("faas.version", "$LATEST"),
    ] {
        assert_eq!(function.resource.get(key), Some(&text(expected)), "resource {key}: {:?}", function.resource);
    }
    for key in ["faas.instance", "faas.max_memory", "cloud.account.id"] {
        assert!(function.resource.contains_key(key), "resource {key}: {:?}", function.resource);
    }

    // And the request's duration, on the function's histogram.
    let received = receiver
        .wait_until("http.server.request.duration for the POST", ARRIVAL, |received| {
            received
                .histogram_counts_by(FUNCTION_NAME, "http.server.request.duration", "http.request.method")
                .get("POST")
                == Some(&1)
        })
        .await;
    let duration = received.metric(FUNCTION_NAME, "http.server.request.duration").last().unwrap().clone();
    assert_eq!(duration.unit, "s");
    let Data::Histogram { points, .. } = &duration.data else { panic!("not a histogram: {duration:?}") };
    let point = &points[0];
    assert_eq!(point.explicit_bounds, otlp_setup::DURATION_BOUNDARIES, "50 µs to 30 s, not the semconv's 5 ms first");
    assert_eq!(point.attributes.get("http.route"), Some(&text("/helloworld")));
    assert_eq!(point.attributes.get("http.response.status_code"), Some(&int(200)));

    // The histogram links to the trace: an exemplar with this request's function span and its duration.
    let exemplars: Vec<_> = received
        .metric(FUNCTION_NAME, "http.server.request.duration")
        .filter_map(|metric| match &metric.data {
            Data::Histogram { points, .. } => Some(points.iter().flat_map(|point| point.exemplars.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    let [(trace_id, span_id, seconds)] = &exemplars[..] else { panic!("one exemplar: {exemplars:?}") };
    assert_eq!((trace_id, span_id), (&function.trace_id, &function.span_id), "the exemplar is the request's span");
    assert!(*seconds > 0.0 && *seconds < 5.0, "{seconds}");

    // Each cumulative series starts at zero, so that `increase()` counts the first request too.
    let coldstarts: Vec<_> = received
        .metric(FUNCTION_NAME, "faas.coldstarts")
        .flat_map(|metric| match &metric.data {
            Data::Sum { points, .. } => points.clone(),
            _ => Vec::new(),
        })
        .collect();
    let values: Vec<f64> = coldstarts.iter().map(|point| point.value).collect();
    assert_eq!(values, [0.0, 1.0], "faas.coldstarts is 0 first, then 1");
    assert!(coldstarts[1].time_unix_nano >= coldstarts[0].time_unix_nano + 1_000_000, "a millisecond apart at least");
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_curl_is_one_trace_from_gateway_to_handler_over_http_protobuf() {
    bounded(seed_curl_is_one_trace(Protocol::HttpProtobuf)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_curl_is_one_trace_from_gateway_to_handler_over_grpc() {
    bounded(seed_curl_is_one_trace(Protocol::Grpc)).await;
}

/// The seed's curl with both binaries exporting to an `https://` receiver, whose self-signed certificate they trust
/// through `OTEL_EXPORTER_OTLP_CERTIFICATE`: the gateway's spans and the function's spans and metrics arrive over TLS.
async fn seed_curl_is_exported_over_tls(protocol: Protocol) {
    let receiver = Receiver::start_tls(protocol).await;
    assert!(receiver.endpoint().starts_with("https://"));
    let gateway = tutorial(&exporting_to(&receiver, &[]), 1);
    let (status, headers, body) = send(seed_request(&gateway)).await;
    assert_eq!((status, body.as_str()), (200, SEED_GREETING));
    let request_id = header(&headers, "x-amzn-requestid");
    let trace = wait_for_request_trace(&receiver, &request_id).await;
    assert_eq!(trace.gateway_server.service(), GATEWAY);
    receiver
        .wait_until("the function's metrics", ARRIVAL, |received| {
            received.metric(FUNCTION_NAME, "faas.invocations").next().is_some()
        })
        .await;
    assert_eq!(receiver.tls_failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_curl_is_exported_to_an_https_collector_over_http_protobuf() {
    bounded(seed_curl_is_exported_over_tls(Protocol::HttpProtobuf)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_curl_is_exported_to_an_https_collector_over_grpc() {
    bounded(seed_curl_is_exported_over_tls(Protocol::Grpc)).await;
}

/// Looks with `found` until it finds something, for at most [`ARRIVAL`]; panics naming `what` then.
async fn poll_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + ARRIVAL;
    loop {
        if let Some(found) = found() {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {what} within {ARRIVAL:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_certificate_that_chains_to_no_trusted_root_is_refused_by_both_binaries() {
    bounded(async {
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
            // Without OTEL_EXPORTER_OTLP_CERTIFICATE only the bundled public roots are trusted.
            let untrusting = |receiver: &Receiver| -> Vec<(String, String)> {
                let mut env = exporting_to(receiver, &[]);
                env.retain(|(key, _)| key != "OTEL_EXPORTER_OTLP_CERTIFICATE");
                env
            };

            let receiver = Receiver::start_tls(protocol).await;
            let host = direct_function(&untrusting(&receiver)).await;
            let invocation = host.invoke_and_wait_for_next(Event::apigw(apigw_event("POST")), ARRIVAL).await;
            assert_eq!(invocation.response_json()["statusCode"], 200, "the function still answers");
            poll_for("refused handshake from the function", || (receiver.tls_failures() > 0).then_some(())).await;
            // The cause is logged: the exporters give up on the certificate, not on the connection.
            poll_for("the certificate named in the function's warning", || {
                host.output().into_iter().find(|line| line.contains("WARN") && line.contains("UnknownIssuer"))
            })
            .await;

            let receiver = Receiver::start_tls(protocol).await;
            let function = scripted_function();
            let gateway = gateway(&["--function", function.to_str().unwrap()], &untrusting(&receiver));
            let (status, _, _) = send(client().get(gateway.url("/test/helloworld"))).await;
            assert_eq!(status, 200);
            poll_for("refused handshake from the gateway", || (receiver.tls_failures() > 0).then_some(())).await;
            assert!(receiver.received().spans.is_empty(), "{}", receiver.received().summary());
        }
    })
    .await;
}

/// `count` requests cycling through every method, four at a time on four execution environments; checks that every
/// one of them is a function span and is counted once by method.
async fn mixed_requests_are_all_counted(protocol: Protocol, count: usize) {
    let receiver = Receiver::start(protocol, Mode::Normal).await;
    let gateway = tutorial(&exporting_to(&receiver, &[]), 4);
    let client = client();
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let mut request_ids = BTreeSet::new();
    let methods: Vec<&str> = METHODS.iter().copied().cycle().take(count).collect();
    for batch in methods.chunks(4) {
        let requests = batch.iter().map(|method| {
            let request = client.request(method.parse().unwrap(), gateway.url("/test/helloworld?name=n"));
            async move { (method, send(request).await) }
        });
        for (method, (status, headers, body)) in join_all(requests).await {
            assert_eq!(status, 200, "{method}: {body}");
            *sent.entry(method.to_string()).or_default() += 1;
            request_ids.insert(header(&headers, "x-amzn-requestid"));
        }
    }
    assert_eq!(request_ids.len(), count);

    let is_function_server = |span: &Span| span.service() == FUNCTION_NAME && span.kind == SpanKind::Server;
    let histogram = "http.server.request.duration";
    let received = receiver
        .wait_until(&format!("{count} function spans and {count} counted durations"), ARRIVAL, |received| {
            let counted =
                |service| received.histogram_counts_by(service, histogram, "http.request.method").values().sum::<u64>();
            received.spans.iter().filter(|span| is_function_server(span)).count() >= count
                && counted(FUNCTION_NAME) >= count as u64
                && counted(GATEWAY) >= count as u64
                && received.sum_total(GATEWAY, "http.server.active_requests") == 0.0
        })
        .await;

    // Every request is exactly one function span: none lost, none doubled.
    let function_spans: Vec<&Span> = received.spans.iter().filter(|span| is_function_server(span)).collect();
    assert_eq!(function_spans.len(), count, "{}", received.summary());
    let invoked: BTreeSet<String> =
        function_spans.iter().filter_map(|span| span.str_attr("faas.invocation_id")).map(str::to_string).collect();
    assert_eq!(invoked, request_ids, "the function spans are those of the requests sent");
    let mut spans_by_method: BTreeMap<String, u64> = BTreeMap::new();
    for span in &function_spans {
        *spans_by_method.entry(span.str_attr("http.request.method").unwrap_or("").to_string()).or_default() += 1;
        assert_eq!(span.name, format!("{} /helloworld", span.str_attr("http.request.method").unwrap_or("?")));
    }
    assert_eq!(spans_by_method, sent);

    // The duration histogram counts each method exactly as often as it was sent; so does faas.invocations.
    assert_eq!(received.histogram_counts_by(FUNCTION_NAME, histogram, "http.request.method"), sent);
    let invocations = received.sum_by(FUNCTION_NAME, "faas.invocations", "http.request.method");
    let invocations: BTreeMap<String, u64> = invocations.into_iter().map(|(key, value)| (key, value as u64)).collect();
    assert_eq!(invocations, sent, "faas.invocations by method");

    // One stream per metric in every export, with its unit, description and instrument.
    for (name, streams) in received.streams_per_export(FUNCTION_NAME) {
        assert_eq!(streams, 1, "{name}: {streams} streams in one export");
    }
    let expected = [
        ("http.server.request.duration", "s", "histogram"),
        ("faas.invocations", "{invocation}", "counter"),
        ("faas.coldstarts", "{coldstart}", "counter"),
        ("faas.init_duration", "s", "histogram"),
    ];
    for (name, unit, kind) in expected {
        let metrics: Vec<_> = received.metric(FUNCTION_NAME, name).collect();
        assert!(!metrics.is_empty(), "no {name}: {}", received.summary());
        for metric in metrics {
            assert_eq!((metric.unit.as_str(), metric.kind()), (unit, kind), "{name}");
            assert!(!metric.description.is_empty(), "{name} has a description");
        }
    }
    // Cold starts: one per execution environment, each told apart by faas.instance.
    let instances: BTreeSet<&str> =
        function_spans.iter().filter_map(|span| span.resource.get("faas.instance")?.as_str()).collect();
    let cold = function_spans.iter().filter(|span| span.attr("faas.coldstart") == Some(&Value::Bool(true))).count();
    assert_eq!(cold, instances.len(), "one cold start per environment ({instances:?})");
    assert_eq!(received.sum_total(FUNCTION_NAME, "faas.coldstarts"), instances.len() as f64);
    // A function serves one request at a time and is read between them: it has no in-flight count to export.
    assert_eq!(received.metric(FUNCTION_NAME, "http.server.active_requests").count(), 0);

    // The gateway counts the same requests (API Gateway's Count), each with its integration's latency, and has none in
    // flight once all were answered.
    assert_eq!(received.histogram_counts_by(GATEWAY, histogram, "http.request.method"), sent);
    let integration = "aws.api_gateway.integration.duration";
    assert_eq!(received.histogram_counts_by(GATEWAY, integration, "http.request.method"), sent);
    let statuses = received.histogram_counts_by(GATEWAY, histogram, "http.response.status_code");
    assert_eq!(
        statuses,
        BTreeMap::from([("200".to_string(), count as u64)]),
        "status codes, as 4XXError/5XXError read them"
    );
    for (name, unit, kind) in [
        (histogram, "s", "histogram"),
        (integration, "s", "histogram"),
        ("http.server.active_requests", "{request}", "up-down counter"),
    ] {
        let metric =
            received.metric(GATEWAY, name).last().unwrap_or_else(|| panic!("no {name}: {}", received.summary()));
        assert_eq!((metric.unit.as_str(), metric.kind()), (unit, kind), "{name}");
    }
    assert_eq!(received.sum_total(GATEWAY, "http.server.active_requests"), 0.0, "every request ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_requests_of_mixed_methods_are_a_hundred_spans_and_counted_per_method() {
    bounded(mixed_requests_are_all_counted(Protocol::HttpProtobuf, 100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_methods_are_counted_exactly_over_grpc_too() {
    bounded(mixed_requests_are_all_counted(Protocol::Grpc, 28)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_request_is_a_cold_start_and_the_next_ones_are_warm() {
    bounded(async {
        let receiver = Receiver::http().await;
        let gateway = tutorial(&exporting_to(&receiver, &[]), 1);
        let mut request_ids = Vec::new();
        for _ in 0..3 {
            let (status, headers, body) = send(seed_request(&gateway)).await;
            assert_eq!((status, body.as_str()), (200, SEED_GREETING));
            request_ids.push(header(&headers, "x-amzn-requestid"));
        }
        let received = receiver
            .wait_until("three function spans and faas.invocations = 3", ARRIVAL, |received| {
                request_ids.iter().all(|id| received.invocation_span(FUNCTION_NAME, id).is_some())
                    && received.sum_total(FUNCTION_NAME, "faas.invocations") >= 3.0
            })
            .await;
        let coldstarts: Vec<Option<&Value>> = request_ids
            .iter()
            .map(|id| received.invocation_span(FUNCTION_NAME, id).unwrap().attr("faas.coldstart"))
            .collect();
        let (cold, warm) = (Value::Bool(true), Value::Bool(false));
        assert_eq!(coldstarts, [Some(&cold), Some(&warm), Some(&warm)]);
        assert_eq!(received.sum_total(FUNCTION_NAME, "faas.coldstarts"), 1.0);
        assert_eq!(received.sum_total(FUNCTION_NAME, "faas.invocations"), 3.0);
        let init = received.metric(FUNCTION_NAME, "faas.init_duration").last().expect("faas.init_duration").clone();
        let Data::Histogram { points, .. } = &init.data else { panic!("faas.init_duration: {init:?}") };
        assert_eq!(points.iter().map(|point| point.count).sum::<u64>(), 1, "one init, measured once");
    })
    .await;
}

/// The gateway's SERVER span for a request that ended in `status`.
fn gateway_span_with_status(received: &Received, status: i64) -> Option<&Span> {
    received
        .spans_of(GATEWAY)
        .find(|span| span.kind == SpanKind::Server && span.attr("http.response.status_code") == Some(&int(status)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_or_504_at_the_gateway_is_an_error_span_with_error_type() {
    bounded(async {
        let receiver = Receiver::http().await;
        let function = scripted_function();
        let env = exporting_to(&receiver, &[]);
        // A crash mid-invocation is a 502; a function past the integration timeout a 504 (a gateway of its own, so
        // that a slow start of the first cannot turn its crash into a timeout).
        let crashing = gateway(&["--function", function.to_str().unwrap()], &env);
        let (status, _, _) = send(client().get(crashing.url("/test/helloworld?act=crash"))).await;
        assert_eq!(status, 502);
        let overrunning = gateway(&["--function", function.to_str().unwrap(), "--timeout", "1s"], &env);
        let (status, _, _) = send(client().get(overrunning.url("/test/helloworld?act=sleep&seconds=30"))).await;
        assert_eq!(status, 504);
        let statuses = |received: &Received| {
            received.histogram_counts_by(GATEWAY, "http.server.request.duration", "http.response.status_code")
        };
        let received = receiver
            .wait_until("the gateway spans and request durations of the 502 and the 504", ARRIVAL, |received| {
                gateway_span_with_status(received, 502).is_some()
                    && gateway_span_with_status(received, 504).is_some()
                    && statuses(received).len() == 2
            })
            .await;
        // On the gateway's request metric, as API Gateway's 5XXError counts them, though no function answered.
        let expected = BTreeMap::from([("502".to_string(), 1), ("504".to_string(), 1)]);
        assert_eq!(statuses(&received), expected, "{}", received.summary());
        let errors = received.histogram_counts_by(GATEWAY, "http.server.request.duration", "error.type");
        assert_eq!(errors, BTreeMap::from([("502".to_string(), 1), ("504".to_string(), 1)]));
        let failed = received.histogram_counts_by(GATEWAY, "aws.api_gateway.integration.duration", "error.type");
        let failed_expected = BTreeMap::from([("function_error".to_string(), 1), ("timeout".to_string(), 1)]);
        assert_eq!(failed, failed_expected, "the integration's failures, typed");
        for status in [502, 504] {
            let span = gateway_span_with_status(&received, status).unwrap();
            assert_eq!(span.status, StatusCode::Error, "{span}");
            // The HTTP semantic conventions' value for a 5xx answer is the status code; a gateway may name the
            // failure more precisely (e.g. a timeout), but it must name it.
            let error_type = span.str_attr("error.type").unwrap_or_default();
            assert!(!error_type.is_empty(), "error.type on the {status} span: {span}");
        }
    })
    .await;
}

/// A function fed directly through the test's Runtime API, exporting to `receiver` (or wherever `env` says).
async fn direct_function(env: &[(String, String)]) -> RuntimeHost {
    Function::new(bootstrap()).envs(env.iter().map(|(key, value)| (key.as_str(), value.as_str()))).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_is_not_from_api_gateway_is_an_invalid_event_error() {
    bounded(async {
        let receiver = Receiver::http().await;
        let host = direct_function(&exporting_to(&receiver, &[])).await;
        let invalid = host.invoke(Event::new(&serde_json::json!({"hello": "world"})), ARRIVAL).await;
        assert!(invalid.outcome.is_some());
        // The function still serves afterwards.
        let valid = host.invoke(Event::apigw(apigw_event("POST")), ARRIVAL).await;
        let output = valid.response_json();
        assert_eq!((output["statusCode"].as_i64(), output["body"].as_str()), (Some(200), Some(SEED_GREETING)));

        let received = receiver
            .wait_until("the span of the invalid event and faas.errors", ARRIVAL, |received| {
                received.invocation_span(FUNCTION_NAME, &invalid.request_id).is_some()
                    && received.invocation_span(FUNCTION_NAME, &valid.request_id).is_some()
                    && received.sum_by(FUNCTION_NAME, "faas.errors", "error.type").contains_key("invalid_event")
            })
            .await;
        let span = received.invocation_span(FUNCTION_NAME, &invalid.request_id).unwrap();
        assert_attr(span, "error.type", text("invalid_event"));
        assert_eq!(span.status, StatusCode::Error, "{span}");
        let errors = received.sum_by(FUNCTION_NAME, "faas.errors", "error.type");
        assert_eq!(errors.get("invalid_event"), Some(&1.0), "faas.errors: {errors:?}");
        assert_eq!(errors.values().sum::<f64>(), 1.0, "only the invalid event is an error: {errors:?}");
        let valid_span = received.invocation_span(FUNCTION_NAME, &valid.request_id);
        assert!(valid_span.is_some_and(|span| span.attr("error.type").is_none()), "{valid_span:?}");
    })
    .await;
}

const W3C_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const W3C_PARENT: &str = "00f067aa0ba902b7";
const XRAY_HEADER: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const XRAY_TRACE_ID: &str = "5759e988bd862e3fe1be46a994272793";
const XRAY_PARENT: &str = "53995c3f42cd8ad8";

/// Sends the seed's curl with one trace header through apigw-local; every span of the request must carry the trace
/// id, and the gateway's span must be the child of the caller's.
async fn incoming_header_sets_the_trace(name: &str, value: &str, trace_id: &str, parent: &str) {
    let receiver = Receiver::http().await;
    let gateway = tutorial(&exporting_to(&receiver, &[]), 1);
    let (status, headers, body) = send(seed_request(&gateway).header(name, value)).await;
    assert_eq!((status, body.as_str()), (200, SEED_GREETING));
    let request_id = header(&headers, "x-amzn-requestid");
    let RequestTrace { gateway_server, invoke, function, all } = wait_for_request_trace(&receiver, &request_id).await;
    for span in [&gateway_server, &invoke, &function] {
        assert_eq!(span.trace_id, trace_id, "{span}");
    }
    assert_eq!(gateway_server.parent_span_id.as_deref(), Some(parent), "the gateway's span continues the caller's");
    assert!(all.iter().all(|span| span.parent_span_id.is_some()), "no new root in the caller's trace: {all:#?}");
    assert_eq!(xray_trace_id(&header(&headers, "x-amzn-trace-id")), trace_id, "the response's X-Amzn-Trace-Id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_traceparent_is_the_trace_of_the_exported_spans() {
    let traceparent = format!("00-{W3C_TRACE_ID}-{W3C_PARENT}-01");
    bounded(incoming_header_sets_the_trace("traceparent", &traceparent, W3C_TRACE_ID, W3C_PARENT)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_x_amzn_trace_id_is_the_trace_of_the_exported_spans() {
    bounded(incoming_header_sets_the_trace("X-Amzn-Trace-Id", XRAY_HEADER, XRAY_TRACE_ID, XRAY_PARENT)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_takes_its_parent_from_the_events_headers_or_the_runtimes_trace_id() {
    bounded(async {
        let receiver = Receiver::http().await;
        let host = direct_function(&exporting_to(&receiver, &[])).await;
        let mut with_traceparent = apigw_event("GET");
        set_header(&mut with_traceparent, "traceparent", &format!("00-{W3C_TRACE_ID}-{W3C_PARENT}-01"));
        let mut with_xray = apigw_event("GET");
        set_header(&mut with_xray, "X-Amzn-Trace-Id", XRAY_HEADER);
        let runtime_only = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=1";
        let cases = [
            (Event::apigw(with_traceparent), W3C_TRACE_ID, W3C_PARENT),
            (Event::apigw(with_xray), XRAY_TRACE_ID, XRAY_PARENT),
            (
                Event::apigw(apigw_event("GET")).runtime_trace_id(runtime_only),
                "6759e988bd862e3fe1be46a994272794",
                "63995c3f42cd8ad9",
            ),
        ];
        for (event, trace_id, parent) in cases {
            let request_id = host.invoke(event, ARRIVAL).await.request_id;
            let received = receiver
                .wait_until(&format!("the span of {request_id}"), ARRIVAL, |received| {
                    received.invocation_span(FUNCTION_NAME, &request_id).is_some()
                })
                .await;
            let span = received.invocation_span(FUNCTION_NAME, &request_id).unwrap();
            assert_eq!((span.trace_id.as_str(), span.parent_span_id.as_deref()), (trace_id, Some(parent)), "{span}");
        }
    })
    .await;
}

/// What the function may add after a response when the collector misbehaves: the flush deadline plus this margin
/// (process scheduling on a loaded 2-core machine, and the Runtime API round trips).
const FLUSH_TIMEOUT: Duration = Duration::from_millis(100);
const FLUSH_MARGIN: Duration = Duration::from_millis(100);
const INVOCATIONS: usize = 12;

/// Invokes the function directly `INVOCATIONS` times with an endpoint that misbehaves; every invocation must be
/// answered normally and followed by its `/next` within the flush deadline plus margin. Returns the gaps.
async fn flush_stays_bounded(endpoint: &str, protocol: Protocol) -> Vec<Duration> {
    let timeout_ms = FLUSH_TIMEOUT.as_millis().to_string();
    let host = Function::new(bootstrap())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.env_value())
        .env("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", &timeout_ms)
        .start()
        .await;
    let mut gaps = Vec::new();
    for _ in 0..INVOCATIONS {
        let invocation = host.invoke_and_wait_for_next(Event::apigw(apigw_event("POST")), ARRIVAL).await;
        let output = invocation.response_json();
        assert_eq!((output["statusCode"].as_i64(), output["body"].as_str()), (Some(200), Some(SEED_GREETING)));
        gaps.push(invocation.flush_gap().unwrap());
    }
    eprintln!("response → next gaps ({endpoint}, {protocol:?}): {gaps:?}");
    let bound = FLUSH_TIMEOUT + FLUSH_MARGIN;
    for (index, gap) in gaps.iter().enumerate() {
        assert!(*gap <= bound, "invocation {index}: {gap:?} after the response, over {bound:?}; all: {gaps:?}");
    }
    gaps
}

/// After the first failed export the function backs off: later invocations do not wait for the collector again.
fn assert_backs_off(gaps: &[Duration]) {
    let mut later = gaps[2..].to_vec();
    later.sort();
    let median = later[later.len() / 2];
    assert!(median < FLUSH_TIMEOUT / 2, "after the first failure the gaps drop (median {median:?}): {gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_refuses_connections_costs_at_most_the_flush_deadline() {
    bounded(async {
        flush_stays_bounded(&refusing_endpoint(), Protocol::HttpProtobuf).await;
        flush_stays_bounded(&refusing_endpoint(), Protocol::Grpc).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_costs_at_most_the_flush_deadline_then_is_backed_off() {
    bounded(async {
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
            let receiver = Receiver::start(protocol, Mode::Hang).await;
            let gaps = flush_stays_bounded(&receiver.endpoint(), protocol).await;
            assert!(receiver.requests() > 0, "the exports reached the hanging receiver");
            assert_backs_off(&gaps);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_collector_costs_at_most_the_flush_deadline() {
    bounded(async {
        let receiver = Receiver::start(Protocol::HttpProtobuf, Mode::Slow(Duration::from_millis(400))).await;
        flush_stays_bounded(&receiver.endpoint(), Protocol::HttpProtobuf).await;
        assert!(receiver.requests() > 0, "the exports reached the slow receiver");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_otel_sdk_disabled_nothing_is_exported_and_the_greeting_is_unchanged() {
    bounded(async {
        let receiver = Receiver::http().await;
        let env = exporting_to(&receiver, &[("OTEL_SDK_DISABLED", "true")]);
        let gateway = tutorial(&env, 1);
        for _ in 0..3 {
            let (status, _, body) = send(seed_request(&gateway)).await;
            assert_eq!((status, body.as_str()), (200, SEED_GREETING));
        }
        // The function exports, if at all, before it asks for its next event: once that happened nothing can be in
        // flight from it.
        let host = direct_function(&env).await;
        let invocation = host.invoke_and_wait_for_next(Event::apigw(apigw_event("POST")), ARRIVAL).await;
        assert_eq!(invocation.response_json()["body"], SEED_GREETING);
        // Proving an absence needs a wait: apigw-local's batch exports would have left after 100 ms.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!((receiver.connections(), receiver.requests()), (0, 0), "{}", receiver.received().summary());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_the_spans_a_hanging_collector_could_not_take() {
    bounded(async {
        let receiver = Receiver::start(Protocol::HttpProtobuf, Mode::Hang).await;
        let mut host =
            Function::new(bootstrap()).envs(receiver.env()).env("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "100").start().await;
        let mut request_ids = Vec::new();
        for _ in 0..4 {
            let invocation = host.invoke_and_wait_for_next(Event::apigw(apigw_event("POST")), ARRIVAL).await;
            assert_eq!(invocation.response_json()["statusCode"], 200);
            request_ids.push(invocation.request_id);
        }
        let log = host.log();
        assert!(!log.extensions.is_empty(), "the function registered an extension, so Lambda would send it SIGTERM");
        assert!(receiver.received().spans.is_empty());

        receiver.set_mode(Mode::Normal);
        host.sigterm();
        let status = host.wait_for_exit(Duration::from_secs(5)).await;
        let last = request_ids.last().unwrap().clone();
        let received = receiver
            .wait_until("the last invocation's span, flushed at SIGTERM", Duration::from_secs(5), |received| {
                received.invocation_span(FUNCTION_NAME, &last).is_some()
            })
            .await;
        let delivered = request_ids.iter().filter(|id| received.invocation_span(FUNCTION_NAME, id).is_some()).count();
        eprintln!("SIGTERM: exit {status:?}, {delivered} of {} invocation spans delivered", request_ids.len());
        // The first export may have been lost to the hang; what was buffered while backing off must not be.
        assert!(delivered >= request_ids.len() - 1, "{delivered} delivered: {}", received.summary());
        assert!(
            received.metric(FUNCTION_NAME, "faas.invocations").next().is_some(),
            "metrics flushed at SIGTERM too: {}",
            received.summary()
        );
        assert!(matches!(
            host.log().invocations.last().and_then(|last| last.outcome.as_ref()),
            Some(Outcome::Response(_))
        ));
    })
    .await;
}

/// lambda-otel's example program, a function that is not the tutorial's, adopts the library in its few lines: its
/// request is one trace from the gateway to its own `greeting` span, and its log line names that trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telemetry_librarys_example_function_is_traced_and_its_log_lines_carry_the_trace() {
    bounded(async {
        let example = bootstrap().with_file_name("examples").join("http_hello");
        assert!(example.exists(), "{} is missing: `cargo build -p lambda-otel --examples`", example.display());
        let receiver = Receiver::start(Protocol::HttpProtobuf, Mode::Normal).await;
        let gateway = gateway(&["--function", example.to_str().unwrap()], &exporting_to(&receiver, &[]));
        let (status, headers, body) = send(client().get(gateway.url("/test/helloworld?name=Ada"))).await;
        assert_eq!((status, body.as_str()), (200, "Hello, Ada!"));
        let request_id = header(&headers, "x-amzn-requestid");
        let trace = wait_for_request_trace(&receiver, &request_id).await;
        assert_eq!(trace.function.name, "GET /helloworld");
        assert_eq!(trace.function.parent_span_id.as_deref(), Some(trace.invoke.span_id.as_str()));
        let greeting = trace.all.iter().find(|span| span.name == "greeting").expect("the example's own span");
        assert_eq!(greeting.parent_span_id.as_deref(), Some(trace.function.span_id.as_str()), "{greeting}");

        let logged = gateway.stdout_until(|line| line.contains(r#""message":"greeted""#));
        let line = logged.iter().find(|line| line.contains(r#""message":"greeted""#)).expect("the example's log line");
        let line = common::json(line);
        assert_eq!(line["trace_id"], trace.function.trace_id.as_str(), "{line}");
        assert_eq!(line["span_id"], trace.function.span_id.as_str(), "written inside the invocation's span: {line}");
        assert_eq!(line["request_id"], request_id.as_str(), "{line}");
        assert_eq!(line["name"], "Ada", "{line}");
    })
    .await;
}

/// The default pacing: while invocations come densely their spans and metrics share an export; a frozen environment's
/// telemetry leaves with the first invocation after it thaws; SHUTDOWN exports the last state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dense_invocations_share_exports_and_a_frozen_environments_spans_leave_when_it_thaws() {
    bounded(async {
        let receiver = Receiver::http().await;
        // A 1.5 s interval instead of the default second: the invocations of the dense part must fall within it on a
        // loaded machine too.
        let mut host = Function::new(bootstrap())
            .envs(receiver.env())
            .env("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "5000")
            .env("LAMBDA_OTEL_EXPORT_INTERVAL_MS", "1500")
            .start()
            .await;
        let first = invoke_post(&host).await;
        receiver.wait_until("the first invocation's span, at once", ARRIVAL, |r| r.trace_exports == 1).await;
        let mut dense = Vec::new();
        for _ in 0..3 {
            dense.push(invoke_post(&host).await);
        }
        let received = receiver.received();
        assert_eq!(received.trace_exports, 1, "the dense invocations' spans wait: {}", received.summary());
        assert!(dense.iter().all(|id| received.invocation_span(FUNCTION_NAME, id).is_none()));

        // Frozen between invocations, as Lambda freezes an idle environment, for longer than the interval.
        let pid = i32::try_from(host.pid().expect("the function runs")).unwrap();
        signal(pid, libc::SIGSTOP);
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert_eq!(receiver.received().trace_exports, 1, "nothing leaves a frozen environment");
        signal(pid, libc::SIGCONT);
        let thawed = invoke_post(&host).await;
        let all: Vec<String> = [first.clone()].into_iter().chain(dense).chain([thawed]).collect();
        let received = receiver
            .wait_until("every span, the waiting ones with the first invocation after the thaw", ARRIVAL, |r| {
                all.iter().all(|id| r.invocation_span(FUNCTION_NAME, id).is_some())
            })
            .await;
        assert_eq!(received.trace_exports, 2, "four invocations' spans in one export: {}", received.summary());

        // Metrics likewise: the cold start's at once, the dense ones' with the thaw, and the last state at SHUTDOWN.
        assert_eq!(received.metric_exports, 2, "{}", received.summary());
        host.sigterm();
        host.wait_for_exit(Duration::from_secs(5)).await;
        let received = receiver
            .wait_until("faas.invocations of all five, at SHUTDOWN", ARRIVAL, |r| {
                r.sum_total(FUNCTION_NAME, "faas.invocations") == 5.0
            })
            .await;
        assert_eq!(received.metric_exports, 3, "{}", received.summary());
    })
    .await;
}

/// The seed's POST, answered and followed by the next `/next`; its request id.
async fn invoke_post(host: &RuntimeHost) -> String {
    host.invoke_and_wait_for_next(Event::apigw(apigw_event("POST")), ARRIVAL).await.request_id
}

fn signal(pid: i32, signal: libc::c_int) {
    // SAFETY: kill(2) takes no pointers; the pid is the test host's child, not yet waited for.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal}): {}", std::io::Error::last_os_error());
}

/// `OTEL_SERVICE_NAME` names the gateway, not the functions it runs, which are named by their function name unless
/// `--function-env` names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_service_name_does_not_rename_its_functions() {
    bounded(async {
        for (function_env, function_service) in [(None, FUNCTION_NAME), (Some("OTEL_SERVICE_NAME=greeter"), "greeter")]
        {
            let receiver = Receiver::http().await;
            let env = exporting_to(
                &receiver,
                &[
                    ("OTEL_SERVICE_NAME", "front-door"),
                    ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,team=greeting"),
                ],
            );
            let bootstrap = bootstrap();
            let mut args = vec!["--function", bootstrap.to_str().unwrap()];
            args.extend(function_env.iter().flat_map(|variable| ["--function-env", *variable]));
            let gateway = gateway(&args, &env);
            let (status, headers, _) = send(seed_request(&gateway)).await;
            assert_eq!(status, 200);
            let request_id = header(&headers, "x-amzn-requestid");
            let received = receiver
                .wait_until("the function's span and the gateway's", ARRIVAL, |r| {
                    r.invocation_span(function_service, &request_id).is_some()
                        && r.spans.iter().any(|span| span.service() == "front-door")
                })
                .await;
            let function = received.invocation_span(function_service, &request_id).unwrap();
            assert_eq!(function.resource.get("team"), Some(&text("greeting")), "the other attributes are kept");
            let services: BTreeSet<&str> = received.spans.iter().map(Span::service).collect();
            assert_eq!(services, BTreeSet::from(["front-door", function_service]), "{function_env:?}");
        }
    })
    .await;
}
