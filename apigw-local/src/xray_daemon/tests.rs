use serde_json::{Value, json};

use super::document::{self, Refusal};
use super::*;

const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// An independent subsegment as the function sends it: its SERVER span with two steps, the second one failed.
fn function_document() -> Value {
    json!({
        "type": "subsegment",
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        "parent_id": "53995c3f42cd8ad8",
        "id": "70de5b6f19ff9a0a",
        "name": "POST /helloworld",
        "start_time": 1_700_000_000.25,
        "end_time": 1_700_000_000.262_5,
        "http": {"request": {"method": "POST", "url": "http://localhost/helloworld"}, "response": {"status": 503}},
        "fault": true,
        "subsegments": [
            {"id": "aaaaaaaaaaaaaaaa", "name": "decode body", "start_time": 1_700_000_000.25,
             "end_time": 1_700_000_000.251, "subsegments": [
                 {"id": "cccccccccccccccc", "name": "parse", "start_time": 1_700_000_000.25, "in_progress": true}
             ]},
            {"id": "bbbbbbbbbbbbbbbb", "name": "greeting", "start_time": 1_700_000_000.251,
             "end_time": 1_700_000_000.253, "error": true, "throttle": true,
             "http": {"response": {"status": 429}}}
        ]
    })
}

fn with_header(document: &str) -> Vec<u8> {
    format!("{HEADER}{document}").into_bytes()
}

#[test]
fn a_document_is_drawn_as_a_tree_one_line_per_subsegment() {
    let datagram = with_header(&function_document().to_string());
    let text = document::parse(&datagram).unwrap().text();
    let expected = [
        "xray POST /helloworld    12.500 ms  POST 503  fault  trace 1-5759e988-bd862e3fe1be46a994272793  parent 53995c3f42cd8ad8  id 70de5b6f19ff9a0a",
        "xray ├─ decode body       1.000 ms",
        "xray │  └─ parse       in progress",
        "xray └─ greeting          2.000 ms  429  error  throttle",
    ];
    assert_eq!(text, expected.map(|line| format!("{line}\n")).concat());
}

#[test]
fn missing_fields_are_dashes_and_control_characters_cannot_break_a_line() {
    let datagram = with_header(r#"{"name": "two\nlines", "subsegments": [{}], "parent_id": 7}"#);
    let text = document::parse(&datagram).unwrap().text();
    assert_eq!(text, "xray two\u{fffd}lines  - ms  trace -  parent 7  id -\nxray └─ -       - ms\n");
    let segment = with_header(r#"{"name": "a segment", "id": "1", "trace_id": "t", "start_time": 1, "end_time": 2}"#);
    let text = document::parse(&segment).unwrap().text();
    assert_eq!(text, "xray a segment  1000.000 ms  trace t  id 1\n", "a segment without a parent has no parent column");
}

#[test]
fn the_json_line_is_the_document_as_received_on_one_line() {
    let pretty = serde_json::to_string_pretty(&function_document()).unwrap();
    assert!(pretty.contains('\n'));
    let received = with_header(&format!("{pretty}\r\n"));
    let line = document::parse(&received).unwrap().json_line();
    assert_eq!(line.matches('\n').count(), 1);
    assert!(line.ends_with("}\n"));
    let parsed: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed, json!({"xray": function_document()}));
    // The document's own text, key order and all: only its line breaks became spaces.
    let compact = r#"{"name":"b","id":"2","trace_id":"t","start_time":1.5,"end_time":2}"#;
    assert_eq!(document::parse(&with_header(compact)).unwrap().json_line(), format!("{{\"xray\":{compact}}}\n"));
}

#[test]
fn the_header_is_read_as_json_and_anything_else_is_refused_with_its_reason() {
    let document = r#"{"name":"a"}"#;
    assert!(document::parse(format!("{{ \"version\":1,\"format\":\"json\" }}\n{document}").as_bytes()).is_ok());
    for bad in [
        document.to_string(),
        format!("{document}\n{document}"),
        format!("{{\"format\": \"json\", \"version\": 2}}\n{document}"),
        format!("{{\"format\": \"text\", \"version\": 1}}\n{document}"),
        format!("not json\n{document}"),
        String::new(),
    ] {
        assert_eq!(document::parse(bad.as_bytes()).unwrap_err(), Refusal::NoHeader, "{bad:?}");
    }
    assert!(matches!(document::parse(&with_header("{\"name\": ")), Err(Refusal::NotJson(_))));
    assert!(matches!(document::parse(&with_header("")), Err(Refusal::NotJson(_))));
    assert!(matches!(document::parse(b"{\"format\": \"json\", \"version\": 1}\n\xff\xfe"), Err(Refusal::NotJson(_))));
    assert_eq!(document::parse(&with_header("[1, 2]")).unwrap_err(), Refusal::NotAnObject("array"));
    assert_eq!(document::parse(&with_header("\"x\"")).unwrap_err(), Refusal::NotAnObject("string"));
    assert_eq!(
        Refusal::NoHeader.to_string(),
        "it does not start with the header line {\"format\": \"json\", \"version\": 1}"
    );
}

#[test]
fn the_format_follows_the_trace_view_flag() {
    assert_eq!(Shown::for_view(TraceView::Text, false), Shown::Text);
    assert_eq!(Shown::for_view(TraceView::Json, true), Shown::Json);
    for mode in [TraceView::Auto, TraceView::Off] {
        assert_eq!(Shown::for_view(mode, true), Shown::Text, "{mode:?}");
        assert_eq!(Shown::for_view(mode, false), Shown::Json, "{mode:?}");
    }
}

#[test]
fn functions_are_given_the_bound_address_and_loopback_for_all_interfaces() {
    let daemon = XrayDaemon::start("127.0.0.1:0".parse().unwrap(), Shown::Json).unwrap();
    assert_ne!(daemon.address().port(), 0, "the port the system chose");
    assert_eq!(daemon.function_environment(), (ADDRESS_VARIABLE.to_string(), daemon.address().to_string()));
    let everywhere = XrayDaemon::start("0.0.0.0:0".parse().unwrap(), Shown::Json).unwrap();
    let port = everywhere.address().port();
    assert_eq!(everywhere.function_address(), SocketAddr::from(([127, 0, 0, 1], port)));
    let taken = XrayDaemon::start(daemon.address(), Shown::Json);
    assert_eq!(taken.unwrap_err().kind(), io::ErrorKind::AddrInUse);
}
