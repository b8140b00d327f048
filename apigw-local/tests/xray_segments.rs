//! The function's spans in X-Ray, end to end: apigw-local runs the real `bootstrap` with `OTEL_TRACES_EXPORTER=xray`
//! and `AWS_XRAY_DAEMON_ADDRESS` naming a UDP socket this test binds in the daemon's place. Every datagram must be the
//! daemon's header line and a segment document that AWS's JSON schema accepts
//! (lambda-otel/tests/fixtures/xray-segmentdocument-schema-v1.0.0.json), hung under the segment the runtime's trace
//! header names: the `Lambda-Runtime-Trace-Id` apigw-local sent, which it also returns to the client as
//! `X-Amzn-Trace-Id` and whose `Parent` is its own `Lambda.Invoke` span (seen in its trace view).

mod common;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Gateway, bootstrap, client, json, send};
use serde_json::Value;

const HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";
/// How long a request's datagram may take to arrive once the request was answered.
const ARRIVAL: Duration = Duration::from_secs(20);

/// The schema, as AWS publishes it (see the fixture's SOURCE.md).
fn schema() -> jsonschema::Validator {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../lambda-otel/tests/fixtures/xray-segmentdocument-schema-v1.0.0.json");
    let schema: Value = json(&std::fs::read_to_string(path).unwrap());
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    jsonschema::draft4::new(&schema).expect("the schema compiles")
}

/// A UDP socket standing in for the X-Ray daemon, and the documents it received, by trace id.
struct Daemon {
    socket: UdpSocket,
    documents: HashMap<String, Vec<Value>>,
    schema: jsonschema::Validator,
}

impl Daemon {
    fn bind() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        Daemon { socket, documents: HashMap::new(), schema: schema() }
    }

    fn address(&self) -> String {
        self.socket.local_addr().unwrap().to_string()
    }

    /// Receives what is there within `wait`; every datagram is checked against the schema as it arrives.
    fn receive(&mut self, wait: Duration) {
        let deadline = std::time::Instant::now() + wait;
        let mut datagram = vec![0; 65_536];
        while std::time::Instant::now() < deadline {
            let Ok(length) = self.socket.recv(&mut datagram) else { continue };
            let text = String::from_utf8_lossy(&datagram[..length]).into_owned();
            let document = datagram[..length].strip_prefix(HEADER).unwrap_or_else(|| panic!("no header: {text}"));
            let document: Value = serde_json::from_slice(document).unwrap_or_else(|error| panic!("{error}: {text}"));
            let errors: Vec<String> = self.schema.iter_errors(&document).map(|error| error.to_string()).collect();
            assert!(errors.is_empty(), "not a valid segment document: {errors:#?}\n{document:#}");
            let trace_id = document["trace_id"].as_str().expect("a trace_id").to_string();
            self.documents.entry(trace_id).or_default().push(document);
        }
    }

    /// The documents of `trace_id`, waiting up to [`ARRIVAL`] for the first.
    fn documents_of(&mut self, trace_id: &str) -> Vec<Value> {
        let deadline = std::time::Instant::now() + ARRIVAL;
        while !self.documents.contains_key(trace_id) && std::time::Instant::now() < deadline {
            self.receive(Duration::from_millis(200));
        }
        // Anything else of the trace would come with the same flush.
        self.receive(Duration::from_millis(300));
        self.documents.remove(trace_id).unwrap_or_default()
    }
}

/// apigw-local running `bootstrap` with the daemon and `exporters` (a comma list, kept whole by `--function-env`),
/// its spans sent after every invocation: the pacing of dense invocations is lambda-otel's delivery tests' subject.
fn gateway(daemon: &Daemon, exporters: &str) -> Gateway {
    let daemon = format!("AWS_XRAY_DAEMON_ADDRESS={}", daemon.address());
    let exporters = format!("OTEL_TRACES_EXPORTER={exporters}");
    let bootstrap = bootstrap();
    let args = ["--function", bootstrap.to_str().unwrap(), "--concurrency", "1", "--trace-view", "json"];
    let env =
        ["--function-env", &daemon, "--function-env", &exporters, "--function-env", "LAMBDA_OTEL_EXPORT_INTERVAL_MS=0"];
    Gateway::start(&[&args[..], &env].concat())
}

