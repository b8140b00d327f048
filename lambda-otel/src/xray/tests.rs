use super::*;
use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};
use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
use serde_json::{Value as Json, json};
use std::time::Duration;

const TRACE: &str = "6759e98843bd862e3fe1be46";
const TRACE_ID: u128 = 0x6759e988_bd862e3fe1be46a994272794;
const LAMBDA_SEGMENT: u64 = 0x63995c3f42cd8ad9;
const SERVICE: &str = "hello";

fn at(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(1_733_000_000_000_000 + micros)
}

fn span(id: u64, parent: u64, remote: bool, kind: SpanKind, name: &str, attributes: Vec<KeyValue>) -> SpanData {
    let context =
        SpanContext::new(TraceId::from(TRACE_ID), SpanId::from(id), TraceFlags::SAMPLED, false, TraceState::default());
    SpanData {
        span_context: context,
        parent_span_id: SpanId::from(parent),
        parent_span_is_remote: remote,
        span_kind: kind,
        name: name.to_string().into(),
        start_time: at(id * 10),
        end_time: at(1000 - id * 10),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: Default::default(),
    }
}

fn server(status: i64) -> SpanData {
    let attributes = vec![
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("http.route", "/helloworld"),
        KeyValue::new("url.path", "/helloworld"),
        KeyValue::new("url.scheme", "https"),
        KeyValue::new("user_agent.original", "curl/8.5.0"),
        KeyValue::new("client.address", "203.0.113.7"),
        KeyValue::new("faas.trigger", "http"),
        KeyValue::new("faas.invocation_id", "request-1"),
        KeyValue::new("faas.coldstart", true),
        KeyValue::new("http.response.status_code", status),
    ];
    span(1, LAMBDA_SEGMENT, true, SpanKind::Server, "POST /helloworld", attributes)
}

/// The documents `spans` make, each datagram checked for its header.
fn documents(spans: &[SpanData]) -> Vec<Json> {
    let mut documents = Vec::new();
    let too_big = datagrams(spans, SERVICE, |datagram| {
        assert!(datagram.len() <= MAX_DATAGRAM);
        let document = datagram.strip_prefix(HEADER).expect("the daemon's header line first");
        documents.push(serde_json::from_slice(document).expect("a JSON document"));
    });
    assert_eq!(too_big, 0);
    documents
}

fn invocation(status: i64) -> Vec<SpanData> {
    vec![
        span(3, 1, false, SpanKind::Internal, "greeting", vec![]),
        server(status),
        span(2, 1, false, SpanKind::Internal, "decode body", vec![]),
    ]
}

#[test]
fn an_invocation_is_one_independent_subsegment_of_lambdas_segment_with_its_children_nested() {
    let [document] = &documents(&invocation(200))[..] else { panic!("one datagram") };
    assert_eq!(
        *document,
        json!({
            "name": "POST /helloworld",
            "id": "0000000000000001",
            "trace_id": "1-6759e988-bd862e3fe1be46a994272794",
            "start_time": 1_733_000_000.000_01,
            "end_time": 1_733_000_000.000_99,
            "type": "subsegment",
            "parent_id": "63995c3f42cd8ad9",
            "fault": false,
            "error": false,
            "throttle": false,
            "http": {
                "request": {
                    "method": "POST",
                    "user_agent": "curl/8.5.0",
                    "client_ip": "203.0.113.7",
                    "x_forwarded_for": true,
                },
                "response": {"status": 200},
            },
            "aws": {"xray": {"sdk": "lambda-otel for rust", "sdk_version": env!("CARGO_PKG_VERSION")}},
            "annotations": {"http_route": "/helloworld", "faas_coldstart": true},
            "metadata": {"default": {
                "url.path": "/helloworld",
                "url.scheme": "https",
                "faas.trigger": "http",
                "faas.invocation_id": "request-1",
            }},
            "subsegments": [
                {
                    "name": "decode body", "id": "0000000000000002",
                    "start_time": 1_733_000_000.000_02, "end_time": 1_733_000_000.000_98,
                    "fault": false, "error": false, "throttle": false,
                },
                {
                    "name": "greeting", "id": "0000000000000003",
                    "start_time": 1_733_000_000.000_03, "end_time": 1_733_000_000.000_97,
                    "fault": false, "error": false, "throttle": false,
                },
            ],
        })
    );
    assert!(TRACE.starts_with("6759e988"), "the trace id's first 8 hex digits are X-Ray's epoch seconds");
}

