//! `--xray-daemon`, end to end: apigw-local binds a UDP port standing in for the X-Ray daemon, its functions get
//! `AWS_XRAY_DAEMON_ADDRESS`, and what they send there is shown on stdout, as a tree of text lines or as the raw
//! document on one JSON line; a datagram that is not a segment document gets a warning, and SIGTERM still stops it.
//! functions/scripted.py (`act=xray`) sends the datagram the test gives it, with the ids of its runtime trace header.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{Gateway, client, json, scripted_function, send};
use serde_json::{Value, json};

const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// apigw-local with scripted.py, a daemon on a free port, the trace view in `mode`, and no OTLP endpoint.
fn gateway(mode: &str) -> Gateway {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
        ("OTEL_SDK_DISABLED", ""),
        ("NO_COLOR", "1"),
    ];
    let function = scripted_function();
    let args = ["--function", function.to_str().unwrap(), "--xray-daemon", "127.0.0.1:0", "--trace-view", mode];
    Gateway::start_with_env(&args, &env)
}

/// The daemon's address, from the line apigw-local says it on at start.
fn daemon_address(gateway: &Gateway) -> String {
    let line = gateway.startup.iter().find_map(|line| line.split_once("(daemon at udp ")).map(|(_, rest)| rest);
    let address = line.unwrap_or_else(|| panic!("no daemon address in {:?}", gateway.startup)).trim_end_matches(')');
    assert!(!address.ends_with(":0"), "the bound port, not the one asked for: {address}");
    address.to_string()
}

/// The function's document: its SERVER span as an independent subsegment under the runtime header's Parent, with a
/// step that failed; `{trace_id}` and `{parent_id}` are filled in by the function.
fn function_document() -> Value {
    json!({
        "type": "subsegment",
        "trace_id": "{trace_id}",
        "parent_id": "{parent_id}",
        "id": "70de5b6f19ff9a0a",
        "name": "GET /helloworld",
        "start_time": 1_700_000_000.25,
        "end_time": 1_700_000_000.262_5,
        "http": {"request": {"method": "GET", "url": "http://localhost/helloworld"}, "response": {"status": 200}},
        "subsegments": [
            {"id": "aaaaaaaaaaaaaaaa", "name": "decode body", "start_time": 1_700_000_000.25,
             "end_time": 1_700_000_000.251},
            {"id": "bbbbbbbbbbbbbbbb", "name": "greeting", "start_time": 1_700_000_000.251,
             "end_time": 1_700_000_000.253, "fault": true}
        ]
    })
}

/// What the function answered to `act=xray` with `datagram`: the body and the runtime trace header's Root and Parent.
async fn invoke_sending(gateway: &Gateway, datagram: &str) -> (Value, String, String) {
    // `+` is a space in a form's encoding only: API Gateway's query parameters are percent-decoded.
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("act", "xray")
        .append_pair("datagram", datagram)
        .finish()
        .replace('+', "%20");
    let (status, _, body) = send(client().get(gateway.url(&format!("/test/helloworld?{query}")))).await;
    assert_eq!(status, 200, "{body}");
    let body = json(&body);
    let header = body["runtime"]["lambda-runtime-trace-id"].as_str().expect("a runtime trace header").to_string();
    let parts: Vec<(&str, &str)> = header.split(';').map(|part| part.split_once('=').unwrap()).collect();
    let names: Vec<&str> = parts.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["Root", "Parent", "Sampled"], "{header}");
    assert_eq!(parts[2].1, "1", "sampled: {header}");
    let (root, parent) = (parts[0].1.to_string(), parts[1].1.to_string());
    assert!(root.starts_with("1-") && root.len() == 35, "{root}");
    assert!(parent.len() == 16 && parent.bytes().all(|byte| byte.is_ascii_hexdigit()), "{parent}");
    (body, root, parent)
}

/// The stdout lines until `done` says enough came (or 10 s pass).
fn stdout_until(gateway: &Gateway, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while !done(&lines) && Instant::now() < deadline {
        lines.extend(gateway.stdout_until(|_| true));
    }
    lines
}

#[tokio::test]
async fn the_functions_document_is_shown_as_a_tree_under_the_gateways_invoke() {
    let gateway = gateway("text");
    let address = daemon_address(&gateway);
    let datagram = format!("{HEADER}{}", function_document());
    let (body, root, parent) = invoke_sending(&gateway, &datagram).await;
    assert_eq!(body["daemon"], address.as_str(), "the function got the bound address");
    // The test's environment sets it empty (unset, to OpenTelemetry), which the function inherits.
    let endpoint = body["otlp_endpoint"].as_str().unwrap_or_default();
    assert_eq!(endpoint, "", "traces go to the daemon, as deployed, not to the trace view");

    let lines = stdout_until(&gateway, |lines| {
        lines.iter().any(|line| line.starts_with("xray └─ greeting"))
            && lines.iter().any(|line| line.contains("Lambda.Invoke"))
    });
    let tree: Vec<&str> = lines.iter().map(String::as_str).filter(|line| line.starts_with("xray ")).collect();
    let expected = [
        format!("xray GET /helloworld  12.500 ms  GET 200  trace {root}  parent {parent}  id 70de5b6f19ff9a0a"),
        "xray ├─ decode body    1.000 ms".to_string(),
        "xray └─ greeting       2.000 ms  fault".to_string(),
    ];
    assert_eq!(tree, expected, "{lines:#?}");
    // The trace view shows the gateway's spans at once, without waiting for the function's, which went to X-Ray.
    assert!(lines.iter().any(|line| line.contains("└─ Lambda.Invoke")), "{lines:#?}");
    assert!(!lines.iter().any(|line| line.contains("no spans from the function")), "{lines:#?}");
}