/// The runtime trace header of a request, as apigw-local returned it: (`Root`, `Parent`, `Sampled`).
fn trace_header(headers: &reqwest::header::HeaderMap) -> (String, String, String) {
    let header = headers.get("x-amzn-trace-id").expect("X-Amzn-Trace-Id").to_str().unwrap();
    let field = |name: &str| {
        header
            .split(';')
            .find_map(|part| part.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {header}"))
    };
    (field("Root=").to_string(), field("Parent=").to_string(), field("Sampled=").to_string())
}

fn seconds(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// What a request should have made.
struct Expected<'a> {
    status: u16,
    children: &'a [&'a str],
    coldstart: bool,
}

/// Checks the one document of a request: an independent subsegment of the runtime header's segment, with its
/// children nested, its http block, flags and annotations; returns its id.
fn check_request_document(
    documents: &[Value],
    headers: &reqwest::header::HeaderMap,
    expected: &Expected<'_>,
) -> String {
    let (root, parent, sampled) = trace_header(headers);
    assert_eq!(sampled, "1");
    let [document] = documents else { panic!("one datagram for the request: {documents:#?}") };
    assert_eq!(document["trace_id"], root.as_str());
    assert_eq!(document["parent_id"], parent.as_str(), "the segment Lambda-Runtime-Trace-Id names");
    assert_eq!(document["type"], "subsegment");
    assert_eq!(document["name"], "POST /helloworld");
    let id = document["id"].as_str().unwrap();
    assert!(id.len() == 16 && id.bytes().all(|byte| byte.is_ascii_hexdigit()), "{id}");
    let (start, end) = (seconds(&document["start_time"]), seconds(&document["end_time"]));
    assert!(start <= end && end <= now() && now() - start < 60.0, "{start} {end}");

    let children = document["subsegments"].as_array().expect("nested subsegments");
    let names: Vec<&str> = children.iter().map(|child| child["name"].as_str().unwrap()).collect();
    assert_eq!(names, expected.children, "{document:#}");
    let mut previous_end = start;
    for child in children {
        let (child_start, child_end) = (seconds(&child["start_time"]), seconds(&child["end_time"]));
        assert!(previous_end <= child_start && child_start <= child_end && child_end <= end, "{document:#}");
        previous_end = child_end;
        assert_eq!(child.get("trace_id"), None, "nested: the trace is its parent's");
        assert_eq!((&child["fault"], &child["error"]), (&Value::Bool(false), &Value::Bool(false)));
    }

    let http = &document["http"];
    assert_eq!(http["request"]["method"], "POST");
    assert_eq!(http["request"]["client_ip"], "127.0.0.1");
    assert_eq!(http["request"]["x_forwarded_for"], true);
    assert_eq!(http["request"]["user_agent"], "xray-segments-test");
    assert_eq!(http["response"]["status"], expected.status);
    let client_error = (400..500).contains(&expected.status);
    assert_eq!(document["error"], client_error);
    assert_eq!(document["throttle"], expected.status == 429);
    assert_eq!(document["fault"], expected.status >= 500);

    assert_eq!(document["annotations"]["http_route"], "/helloworld");
    assert_eq!(document["annotations"]["faas_coldstart"], expected.coldstart);
    let metadata = &document["metadata"]["default"];
    assert_eq!(metadata["faas.invocation_id"], headers["x-amzn-requestid"].to_str().unwrap());
    assert_eq!(metadata["faas.trigger"], "http");
    assert_eq!(metadata["url.path"], "/helloworld");
    assert_eq!(document["aws"]["xray"]["sdk"], "lambda-otel for rust");
    id.to_string()
}

fn request(gateway: &Gateway, body: &str) -> reqwest::RequestBuilder {
    client()
        .post(gateway.url("/test/helloworld?name=John&city=Seattle"))
        .header("content-type", "application/json")
        .header("user-agent", "xray-segments-test")
        .body(body.to_string())
}

/// The JSON trace-view line of `trace_id` (in its 32-hex-digit form) on the gateway's stdout.
fn trace_view(gateway: &Gateway, root: &str) -> Value {
    let trace_id = root.strip_prefix("1-").unwrap().replace('-', "");
    let is_trace = |line: &str| line.starts_with(r#"{"trace":"#) && line.contains(&trace_id);
    let lines = gateway.stdout_until(is_trace);
    let line =
        lines.iter().find(|line| is_trace(line)).unwrap_or_else(|| panic!("no trace view of {root}: {lines:#?}"));
    json(line)["trace"].clone()
}

fn span<'a>(trace: &'a Value, service: &str, kind: &str) -> &'a Value {
    let spans = trace["spans"].as_array().unwrap();
    spans
        .iter()
        .find(|span| span["service"] == service && span["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} span of {service}: {trace:#}"))
}