#[test]
fn times_are_epoch_seconds_to_the_microsecond() {
    let mut span = server(200);
    span.start_time = UNIX_EPOCH + Duration::new(1_733_000_000, 123_456_789);
    span.end_time = UNIX_EPOCH + Duration::new(1_733_000_001, 999_999_999);
    let datagram = {
        let mut sent = Vec::new();
        datagrams(&[span], SERVICE, |datagram| sent = datagram.to_vec());
        String::from_utf8(sent).unwrap()
    };
    assert!(datagram.contains("\"start_time\":1733000000.123456,"), "{datagram}");
    assert!(datagram.contains("\"end_time\":1733000001.999999,"), "{datagram}");
}

#[test]
fn status_codes_set_error_throttle_and_fault() {
    let flags = |document: &Json| {
        (
            document["error"].as_bool().unwrap(),
            document["throttle"].as_bool().unwrap(),
            document["fault"].as_bool().unwrap(),
        )
    };
    for (status, expected) in [
        (200, (false, false, false)),
        (400, (true, false, false)),
        (404, (true, false, false)),
        (429, (true, true, false)),
        (500, (false, false, true)),
        (503, (false, false, true)),
    ] {
        let [document] = &documents(&[server(status)])[..] else { panic!() };
        assert_eq!(flags(document), expected, "{status}");
        assert_eq!(document["http"]["response"]["status"], status, "{status}");
    }

    // A failure without an HTTP status (an invalid event, a failed child): a fault, with the description as cause.
    let mut failed =
        span(1, LAMBDA_SEGMENT, true, SpanKind::Server, "hello", vec![KeyValue::new("error.type", "invalid_event")]);
    failed.status = Status::error("");
    let [document] = &documents(&[failed.clone()])[..] else { panic!() };
    assert_eq!(flags(document), (false, false, true));
    assert_eq!(document.get("cause"), None, "no description, no cause");
    assert_eq!(document.get("http"), None);
    assert_eq!(document["annotations"], json!({"error_type": "invalid_event"}));
    assert_eq!(document.get("metadata"), None);
    failed.status = Status::error("the handler panicked");
    let [document] = &documents(&[failed])[..] else { panic!() };
    let exceptions = document["cause"]["exceptions"].as_array().unwrap();
    assert_eq!(exceptions.len(), 1);
    assert_eq!(exceptions[0]["message"], "the handler panicked");
    assert_eq!(exceptions[0]["id"].as_str().unwrap().len(), 16);

    // The status code decides for an HTTP span, as the status does not always say: a 4xx with an Error status.
    let mut client_error = server(404);
    client_error.status = Status::error("");
    let [document] = &documents(&[client_error])[..] else { panic!() };
    assert_eq!(flags(document), (true, false, false));
}

#[test]
fn annotation_keys_are_the_attributes_with_underscores() {
    for (attribute, key) in INDEXED {
        let expected: String = attribute.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        assert_eq!(key, expected);
    }
    // Values: strings (at most 1000 characters), numbers, booleans; anything else stays metadata.
    let attributes = vec![
        KeyValue::new("http.route", "r".repeat(1200)),
        KeyValue::new("faas.coldstart", false),
        KeyValue::new("error.type", Value::Array(vec![1i64, 2].into())),
        KeyValue::new("retries", 2),
        KeyValue::new("ratio", 0.5),
        KeyValue::new("tags", Value::Array(vec![opentelemetry::StringValue::from("a")].into())),
    ];
    let [document] = &documents(&[span(1, 0, false, SpanKind::Internal, "work", attributes)])[..] else { panic!() };
    assert_eq!(document["annotations"]["http_route"].as_str().unwrap().len(), 1000);
    assert_eq!(document["annotations"]["faas_coldstart"], false);
    assert_eq!(document["annotations"].as_object().unwrap().len(), 2);
    assert_eq!(
        document["metadata"]["default"],
        json!({"error.type": [1, 2], "retries": 2, "ratio": 0.5, "tags": ["a"]})
    );
}

