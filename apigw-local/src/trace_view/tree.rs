//! A trace's spans in the order they are drawn: each parent before its children, siblings by start time, with the
//! box-drawing prefix that shows the nesting. Shared by the text and the JSON rendering, so both show the same tree.

use std::collections::{HashMap, HashSet};

use opentelemetry::trace::SpanId;

use super::model::{Kind, Source, Span};

/// One span in drawing order.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub(crate) span: &'a Span,
    /// Drawn before the name: `""` for a root, else e.g. `│  └─ `.
    pub(crate) prefix: String,
}

/// The spans of a trace, each after its parent, siblings (and roots) in order of start. A span whose parent is not in
/// the trace is a root; spans caught in a parent cycle (which no SDK makes) are roots too, so that none is lost.
pub(crate) fn rows(spans: &[Span]) -> Vec<Row<'_>> {
    let ids: HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
    let mut children: HashMap<SpanId, Vec<&Span>> = HashMap::new();
    let mut roots = Vec::new();
    for span in spans {
        match span.parent_id.filter(|parent| ids.contains(parent) && *parent != span.span_id) {
            Some(parent) => children.entry(parent).or_default().push(span),
            None => roots.push(span),
        }
    }
    for siblings in children.values_mut() {
        siblings.sort_by_key(|span| span.start_ns);
    }
    roots.sort_by_key(|span| span.start_ns);
    let mut drawn = Drawing { children, visited: HashSet::new(), rows: Vec::with_capacity(spans.len()) };
    for root in roots {
        drawn.draw(root, String::new(), None);
    }
    // Whatever no root reached sits in a cycle: drawn as roots, in arrival order.
    for span in spans {
        if !drawn.visited.contains(&span.span_id) {
            drawn.draw(span, String::new(), None);
        }
    }
    drawn.rows
}

struct Drawing<'a> {
    children: HashMap<SpanId, Vec<&'a Span>>,
    visited: HashSet<SpanId>,
    rows: Vec<Row<'a>>,
}

impl<'a> Drawing<'a> {
    /// Draws `span` below the lines `indent` continues; `last` says whether it is its parent's last child (`None` for
    /// a root).
    fn draw(&mut self, span: &'a Span, indent: String, last: Option<bool>) {
        if !self.visited.insert(span.span_id) {
            return;
        }
        let (prefix, below) = match last {
            None => (String::new(), String::new()),
            Some(true) => (format!("{indent}└─ "), format!("{indent}   ")),
            Some(false) => (format!("{indent}├─ "), format!("{indent}│  ")),
        };
        self.rows.push(Row { span, prefix });
        let children = self.children.remove(&span.span_id).unwrap_or_default();
        let count = children.len();
        for (index, child) in children.into_iter().enumerate() {
            self.draw(child, below.clone(), Some(index + 1 == count));
        }
    }
}

/// What a request's header line says: the gateway's SERVER span's method, path, status and duration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: Option<i64>,
    pub(crate) latency_ns: u64,
}

/// The summary of the first gateway SERVER span in `rows`, if there is one.
pub(crate) fn summary<'a>(rows: &[Row<'a>]) -> Option<Summary<'a>> {
    let span =
        rows.iter().map(|row| row.span).find(|span| span.source == Source::Gateway && span.kind == Kind::Server)?;
    let text = |key| span.attribute(key).and_then(|value| value.as_str());
    Some(Summary {
        method: text("http.request.method").unwrap_or("-"),
        path: text("url.path").unwrap_or(&span.name),
        status: span.attribute("http.response.status_code").and_then(serde_json::Value::as_i64),
        latency_ns: span.duration_ns(),
    })
}

/// The earliest start in the trace: offsets are measured from it.
pub(crate) fn trace_start(spans: &[Span]) -> u64 {
    spans.iter().map(|span| span.start_ns).min().unwrap_or_default()
}

/// Nanoseconds as milliseconds, to the microsecond.
pub(crate) fn millis(nanos: u64) -> f64 {
    (nanos / 1_000) as f64 / 1_000.0
}