#[tokio::test]
async fn each_request_is_one_segment_document_under_the_runtime_trace_header() {
    let mut daemon = Daemon::bind();
    let gateway = gateway(&daemon, "xray");
    let cases = [
        (r#"{ "time": "evening" }"#, Expected { status: 200, children: &["decode body", "greeting"], coldstart: true }),
        ("not JSON", Expected { status: 400, children: &["decode body"], coldstart: false }),
        ("", Expected { status: 200, children: &["decode body", "greeting"], coldstart: false }),
    ];
    for (body, expected) in &cases {
        let (status, headers, text) = send(request(&gateway, body)).await;
        assert_eq!(status, expected.status, "{text}");
        let (root, parent, _) = trace_header(&headers);
        let documents = daemon.documents_of(&root);
        check_request_document(&documents, &headers, expected);

        // The parent is the gateway's own Lambda.Invoke span, as its trace view shows it; the function exported no
        // OTLP spans (xray only), so the view says it is missing.
        let trace = trace_view(&gateway, &root);
        assert_eq!(span(&trace, "apigw-local", "client")["spanId"], parent.as_str());
        assert_eq!(trace["missing"], "function", "{trace:#}");
    }

    // A caller's Sampled=0 goes on to the runtime header: nothing is sent to X-Ray for it.
    let unsampled = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=0";
    let (status, headers, _) = send(request(&gateway, "").header("x-amzn-trace-id", unsampled)).await;
    assert_eq!(status, 200);
    let (root, _, sampled) = trace_header(&headers);
    assert_eq!((root.as_str(), sampled.as_str()), ("1-6759e988-bd862e3fe1be46a994272794", "0"));
    daemon.receive(Duration::from_secs(2));
    assert!(daemon.documents.is_empty(), "datagrams for an unsampled invocation: {:#?}", daemon.documents);
}

#[tokio::test]
async fn with_both_exporters_x_ray_and_otlp_get_the_same_spans() {
    let mut daemon = Daemon::bind();
    let gateway = gateway(&daemon, "otlp,xray");
    let (status, headers, _) = send(request(&gateway, r#"{ "time": "morning" }"#)).await;
    assert_eq!(status, 200);
    let (root, parent, _) = trace_header(&headers);
    let expected = Expected { status: 200, children: &["decode body", "greeting"], coldstart: true };
    let id = check_request_document(&daemon.documents_of(&root), &headers, &expected);

    // The trace view got the function's spans over OTLP: the same SERVER span, under the same parent.
    let trace = trace_view(&gateway, &root);
    assert_eq!(trace["missing"], Value::Null, "{trace:#}");
    let invoke = span(&trace, "apigw-local", "client");
    assert_eq!(invoke["spanId"], parent.as_str());
    let function = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|span| span["kind"] == "server" && span["parentSpanId"] == parent.as_str())
        .unwrap_or_else(|| panic!("the function's SERVER span: {trace:#}"));
    assert_eq!(function["spanId"], id.as_str());
}

#[test]
fn the_schema_is_enforced_and_takes_a_cause_as_lambda_otel_writes_it() {
    let schema = schema();
    let document = serde_json::json!({
        "name": "POST /helloworld",
        "id": "0000000000000001",
        "trace_id": "1-6759e988-bd862e3fe1be46a994272794",
        "start_time": 1_733_000_000.000_01,
        "end_time": 1_733_000_000.000_99,
        "type": "subsegment",
        "parent_id": "63995c3f42cd8ad9",
        "fault": true,
        "error": false,
        "throttle": false,
        "cause": {"exceptions": [{"id": "1a2b3c4d5e6f7a8b", "message": "the handler panicked"}]},
        "subsegments": [{"name": "decode body", "id": "0000000000000002", "start_time": 1_733_000_000.000_02}],
    });
    assert!(
        schema.is_valid(&document),
        "{:?}",
        schema.iter_errors(&document).map(|e| e.to_string()).collect::<Vec<_>>()
    );
    for (pointer, bad) in [
        ("/id", Value::from("00000001")),
        ("/name", Value::from("GET /{proxy+}")),
        ("/trace_id", Value::from("6759e988bd862e3fe1be46a994272794")),
        ("/start_time", Value::from("1733000000")),
        ("/cause/exceptions/0/id", Value::from("short")),
        ("/subsegments/0/name", Value::from("")),
    ] {
        let mut invalid = document.clone();
        *invalid.pointer_mut(pointer).unwrap() = bad;
        assert!(!schema.is_valid(&invalid), "{pointer} should be rejected");
    }
}