#[test]
fn a_span_without_any_parent_is_a_segment_named_after_the_service() {
    let [document] = &documents(&[span(1, 0, false, SpanKind::Server, "GET /", vec![])])[..] else { panic!() };
    assert_eq!(document["name"], SERVICE);
    assert_eq!(document.get("type"), None);
    assert_eq!(document.get("parent_id"), None);
    assert_eq!(document["trace_id"], "1-6759e988-bd862e3fe1be46a994272794");
}

#[test]
fn names_keep_to_what_x_ray_allows() {
    assert_eq!(segment_name("POST /helloworld"), "POST /helloworld");
    assert_eq!(segment_name("ANY /{proxy+}"), "ANY /proxy+");
    assert_eq!(segment_name("Grüße_1.2:3/4%5&6#7=8+9\\-@"), "Grüße_1.2:3/4%5&6#7=8+9\\-@");
    assert_eq!(segment_name("{}"), "span");
    assert_eq!(segment_name(&"a".repeat(300)).len(), 200);

    let calls = [
        (SpanKind::Client, vec![KeyValue::new("peer.service", "greetings-api")], "greetings-api", Some("remote")),
        (SpanKind::Client, vec![KeyValue::new("server.address", "example.com")], "example.com", Some("remote")),
        (
            SpanKind::Client,
            vec![KeyValue::new("rpc.system", "aws-api"), KeyValue::new("rpc.service", "DynamoDB")],
            "DynamoDB",
            Some("aws"),
        ),
        (SpanKind::Internal, vec![KeyValue::new("server.address", "example.com")], "call", None),
    ];
    for (kind, attributes, name, namespace) in calls {
        let [document] = &documents(&[span(2, 1, false, kind.clone(), "call", attributes)])[..] else { panic!() };
        assert_eq!((document["name"].as_str(), document["namespace"].as_str()), (Some(name), namespace), "{kind:?}");
        assert_eq!(
            (document["type"].as_str(), document["parent_id"].as_str()),
            (Some("subsegment"), Some("0000000000000001"))
        );
    }
}

#[test]
fn a_client_span_gets_its_url() {
    let attributes = vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.scheme", "https"),
        KeyValue::new("server.address", "example.com"),
        KeyValue::new("server.port", 443),
        KeyValue::new("url.path", "/greetings"),
        KeyValue::new("url.query", "lang=en"),
        KeyValue::new("http.response.status_code", 200),
    ];
    let [document] = &documents(&[span(2, 1, false, SpanKind::Client, "GET", attributes)])[..] else { panic!() };
    assert_eq!(document["http"]["request"], json!({"method": "GET", "url": "https://example.com/greetings?lang=en"}));
    assert_eq!(document.get("metadata"), None, "every attribute is in the http block");
    let full = vec![KeyValue::new("url.full", "http://example.com:8080/x")];
    let [document] = &documents(&[span(2, 1, false, SpanKind::Client, "GET", full)])[..] else { panic!() };
    assert_eq!(document["http"]["request"]["url"], "http://example.com:8080/x");

    // The schema's 250 characters at most for each request field.
    let long = vec![KeyValue::new("user_agent.original", "u".repeat(300)), KeyValue::new("url.full", "é".repeat(300))];
    let [document] = &documents(&[span(2, 1, false, SpanKind::Client, "GET", long)])[..] else { panic!() };
    assert_eq!(document["http"]["request"]["user_agent"].as_str().unwrap().chars().count(), 250);
    assert_eq!(document["http"]["request"]["url"].as_str().unwrap().chars().count(), 250);
}

