//! A trace for a person: the request's line (method, path, status, latency, trace id), then its span tree, one span a
//! line, in columns: name, duration, service, the attributes worth a glance.
//!
//! ```text
//! POST /test/helloworld 200 0.403 ms  trace 6b13179a566fae8c3957e17a97ec7826
//!   POST /helloworld        0.403 ms  apigw-local                       http.route=/helloworld …
//!   └─ Lambda.Invoke        0.372 ms  apigw-local
//!      └─ POST /helloworld  0.382 ms  GetStartedLambdaProxyIntegration  http.route=/helloworld …
//!         ├─ decode body    0.002 ms  GetStartedLambdaProxyIntegration
//!         └─ greeting       0.001 ms  GetStartedLambdaProxyIntegration
//! ```

use std::fmt::Write as _;

use super::assembly::{Missing, Trace};
use super::tree::{self, Row, Summary};

/// The attributes shown, in this order, when a span has them.
const KEY_ATTRIBUTES: [&str; 5] =
    ["http.route", "http.response.status_code", "error.type", "faas.coldstart", "faas.invocation_id"];

/// Renders `trace` as lines of text, each ending in a newline; with ANSI colours if `colour`.
pub(crate) fn render(trace: &Trace, colour: bool) -> String {
    let paint = Paint(colour);
    let rows = tree::rows(&trace.spans);
    let mut text = header(trace, tree::summary(&rows).as_ref(), paint);
    let name_width = rows.iter().map(|row| width(&row.prefix) + width(&row.span.name)).max().unwrap_or_default();
    let durations: Vec<String> = rows.iter().map(|row| duration(row.span.duration_ns())).collect();
    let duration_width = durations.iter().map(|duration| duration.len()).max().unwrap_or_default();
    let service_width = rows.iter().map(|row| width(&row.span.service)).max().unwrap_or_default();
    for (row, duration) in rows.iter().zip(&durations) {
        let widths = (name_width, duration_width, service_width);
        text.push_str(&line(row, duration, widths, paint));
    }
    match trace.missing {
        Some(Missing::Function) => {
            // Shown after the wait (assembly's GRACE), or at once when the gateway stops.
            let note =
                "  (no spans from the function: it crashed, timed out, exports elsewhere or has not exported yet)\n";
            text.push_str(&paint.dim(note));
        }
        Some(Missing::Gateway) | None => {}
    }
    if trace.dropped_spans > 0 {
        text.push_str(&paint.dim(&format!("  ({} more spans not kept)\n", trace.dropped_spans)));
    }
    text
}

fn header(trace: &Trace, summary: Option<&Summary<'_>>, paint: Paint) -> String {
    let trace_id = paint.dim(&format!("trace {}", trace.trace_id));
    match summary {
        Some(summary) => {
            let status = summary.status.map_or_else(|| "-".to_string(), |status| status.to_string());
            let status = match summary.status {
                Some(200..=299) => paint.code("32", &status),
                Some(300..=399) => paint.code("36", &status),
                Some(400..=499) => paint.code("33", &status),
                Some(_) => paint.code("31", &status),
                None => status,
            };
            let request = paint.code("1", &format!("{} {}", summary.method, summary.path));
            format!("{request} {status} {}  {trace_id}\n", duration(summary.latency_ns))
        }
        // Late spans, or spans of a request the gateway did not trace: said as such rather than passed over.
        None => format!(
            "{} spans without their gateway request (late, or not traced here)  {trace_id}\n",
            trace.spans.len()
        ),
    }
}

/// One span's line: `widths` are the name (with its prefix), duration and service columns'.
fn line(
    row: &Row<'_>,
    duration: &str,
    (name_width, duration_width, service_width): (usize, usize, usize),
    paint: Paint,
) -> String {
    let span = row.span;
    let padding = name_width - width(&row.prefix) - width(&span.name);
    let name = if span.error { paint.code("31", &span.name) } else { span.name.clone() };
    let mut line =
        format!("  {}{name}{:padding$}  {duration:>duration_width$}  {:service_width$}", row.prefix, "", span.service);
    let attributes: Vec<String> = KEY_ATTRIBUTES
        .iter()
        .filter_map(|key| {
            let value = span.attribute(key)?;
            Some(format!("{key}={}", value.as_str().map_or_else(|| value.to_string(), str::to_string)))
        })
        .collect();
    if span.error {
        line.push_str("  ");
        line.push_str(&paint.code("31", "error"));
    }
    if !attributes.is_empty() {
        let _ = write!(line, "  {}", paint.dim(&attributes.join(" ")));
    }
    // No trailing blanks after the service column.
    line.truncate(line.trim_end().len());
    line.push('\n');
    line
}

/// A duration in milliseconds, to the microsecond: the handler's steps take a few of them in a release build.
fn duration(nanos: u64) -> String {
    format!("{:.3} ms", tree::millis(nanos))
}

/// Columns a text takes in a terminal: names and the box-drawing prefix are one column a character.
fn width(text: &str) -> usize {
    text.chars().count()
}

/// ANSI colours, or plain text.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn code(self, code: &str, text: &str) -> String {
        if self.0 { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    fn dim(self, text: &str) -> String {
        // A note's trailing newline stays outside the colour, so that a pager does not carry it to the next line.
        match text.strip_suffix('\n') {
            Some(text) => format!("{}\n", self.code("2", text)),
            None => self.code("2", text),
        }
    }
}
