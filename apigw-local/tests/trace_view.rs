//! The trace view, end to end: apigw-local with real `bootstrap` processes and no OTLP endpoint collects the traces of
//! both itself and shows each request on stdout, as text or as a JSON line. Nothing is exported anywhere else, so
//! nothing fails or warns.

mod common;

use std::time::{Duration, Instant};

use common::{Gateway, bootstrap, client, json, send};
use serde_json::Value;

const SEED_QUERY: &str = "/test/helloworld?name=John&city=Seattle";
const GREETING: &str = r#"{"greeting":"Good evening, John of Seattle. Happy Thursday!"}"#;
const FUNCTION: &str = "GetStartedLambdaProxyIntegration";
/// The tree of the seed request: depth, span name and service, in drawing order.
const TREE: [(usize, &str, &str); 5] = [
    (0, "POST /helloworld", "apigw-local"),
    (1, "Lambda.Invoke", "apigw-local"),
    (2, "POST /helloworld", FUNCTION),
    (3, "decode body", FUNCTION),
    (3, "greeting", FUNCTION),
];

/// The function's SERVER span (row 2) under the gateway's `Lambda.Invoke` (row 1).
const CROSS_PROCESS: Option<(usize, usize)> = Some((1, 2));

/// apigw-local with the view in `mode` and no endpoint: empty values count as unset, whatever the test's environment.
fn gateway(mode: &str) -> Gateway {
    let unset =
        [("OTEL_EXPORTER_OTLP_ENDPOINT", ""), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""), ("OTEL_SDK_DISABLED", "")];
    let env: Vec<(&str, &str)> = unset.into_iter().chain([("NO_COLOR", "1")]).collect();
    Gateway::start_with_env(&["--function", bootstrap().to_str().unwrap(), "--trace-view", mode], &env)
}

