//! A trace for programs: one JSON line, `{"trace": {...}}`, beside the access log lines on stdout. The top-level key
//! tells the two apart (an access log line's first key is `httpMethod`); the spans are in the order the text view
//! draws them, each with its parent's id, start offset from the trace's first span and duration in milliseconds.

use serde::Serialize;
use serde_json::{Map, Value};

use super::assembly::{Missing, Trace};
use super::model::Kind;
use super::tree::{self, Row};

#[derive(Serialize)]
struct Line<'a> {
    trace: TraceLine<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TraceLine<'a> {
    trace_id: String,
    /// The gateway's request; `null` for spans that arrived without it.
    request: Option<Request<'a>>,
    /// `"function"` or `"gateway"` when the trace was shown before those spans arrived.
    missing: Option<&'static str>,
    #[serde(skip_serializing_if = "is_zero")]
    dropped_spans: usize,
    spans: Vec<SpanLine<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    http_method: &'a str,
    path: &'a str,
    status: Option<i64>,
    latency_ms: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpanLine<'a> {
    span_id: String,
    parent_span_id: Option<String>,
    name: &'a str,
    kind: Kind,
    service: &'a str,
    start_offset_ms: f64,
    duration_ms: f64,
    error: bool,
    attributes: Map<String, Value>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// Renders `trace` as one JSON line, ending in a newline.
pub(crate) fn render(trace: &Trace) -> String {
    let rows = tree::rows(&trace.spans);
    let start = tree::trace_start(&trace.spans);
    let request = tree::summary(&rows).map(|summary| Request {
        http_method: summary.method,
        path: summary.path,
        status: summary.status,
        latency_ms: tree::millis(summary.latency_ns),
    });
    let line = Line {
        trace: TraceLine {
            trace_id: trace.trace_id.to_string(),
            request,
            missing: trace.missing.map(|missing| match missing {
                Missing::Function => "function",
                Missing::Gateway => "gateway",
            }),
            dropped_spans: trace.dropped_spans,
            spans: rows.iter().map(|row| span_line(row, start)).collect(),
        },
    };
    let mut text = serde_json::to_string(&line).expect("a trace line serializes");
    text.push('\n');
    text
}

fn span_line<'a>(row: &Row<'a>, trace_start: u64) -> SpanLine<'a> {
    let span = row.span;
    SpanLine {
        span_id: span.span_id.to_string(),
        parent_span_id: span.parent_id.map(|parent| parent.to_string()),
        name: &span.name,
        kind: span.kind,
        service: &span.service,
        start_offset_ms: tree::millis(span.start_ns.saturating_sub(trace_start)),
        duration_ms: tree::millis(span.duration_ns()),
        error: span.error,
        attributes: span.attributes.iter().cloned().collect(),
    }
}
