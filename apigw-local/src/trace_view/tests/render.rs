use super::*;
use crate::trace_view::assembly::{Missing, Trace};
use crate::trace_view::tree::rows;
use crate::trace_view::{json, text};

fn trace(missing: Option<Missing>) -> Trace {
    let spans = gateway_spans().into_iter().chain(function_spans()).collect();
    Trace { trace_id: TRACE, spans, missing, dropped_spans: 0 }
}

#[test]
fn the_tree_puts_parents_before_children_and_siblings_in_order_of_start() {
    let trace = trace(None);
    let drawn: Vec<(String, &str)> =
        rows(&trace.spans).iter().map(|row| (row.prefix.clone(), &*row.span.name)).collect();
    let expected = [
        ("", "POST /helloworld"),
        ("└─ ", "Lambda.Invoke"),
        ("   └─ ", "POST /helloworld"),
        ("      ├─ ", "decode body"),
        ("      └─ ", "greeting"),
    ];
    assert_eq!(drawn, expected.map(|(prefix, name)| (prefix.to_string(), name)));
}

#[test]
fn a_span_whose_parent_is_elsewhere_is_a_root_and_a_cycle_loses_no_span() {
    let mut spans = function_spans();
    // The function's SERVER span's parent (the gateway's Lambda.Invoke) is not in this trace.
    let drawn: Vec<&str> = rows(&spans).iter().map(|row| &*row.span.name).collect();
    assert_eq!(drawn, ["POST /helloworld", "decode body", "greeting"]);
    spans[2].parent_id = Some(id(5)); // server -> greeting -> server
    let drawn = rows(&spans);
    assert_eq!(drawn.len(), 3, "every span is drawn once");
}

#[test]
fn text_shows_the_request_then_the_tree_in_columns() {
    let expected = "\
POST /test/helloworld 200 4.800 ms  trace 6b1311a40102030405060708090a0b0c
  POST /helloworld        4.800 ms  apigw-local                       http.route=/helloworld http.response.status_code=200
  └─ Lambda.Invoke        4.500 ms  apigw-local
     └─ POST /helloworld  2.800 ms  GetStartedLambdaProxyIntegration  http.route=/helloworld http.response.status_code=200 faas.coldstart=true faas.invocation_id=c27b4b5e-4ee3-41fb-b88d-d44c6f13c1c4
        ├─ decode body    0.030 ms  GetStartedLambdaProxyIntegration
        └─ greeting       0.010 ms  GetStartedLambdaProxyIntegration
";
    assert_eq!(text::render(&trace(None), false), expected);
}

#[test]
fn text_says_what_is_missing_and_colours_only_when_asked() {
    let mut partial = trace(Some(Missing::Function));
    partial.spans.truncate(2);
    partial.spans[0] = with(partial.spans[0].clone(), &[("error.type", "timeout".into())]);
    partial.spans[0].error = true;
    let plain = text::render(&partial, false);
    assert!(!plain.contains('\x1b'), "{plain}");
    assert!(plain.contains("  error  error.type=timeout\n"), "{plain}");
    assert!(plain.ends_with(
        "  (no spans from the function: it crashed, timed out, exports elsewhere or has not exported yet)\n"
    ));
    let coloured = text::render(&partial, true);
    assert!(coloured.starts_with("\x1b[1mPOST /test/helloworld\x1b[0m \x1b[32m200\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[31mLambda.Invoke\x1b[0m"), "the failed span in red: {coloured}");

    let orphans = Trace { trace_id: TRACE, spans: function_spans(), missing: Some(Missing::Gateway), dropped_spans: 2 };
    let plain = text::render(&orphans, false);
    assert!(
        plain.starts_with("3 spans without their gateway request (late, or not traced here)  trace 6b13"),
        "{plain}"
    );
    assert!(plain.ends_with("  (2 more spans not kept)\n"), "{plain}");
}

#[test]
fn json_is_one_line_with_the_tree_in_drawing_order() {
    let line = json::render(&trace(None));
    assert_eq!(line.matches('\n').count(), 1);
    assert!(line.starts_with(r#"{"trace":{"traceId":"6b1311a40102030405060708090a0b0c","#), "{line}");
    let value: Value = serde_json::from_str(&line).unwrap();
    let trace = &value["trace"];
    assert_eq!(
        trace["request"],
        serde_json::json!({"httpMethod": "POST", "path": "/test/helloworld", "status": 200, "latencyMs": 4.8})
    );
    assert_eq!(trace["missing"], Value::Null);
    let spans = trace["spans"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str, f64, f64)> = spans
        .iter()
        .map(|span| {
            let text = |key: &str| span[key].as_str().unwrap_or("-");
            (
                text("name"),
                text("kind"),
                text("service"),
                span["startOffsetMs"].as_f64().unwrap(),
                span["durationMs"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("POST /helloworld", "server", "apigw-local", 0.0, 4.8),
            ("Lambda.Invoke", "client", "apigw-local", 0.1, 4.5),
            ("POST /helloworld", "server", FUNCTION, 1.2, 2.8),
            ("decode body", "internal", FUNCTION, 1.84, 0.03),
            ("greeting", "internal", FUNCTION, 1.9, 0.01),
        ]
    );
    assert_eq!(spans[0]["parentSpanId"], Value::Null);
    assert_eq!(spans[1]["parentSpanId"], spans[0]["spanId"]);
    assert_eq!(spans[2]["parentSpanId"], spans[1]["spanId"]);
    assert_eq!(spans[2]["attributes"]["faas.coldstart"], true);
    assert!(spans[3].get("droppedSpans").is_none() && trace.get("droppedSpans").is_none());
}