/// Sends the seed curl; returns the response's request id and trace id (the Root of `X-Amzn-Trace-Id`, in hex).
async fn seed_request(gateway: &Gateway) -> (String, String) {
    let request = client()
        .post(gateway.url(SEED_QUERY))
        .header("content-type", "application/json")
        .header("day", "Thursday")
        .body(r#"{ "time": "evening" }"#);
    let (status, headers, body) = send(request).await;
    assert_eq!((status, body.as_str()), (200, GREETING));
    let xray = headers["x-amzn-trace-id"].to_str().unwrap();
    let root = xray.split(';').next().unwrap().trim_start_matches("Root=1-").replace('-', "");
    (headers["x-amzn-requestid"].to_str().unwrap().to_string(), root)
}

/// The stdout lines from the one `is_start` accepts on, until `is_done` says the block is whole (or 10 s pass).
fn block(gateway: &Gateway, is_start: impl Fn(&str) -> bool, is_done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = gateway.stdout_until(&is_start);
    loop {
        let block: Vec<String> = lines.iter().skip_while(|line| !is_start(line)).cloned().collect();
        if is_done(&block) || Instant::now() > deadline {
            return block;
        }
        lines.extend(gateway.stdout_until(|_| true));
    }
}

/// One line of the text tree: depth, name, duration in ms, service, and the attributes shown.
#[derive(Debug)]
struct Row {
    depth: usize,
    name: String,
    duration_ms: f64,
    service: String,
    notes: String,
}

fn row(line: &str) -> Row {
    let line = line.strip_prefix("  ").unwrap_or_else(|| panic!("not a row of the tree: {line:?}"));
    let body = line.trim_start_matches(['│', '├', '└', '─', ' ']);
    let prefix = line.chars().count() - body.chars().count();
    assert_eq!(prefix % 3, 0, "each level is 3 columns: {line:?}");
    let columns: Vec<&str> = body.split("  ").map(str::trim).filter(|column| !column.is_empty()).collect();
    let duration = columns.get(1).and_then(|duration| duration.strip_suffix(" ms"));
    Row {
        depth: prefix / 3,
        name: columns[0].to_string(),
        duration_ms: duration.and_then(|ms| ms.parse().ok()).unwrap_or_else(|| panic!("no duration in {line:?}")),
        service: columns.get(2).map_or_else(String::new, |service| service.to_string()),
        notes: columns.get(3..).map(|notes| notes.join(" ")).unwrap_or_default(),
    }
}

/// Each span's parent: the closest row above it one level up.
fn parents(depths: &[usize]) -> Vec<Option<usize>> {
    (0..depths.len())
        .map(|child| (0..child).rev().find(|&above| depths[above] + 1 == depths[child]).filter(|_| depths[child] > 0))
        .collect()
}

/// Asserts that no child outlasts its parent and that siblings, which run one after the other, fit in it together.
/// `skip` names a (parent, child) pair of rows not held to it.
fn assert_durations_add_up(durations: &[f64], depths: &[usize], skip: Option<(usize, usize)>, shown: &str) {
    let parents = parents(depths);
    for (child, parent) in parents.iter().enumerate() {
        if let Some(parent) = *parent
            && skip != Some((parent, child))
        {
            assert!(durations[child] <= durations[parent], "span {child} outlasts its parent {parent}:\n{shown}");
        }
    }
    for parent in 0..durations.len() {
        let children: f64 =
            (0..durations.len()).filter(|&child| parents[child] == Some(parent)).map(|c| durations[c]).sum();
        let exempt = skip.is_some_and(|(skipped, _)| skipped == parent);
        assert!(exempt || children <= durations[parent] + 0.0005, "the children of span {parent} outlast it:\n{shown}");
    }
}

/// No export failed: the function warns on its stdout (JSON log lines), the gateway says so on stderr.
fn assert_nothing_failed(gateway: &Gateway, stdout: &[String]) {
    let warnings: Vec<&String> = stdout
        .iter()
        .filter(|line| line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#))
        .collect();
    assert!(warnings.is_empty(), "the function warned: {warnings:#?}");
    let stderr = gateway.stderr_lines();
    let failures: Vec<&String> =
        stderr.iter().filter(|line| line.contains("fail") || line.contains("dropped")).collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn the_terminal_view_shows_each_request_and_its_span_tree_from_gateway_to_function() {
    let gateway = gateway("text");
    let mut seen = Vec::new();
    for (attempt, coldstart) in [(1, true), (2, false)] {
        let (request_id, trace_id) = seed_request(&gateway).await;
        let is_header = |line: &str| line.starts_with("POST ") && line.ends_with(&format!("  trace {trace_id}"));
        let lines = block(&gateway, is_header, |block| block.len() > TREE.len());
        let shown = lines.join("\n");
        seen.extend(lines.iter().cloned());

        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(header[..3], ["POST", "/test/helloworld", "200"], "{shown}");
        assert_eq!((header[4], header[5]), ("ms", "trace"), "{shown}");
        let latency: f64 = header[3].parse().unwrap();

        assert!(lines.len() > TREE.len(), "attempt {attempt}: the tree is not whole:\n{shown}");
        let rows: Vec<Row> = lines[1..=TREE.len()].iter().map(|line| row(line)).collect();
        let drawn: Vec<(usize, &str, &str)> =
            rows.iter().map(|row| (row.depth, row.name.as_str(), row.service.as_str())).collect();
        assert_eq!(drawn, TREE, "{shown}");
        assert_eq!(latency, rows[0].duration_ms, "the request's latency is its gateway span's: {shown}");
        assert!(latency > 0.0, "{shown}");
        assert!(rows[0].notes.contains("http.route=/helloworld http.response.status_code=200"), "{shown}");
        let function_notes = format!("faas.coldstart={coldstart} faas.invocation_id={request_id}");
        assert!(rows[2].notes.ends_with(&function_notes), "attempt {attempt}: {shown}");

        let durations: Vec<f64> = rows.iter().map(|row| row.duration_ms).collect();
        let depths: Vec<usize> = rows.iter().map(|row| row.depth).collect();
        // Within each process. Across them they need not: the function's SERVER span ends after its response is
        // posted (docs/telemetry.md), when the gateway may already have it and have ended `Lambda.Invoke`.
        assert_durations_add_up(&durations, &depths, CROSS_PROCESS, &shown);
    }
    seen.extend(gateway.stdout_lines());
    assert_nothing_failed(&gateway, &seen);
}

#[tokio::test]
async fn without_a_terminal_the_view_writes_one_json_line_per_trace_beside_the_access_log() {
    let gateway = gateway("json");
    let (request_id, trace_id) = seed_request(&gateway).await;
    let is_trace = |line: &str| line.starts_with(r#"{"trace":"#) && line.contains(&trace_id);
    let lines = gateway.stdout_until(is_trace);
    let traces: Vec<Value> = lines.iter().filter(|line| is_trace(line)).map(|line| json(line)).collect();
    assert_eq!(traces.len(), 1, "{lines:#?}");
    let trace = &traces[0]["trace"];
    assert_eq!(trace["traceId"], trace_id.as_str());
    assert_eq!(trace["missing"], Value::Null);
    assert_eq!(trace["request"]["httpMethod"], "POST");
    assert_eq!(trace["request"]["path"], "/test/helloworld");
    assert_eq!(trace["request"]["status"], 200);

    let spans = trace["spans"].as_array().unwrap();
    let ids: Vec<&str> = spans.iter().map(|span| span["spanId"].as_str().unwrap()).collect();
    let parent_index =
        |span: &Value| span["parentSpanId"].as_str().and_then(|parent| ids.iter().position(|id| *id == parent));
    let mut depths: Vec<usize> = Vec::new();
    for span in spans {
        let depth = parent_index(span).map_or(0, |parent| depths[parent] + 1);
        depths.push(depth);
    }
    let drawn: Vec<(usize, &str, &str)> = spans
        .iter()
        .zip(&depths)
        .map(|(span, depth)| (*depth, span["name"].as_str().unwrap(), span["service"].as_str().unwrap()))
        .collect();
    assert_eq!(drawn, TREE, "{trace:#}");
    let kinds: Vec<&str> = spans.iter().map(|span| span["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["server", "client", "server", "internal", "internal"]);
    assert_eq!(spans[2]["attributes"]["faas.invocation_id"], request_id.as_str());
    // Each span starts within its parent, across the processes too: the function ran inside the invocation.
    assert_eq!(spans[0]["startOffsetMs"], 0.0);
    let start = |span: &Value| span["startOffsetMs"].as_f64().unwrap();
    let duration = |span: &Value| span["durationMs"].as_f64().unwrap();
    for (index, span) in spans.iter().enumerate().skip(1) {
        let parent = &spans[parent_index(span).unwrap()];
        assert!(start(span) >= start(parent), "span {index} starts before its parent: {trace:#}");
        assert!(
            start(span) <= start(parent) + duration(parent),
            "span {index} starts after its parent ended: {trace:#}"
        );
    }
    // The access log line of the request is there too, as it was without the view.
    assert!(lines.iter().any(|line| line.starts_with('{') && json(line)["requestId"] == request_id.as_str()));
}
