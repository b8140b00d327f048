//! One datagram as the X-Ray daemon receives it: the header line `{"format": "json", "version": 1}`, a newline, and a
//! segment document (https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html), read leniently:
//! any JSON object is shown, with what it has of the fields a person looks at.
//!
//! Text, one line per (sub)segment, the nested ones drawn as a tree below the document's root, whose line also names
//! the trace, the parent (for an independent subsegment: the segment it belongs to) and its own id:
//!
//! ```text
//! xray POST /helloworld    0.382 ms  POST 200  trace 1-5759e988-bd862e3fe1be46a994272793  parent 53995c3f42cd8ad8  id 70de5b6f19ff9a0a
//! xray ├─ decode body      0.002 ms
//! xray └─ greeting         0.001 ms  error
//! ```
//!
//! JSON, for programs: `{"xray": DOCUMENT}` on one line, the document as it arrived (its line breaks, which JSON
//! allows only between tokens, turned into spaces). The top-level key tells it apart from the access log's lines and
//! the trace view's `{"trace": …}`.

use std::fmt::Write as _;

use serde_json::Value;

/// Why a datagram is not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The first line is not the daemon's header.
    NoHeader,
    /// What follows the header is not JSON.
    NotJson(String),
    /// JSON, but not an object.
    NotAnObject(&'static str),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoHeader => {
                write!(f, "it does not start with the header line {{\"format\": \"json\", \"version\": 1}}")
            }
            Self::NotJson(error) => write!(f, "no JSON segment document after the header: {error}"),
            Self::NotAnObject(kind) => write!(f, "the document is a JSON {kind}, not a segment document (an object)"),
        }
    }
}

/// A segment document that arrived whole.
#[derive(Debug)]
pub(crate) struct Document<'a> {
    /// The document's text, as received.
    raw: &'a str,
    value: Value,
}

/// The document `datagram` carries, or why it carries none.
pub(crate) fn parse(datagram: &[u8]) -> Result<Document<'_>, Refusal> {
    let newline = datagram.iter().position(|&byte| byte == b'\n').ok_or(Refusal::NoHeader)?;
    let (header, body) = (&datagram[..newline], &datagram[newline + 1..]);
    // Compared as JSON, not byte for byte: the SDKs all write the same line, but spacing is not what makes it one.
    let header: Value = serde_json::from_slice(header).map_err(|_| Refusal::NoHeader)?;
    if header.get("format").and_then(Value::as_str) != Some("json") || header.get("version") != Some(&Value::from(1)) {
        return Err(Refusal::NoHeader);
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| Refusal::NotJson(error.to_string()))?;
    let kind = match &value {
        Value::Object(_) => None,
        Value::Array(_) => Some("array"),
        Value::String(_) => Some("string"),
        Value::Number(_) => Some("number"),
        Value::Bool(_) => Some("boolean"),
        Value::Null => Some("null"),
    };
    if let Some(kind) = kind {
        return Err(Refusal::NotAnObject(kind));
    }
    // Valid JSON is valid UTF-8: a byte outside ASCII can only stand inside a string, where serde_json checked it.
    let raw = std::str::from_utf8(body).map_err(|error| Refusal::NotJson(error.to_string()))?;
    Ok(Document { raw: raw.trim(), value })
}

impl Document<'_> {
    /// `{"xray": DOCUMENT}` and a newline.
    pub(crate) fn json_line(&self) -> String {
        // Line breaks in valid JSON are whitespace between tokens (inside strings they must be escaped), so spaces
        // keep the document's meaning and put it on one line.
        let raw = self.raw.replace(['\r', '\n'], " ");
        format!("{{\"xray\":{raw}}}\n")
    }

    /// The text lines, each ending in a newline.
    pub(crate) fn text(&self) -> String {
        let mut rows = Vec::new();
        collect(&self.value, String::new(), None, &mut rows);
        let name_width = rows.iter().map(|row| width(&row.prefix) + width(&row.name)).max().unwrap_or_default();
        let duration_width = rows.iter().map(|row| row.duration.len()).max().unwrap_or_default();
        let mut text = String::new();
        for (index, row) in rows.iter().enumerate() {
            let padding = name_width - width(&row.prefix) - width(&row.name);
            let mut line = format!("xray {}{}{:padding$}  {:>duration_width$}", row.prefix, row.name, "", row.duration);
            for note in &row.notes {
                let _ = write!(line, "  {note}");
            }
            if index == 0 {
                let document = &self.value;
                let _ = write!(line, "  trace {}", field(document, "trace_id"));
                if let Some(parent) = document.get("parent_id") {
                    let _ = write!(line, "  parent {}", text_of(parent));
                }
                let _ = write!(line, "  id {}", field(document, "id"));
            }
            line.truncate(line.trim_end().len());
            line.push('\n');
            text.push_str(&line);
        }
        text
    }
}

/// One (sub)segment's line, before the columns are lined up.
struct Row {
    /// `""` for the document's root, else e.g. `│  └─ `.
    prefix: String,
    name: String,
    duration: String,
    /// The http method and status, then the flags.
    notes: Vec<String>,
}

/// Adds `segment`'s row and its subsegments' below it; `last` says whether it is its parent's last (`None`: the root).
fn collect(segment: &Value, indent: String, last: Option<bool>, rows: &mut Vec<Row>) {
    let (prefix, below) = match last {
        None => (String::new(), String::new()),
        Some(true) => (format!("{indent}└─ "), format!("{indent}   ")),
        Some(false) => (format!("{indent}├─ "), format!("{indent}│  ")),
    };
    rows.push(Row { prefix, name: field(segment, "name"), duration: duration(segment), notes: notes(segment) });
    let children: &[Value] = segment.get("subsegments").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    for (index, child) in children.iter().enumerate() {
        collect(child, below.clone(), Some(index + 1 == children.len()), rows);
    }
}

/// `end_time - start_time` in milliseconds, to the microsecond; `in progress` for a subsegment sent before its end.
fn duration(segment: &Value) -> String {
    let time = |key| segment.get(key).and_then(Value::as_f64);
    match (time("start_time"), time("end_time")) {
        (Some(start), Some(end)) => format!("{:.3} ms", (end - start) * 1000.0),
        _ if segment.get("in_progress") == Some(&Value::Bool(true)) => "in progress".into(),
        _ => "- ms".into(),
    }
}

/// The http block's method and status, then the flags that are set.
fn notes(segment: &Value) -> Vec<String> {
    let mut notes = Vec::new();
    let http = |part, key| segment.get("http").and_then(|http| http.get(part)).and_then(|part: &Value| part.get(key));
    let http: Vec<String> =
        [http("request", "method"), http("response", "status")].into_iter().flatten().map(text_of).collect();
    if !http.is_empty() {
        notes.push(http.join(" "));
    }
    for flag in ["error", "fault", "throttle"] {
        if segment.get(flag) == Some(&Value::Bool(true)) {
            notes.push(flag.to_string());
        }
    }
    notes
}

/// The field `key` of `segment` as text, `-` if it is missing.
fn field(segment: &Value, key: &str) -> String {
    segment.get(key).map_or_else(|| "-".into(), text_of)
}

/// A string without its quotes, any other value as JSON; control characters (a newline in a name) as `\u{fffd}`, so
/// that a document cannot break the lines.
fn text_of(value: &Value) -> String {
    let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
    text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

/// Columns a text takes in a terminal: names and the box-drawing prefix are one column a character.
fn width(text: &str) -> usize {
    text.chars().count()
}