#[tokio::test]
async fn json_mode_shows_the_raw_document_on_one_line_whose_parent_is_the_gateways_invoke_span() {
    let gateway = gateway("json");
    let pretty = serde_json::to_string_pretty(&function_document()).unwrap();
    let (_, root, parent) = invoke_sending(&gateway, &format!("{HEADER}{pretty}")).await;

    let found = |lines: &[String], key: &str| lines.iter().find(|line| line.starts_with(key)).map(|line| json(line));
    let lines =
        stdout_until(&gateway, |lines| found(lines, "{\"xray\":").is_some() && found(lines, "{\"trace\":").is_some());
    let shown = found(&lines, "{\"xray\":").unwrap_or_else(|| panic!("{lines:#?}"));
    let mut expected = function_document();
    expected["trace_id"] = root.clone().into();
    expected["parent_id"] = parent.clone().into();
    assert_eq!(shown, json!({"xray": expected}));

    // The document hangs under the gateway's Lambda.Invoke span, which stands in for Lambda's function segment.
    let trace = found(&lines, "{\"trace\":").unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(trace["trace"]["traceId"], root.trim_start_matches("1-").replace('-', ""));
    let spans = trace["trace"]["spans"].as_array().unwrap();
    let invoke = spans.iter().find(|span| span["name"] == "Lambda.Invoke").expect("the gateway's invoke span");
    assert_eq!(invoke["spanId"], parent.as_str());
    assert!(spans.iter().all(|span| span["service"] == "apigw-local"), "only the gateway's spans: {spans:#?}");
}

#[test]
fn bad_datagrams_get_a_warning_each_and_the_listener_carries_on_and_stops_with_the_gateway() {
    // From its variable, with the Invoke back end (which runs no function) and stdout not a terminal: JSON lines.
    let env = [("APIGW_LOCAL_XRAY_DAEMON", "127.0.0.1:0"), ("OTEL_SDK_DISABLED", "true")];
    let mut gateway = Gateway::start_with_env(&["--invoke-url", "http://127.0.0.1:9/"], &env);
    assert!(gateway.startup.iter().any(|line| line.contains("X-Ray segment documents -> stdout as JSON lines")));
    let address = daemon_address(&gateway);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let bad: [&[u8]; 4] = [
        b"{\"name\": \"no header\"}",
        b"{\"format\": \"json\", \"version\": 1}\nnot json",
        b"{\"format\": \"json\", \"version\": 1}\n[1, 2]",
        b"\xff\xfe\x00binary",
    ];
    for datagram in bad {
        socket.send_to(datagram, &address).unwrap();
    }
    let good =
        r#"{"name":"after","id":"1","trace_id":"1-5759e988-bd862e3fe1be46a994272793","start_time":1,"end_time":2}"#;
    socket.send_to(format!("{HEADER}{good}").as_bytes(), &address).unwrap();

    let lines = stdout_until(&gateway, |lines| !lines.is_empty());
    assert_eq!(lines, [format!("{{\"xray\":{good}}}")]);
    let mut warnings = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while warnings.len() < 4 && Instant::now() < deadline {
        warnings.extend(gateway.stderr_lines().into_iter().filter(|line| line.contains("X-Ray")));
        std::thread::sleep(Duration::from_millis(20));
    }
    let from = socket.local_addr().unwrap();
    let expected = [
        (21, "it does not start with the header line {\"format\": \"json\", \"version\": 1}"),
        (41, "no JSON segment document after the header: expected ident at line 1 column 2"),
        (39, "the document is a JSON array, not a segment document (an object)"),
        (9, "it does not start with the header line {\"format\": \"json\", \"version\": 1}"),
    ]
    .map(|(bytes, reason)| {
        format!("apigw-local: X-Ray daemon: ignored a datagram of {bytes} bytes from {from}: {reason}")
    });
    assert_eq!(warnings, expected);

    let asked = Instant::now();
    let (status, _) = gateway.terminate();
    assert!(status.success(), "{status}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "SIGTERM stopped apigw-local with its listener in {:?}",
        asked.elapsed()
    );
}

#[test]
fn a_port_in_use_stops_apigw_local_at_start_with_the_reason() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_apigw-local"))
        .args(["--listen", "127.0.0.1:0", "--invoke-url", "http://127.0.0.1:9/", "--xray-daemon", &address])
        .env("OTEL_SDK_DISABLED", "true")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("apigw-local: cannot listen for X-Ray segments on udp {address}: ")), "{stderr}");
}