#[test]
fn a_tree_too_big_for_a_datagram_goes_as_independent_subsegments() {
    let big = || vec![KeyValue::new("payload", "x".repeat(40_000))];
    let spans = vec![
        server(200),
        span(2, 1, false, SpanKind::Internal, "decode body", big()),
        span(3, 1, false, SpanKind::Internal, "greeting", big()),
        span(4, 3, false, SpanKind::Internal, "inner", vec![]),
    ];
    let documents = documents(&spans);
    let summary: Vec<(&str, Option<&str>, Option<&str>, usize)> = documents
        .iter()
        .map(|document| {
            let nested = document.get("subsegments").and_then(Json::as_array).map_or(0, Vec::len);
            (document["id"].as_str().unwrap(), document["parent_id"].as_str(), document["type"].as_str(), nested)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("0000000000000001", Some("63995c3f42cd8ad9"), Some("subsegment"), 0),
            ("0000000000000002", Some("0000000000000001"), Some("subsegment"), 0),
            ("0000000000000003", Some("0000000000000001"), Some("subsegment"), 1),
        ]
    );
    for document in &documents {
        assert_eq!(document["trace_id"], "1-6759e988-bd862e3fe1be46a994272794");
    }

    // One span over the size even alone: sent without its attributes, else not at all (and counted).
    let huge = span(5, 1, false, SpanKind::Internal, "huge", vec![KeyValue::new("payload", "x".repeat(70_000))]);
    let mut sent = Vec::new();
    assert_eq!(datagrams(std::slice::from_ref(&huge), SERVICE, |datagram| sent.push(datagram.len())), 0);
    assert_eq!(sent.len(), 1);
    let mut enormous = huge;
    enormous.status = Status::error("e".repeat(70_000));
    assert_eq!(datagrams(&[enormous], SERVICE, |_| panic!("nothing fits")), 1, "counted");
}

#[test]
fn spans_of_several_invocations_are_several_datagrams() {
    let mut spans = invocation(200);
    let mut other = invocation(400);
    for span in &mut other {
        let id = u64::from_be_bytes(span.span_context.span_id().to_bytes()) + 10;
        let context = SpanContext::new(
            TraceId::from(TRACE_ID + 1),
            SpanId::from(id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        span.span_context = context;
        if !span.parent_span_is_remote {
            span.parent_span_id = SpanId::from(11);
        }
    }
    spans.extend(other);
    let documents = documents(&spans);
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[1]["trace_id"], "1-6759e988-bd862e3fe1be46a994272795");
    assert_eq!(documents[1]["subsegments"].as_array().unwrap().len(), 2);
    assert_eq!(documents[1]["error"], true);
}

#[test]
fn the_daemon_gets_each_document_as_one_datagram_and_failures_cost_nothing() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let daemon = Daemon::bind(&receiver.local_addr().unwrap().to_string()).unwrap();
    datagrams(&invocation(200), SERVICE, |datagram| daemon.send(datagram));
    let mut buffer = [0; MAX_DATAGRAM];
    let length = receiver.recv(&mut buffer).unwrap();
    let document: Json = serde_json::from_slice(buffer[..length].strip_prefix(HEADER).unwrap()).unwrap();
    assert_eq!(document["name"], "POST /helloworld");

    // A destination the socket may not send to (broadcast, not enabled): every send fails at once, none blocks.
    let refused = Daemon::bind("255.255.255.255:2000").unwrap();
    let started = std::time::Instant::now();
    for _ in 0..100 {
        refused.send(b"{}");
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(refused.failures.load(std::sync::atomic::Ordering::Relaxed), 100);
    assert!(Daemon::bind("no-such-host.invalid:2000").is_err());
}
