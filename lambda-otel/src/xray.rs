//! The function's spans as X-Ray segment documents, sent to the X-Ray daemon over UDP after the response, paced as the
//! OTLP spans are.
//!
//! The format is AWS's segment document
//! (<https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html>; its JSON schema is kept as test
//! data in `tests/fixtures/`). The mapping follows the OpenTelemetry Collector's AWS X-Ray exporter (ADOT), whose
//! translator is `exporter/awsxrayexporter/internal/translator/` (`segment.go`, `http.go`, `cause.go`, `aws.go`) in
//! open-telemetry/opentelemetry-collector-contrib:
//! - ids: the span id as 16 hex digits; the trace id as `1-{first 8 hex digits}-{other 24}`; times in epoch seconds,
//!   to the microsecond;
//! - the `http` block from the HTTP semantic conventions' attributes (see [`Http`]), which then leave the metadata;
//! - `error` for a 4xx status, with `throttle` for 429; `fault` for a 5xx, or for a span whose status is Error without
//!   an HTTP status; a `cause` with the status description, when there is one;
//! - [`INDEXED`] attributes become annotations (searchable in X-Ray's filter expressions), keys with `_` for `.`; every
//!   other attribute is metadata in the `default` namespace;
//! - `aws.xray.sdk` names this library; CLIENT spans get the `remote` namespace (`aws` for AWS SDK calls).
//!
//! Where this differs from ADOT, Lambda is why: ADOT makes a SERVER span a segment named after the service, but the
//! function's segment is Lambda's own (`AWS::Lambda::Function`, the `Parent` of the runtime's trace header), so the
//! SERVER span is an independent subsegment of it (`type: "subsegment"`, `parent_id`), named as the span is
//! (`POST /helloworld`), with the spans under it nested in `subsegments`: one datagram per invocation. Only a local
//! root without any parent (no trace header at all) is a segment, named after the service as ADOT does. Annotation
//! keys keep to the schema's `[a-zA-Z0-9_]` (ADOT's `exporter.xray.allowDot` gate would keep dots). A response size
//! is written only when known (ADOT writes 0). The trace id's time is not checked against X-Ray's 30 days: under
//! Lambda it is X-Ray's own.

mod daemon;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use tokio::time::Instant;

use crate::delivery::{Pacing, SPAN_BUFFER_CAPACITY, SpanBuffer};
use crate::settings::Settings;
use daemon::Daemon;

/// What precedes every document in a datagram, as the daemon requires.
pub(crate) const HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// The largest datagram sent: the largest UDP payload over IPv4, within the daemon's 64 KiB receive buffer. A tree of
/// spans whose document is larger is sent as several independent subsegments.
pub(crate) const MAX_DATAGRAM: usize = 65_507;

/// The attributes kept as annotations, with their annotation keys; the others are metadata. These are the ones worth
/// a filter expression that the `http` block does not already offer (`http.method`, `http.status`, ...).
pub(crate) const INDEXED: [(&str, &str); 3] =
    [("http.route", "http_route"), ("faas.coldstart", "faas_coldstart"), ("error.type", "error_type")];

/// The most spans that wait for X-Ray whatever the interval: their datagrams leave together, and a UDP receiver drops
/// what its socket buffer cannot hold (a few hundred KiB by default), so a burst stays a few dozen datagrams.
const MAX_BURST_SPANS: usize = 64;

/// The longest annotation value the schema allows, in characters.
const MAX_ANNOTATION_CHARS: usize = 1000;

/// The longest value of a field of the `http` block's `request` the schema allows, in characters.
const MAX_REQUEST_FIELD_CHARS: usize = 250;

/// The longest segment name X-Ray accepts, in characters.
const MAX_NAME_CHARS: usize = 200;

/// `aws.xray` of every document: the library that made it.
const SDK: XRaySdk =
    XRaySdk { sdk: concat!(env!("CARGO_PKG_NAME"), " for rust"), sdk_version: env!("CARGO_PKG_VERSION") };

/// The spans waiting for X-Ray, and the daemon they go to.
pub(crate) struct XRay {
    queue: Arc<SpanBuffer>,
    daemon: Daemon,
    service_name: String,
    /// The spans' pacing (`LAMBDA_OTEL_EXPORT_INTERVAL_MS`, `LAMBDA_OTEL_EXPORT_BATCH`): a datagram has no round trip,
    /// but each costs a system call and wakes the daemon, billed at the function's CPU share (at 128 MB the deployed
    /// defaults measured +0.96 ms of billed time per invocation with a datagram after each, +0.84 ms paced).
    pacing: Pacing,
    /// When waiting spans were last sent; `None` before the first time.
    sent_at: Mutex<Option<Instant>>,
}

impl XRay {
    /// X-Ray delivery to the daemon `settings` name, through a socket bound now, once; `None` (said on stderr) if the
    /// address cannot be resolved or no socket bound.
    pub(crate) fn new(settings: &Settings) -> Option<Self> {
        let address = &settings.traces.xray_daemon;
        match Daemon::bind(address) {
            Ok(daemon) => Some(XRay {
                queue: Arc::new(SpanBuffer::new(SPAN_BUFFER_CAPACITY)),
                daemon,
                service_name: settings.service_name.clone(),
                pacing: settings.pacing,
                sent_at: Mutex::new(None),
            }),
            Err(error) => {
                eprintln!(
                    "{}: no spans to X-Ray, the daemon at {address} cannot be reached: {error}",
                    env!("CARGO_PKG_NAME")
                );
                None
            }
        }
    }

    /// Where the span processor puts the spans for X-Ray.
    pub(crate) fn queue(&self) -> Arc<SpanBuffer> {
        self.queue.clone()
    }

    /// Sends every waiting span, one datagram per tree of spans when it fits, if they are due as the spans' pacing
    /// says (the previous send is at least the interval old, or a batch waits) or `last` (at shutdown, which also
    /// reports what was lost since the start). Never blocks: a datagram the socket does not take at once is lost and
    /// counted.
    pub(crate) fn send_waiting(&self, now: Instant, last: bool) {
        {
            let mut sent_at = self.sent_at.lock().unwrap_or_else(PoisonError::into_inner);
            let due = last
                || sent_at.is_none_or(|sent_at| now.saturating_duration_since(sent_at) >= self.pacing.spans_interval)
                || self.queue.len() >= self.pacing.spans_batch.min(MAX_BURST_SPANS);
            if !due || (self.queue.is_empty() && !last) {
                return;
            }
            *sent_at = Some(now);
        }
        let spans = self.queue.take();
        let dropped = self.queue.take_dropped();
        if dropped > 0 {
            tracing::warn!(dropped, "spans for X-Ray dropped: more ended between two flushes than are kept");
        }
        if !spans.is_empty() {
            let too_big = datagrams(&spans, &self.service_name, |datagram| self.daemon.send(datagram));
            if too_big > 0 {
                tracing::warn!(spans = too_big, "spans not sent to X-Ray: each alone is over a datagram's size");
            }
        }
        if last {
            self.daemon.report_failures();
        }
    }
}

/// Calls `send` with each datagram (header and document) for `spans`, and returns how many spans could not be sent
/// because even alone and without metadata they are over [`MAX_DATAGRAM`]. One buffer serves every datagram.
pub(crate) fn datagrams(spans: &[SpanData], service_name: &str, mut send: impl FnMut(&[u8])) -> usize {
    let trees = Trees::of(spans);
    let mut out = Out { buffer: Vec::with_capacity(1024), send: &mut send, too_big: 0 };
    for &root in &trees.roots {
        trees.emit(root, service_name, &mut out);
    }
    out.too_big
}

struct Out<'s, F> {
    buffer: Vec<u8>,
    send: &'s mut F,
    too_big: usize,
}

impl<F: FnMut(&[u8])> Out<'_, F> {
    /// Sends `document` if it fits in a datagram.
    fn try_send(&mut self, document: &Segment<'_>) -> bool {
        self.buffer.clear();
        self.buffer.extend_from_slice(HEADER);
        // Writing into a Vec cannot fail, and every value serializes.
        if serde_json::to_writer(&mut self.buffer, document).is_err() || self.buffer.len() > MAX_DATAGRAM {
            return false;
        }
        (self.send)(&self.buffer);
        true
    }
}

/// The spans of one flush as trees: each span's children, and the local roots (a span whose parent is not here).
struct Trees<'a> {
    spans: &'a [SpanData],
    children: Vec<Vec<usize>>,
    roots: Vec<usize>,
}

impl<'a> Trees<'a> {
    fn of(spans: &'a [SpanData]) -> Self {
        let index: HashMap<(TraceId, SpanId), usize> = spans
            .iter()
            .enumerate()
            .map(|(at, span)| ((span.span_context.trace_id(), span.span_context.span_id()), at))
            .collect();
        let mut children = vec![Vec::new(); spans.len()];
        let mut roots = Vec::new();
        for (at, span) in spans.iter().enumerate() {
            let parent = (span.parent_span_id != SpanId::INVALID && !span.parent_span_is_remote)
                .then(|| index.get(&(span.span_context.trace_id(), span.parent_span_id)))
                .flatten();
            match parent {
                Some(&parent) => children[parent].push(at),
                None => roots.push(at),
            }
        }
        for siblings in &mut children {
            siblings.sort_by_key(|&at| spans[at].start_time);
        }
        Trees { spans, children, roots }
    }

    /// Sends the tree under `at` as one document if it fits, else `at` alone and each child's tree on its own.
    fn emit<F: FnMut(&[u8])>(&self, at: usize, service_name: &str, out: &mut Out<'_, F>) {
        let mut document = Segment::of(&self.spans[at], Some(service_name));
        document.subsegments = self.children[at].iter().map(|&child| self.nested(child)).collect();
        if out.try_send(&document) {
            return;
        }
        document.subsegments.clear();
        if !out.try_send(&document) {
            document.annotations = None;
            document.metadata = None;
            if !out.try_send(&document) {
                out.too_big += 1;
            }
        }
        for &child in &self.children[at] {
            self.emit(child, service_name, out);
        }
    }

    fn nested(&self, at: usize) -> Segment<'a> {
        let mut segment = Segment::of(&self.spans[at], None);
        segment.subsegments = self.children[at].iter().map(|&child| self.nested(child)).collect();
        segment
    }
}

/// A segment or subsegment document. Only the fields this library fills are here.
#[derive(Serialize)]
struct Segment<'a> {
    name: Cow<'a, str>,
    id: Hex<SpanId>,
    /// Only on a document of its own (a nested subsegment is in its parent's trace).
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<XRayTraceId>,
    start_time: f64,
    end_time: f64,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<Hex<SpanId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'static str>,
    fault: bool,
    error: bool,
    throttle: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<Cause<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws: Option<Aws>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Annotations<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subsegments: Vec<Segment<'a>>,
}

impl<'a> Segment<'a> {
    /// `span` as a document of its own (`service_name` given: it names a segment, a span without any parent) or as a
    /// subsegment nested in its parent's document.
    fn of(span: &'a SpanData, service_name: Option<&'a str>) -> Self {
        let attributes = &span.attributes[..];
        let http = Http::of(attributes);
        let consumed = http.as_ref().map(Consumed::of).unwrap_or_default();
        let status = http.as_ref().and_then(|http| http.response.as_ref()?.status);
        let (error, throttle, fault) = match status {
            Some(400..=499) => (true, status == Some(429), false),
            Some(500..=599) => (false, false, true),
            _ => (false, false, matches!(span.status, Status::Error { .. })),
        };
        let cause = match &span.status {
            Status::Error { description } if !description.is_empty() => Some(Cause {
                exceptions: [Exception { id: exception_id(span.span_context.span_id()), message: description }],
            }),
            _ => None,
        };
        let parent = (span.parent_span_id != SpanId::INVALID).then_some(span.parent_span_id);
        let independent = service_name.is_some();
        let name = match (independent, parent, service_name) {
            (true, None, Some(service_name)) => segment_name(service_name),
            _ => segment_name(subsegment_name(span)),
        };
        let has_annotations = attributes.iter().any(annotated);
        let has_metadata = attributes.iter().any(|kv| !annotated(kv) && !consumed.contains(kv.key.as_str()));
        Segment {
            name,
            id: Hex(span.span_context.span_id()),
            trace_id: independent.then(|| XRayTraceId(span.span_context.trace_id())),
            start_time: epoch_seconds(span.start_time),
            end_time: epoch_seconds(span.end_time),
            kind: (independent && parent.is_some()).then_some("subsegment"),
            parent_id: if independent { parent.map(Hex) } else { None },
            namespace: namespace(&span.span_kind, attributes),
            fault,
            error,
            throttle,
            cause,
            http,
            aws: independent.then_some(Aws { xray: SDK }),
            annotations: has_annotations.then_some(Annotations(attributes)),
            metadata: has_metadata.then_some(Metadata { default: DefaultNamespace { attributes, consumed } }),
            subsegments: Vec::new(),
        }
    }
}

/// The name of a span's subsegment: for a call to another service the service (`peer.service`, `rpc.service`,
/// `server.address`), as X-Ray's service map wants; else the span's name.
fn subsegment_name(span: &SpanData) -> &str {
    let remote = matches!(span.span_kind, SpanKind::Client | SpanKind::Producer | SpanKind::Consumer);
    let text = |key: &str| match attribute(&span.attributes, key) {
        Some(Value::String(value)) if !value.as_str().is_empty() => Some(value.as_str()),
        _ => None,
    };
    let service = if remote {
        ["peer.service", "rpc.service", "server.address"].into_iter().find_map(text)
    } else {
        text("peer.service")
    };
    service.unwrap_or(&span.name)
}

/// `name` with the characters X-Ray does not allow in a name left out (letters, digits, spaces and `_.:/%&#=+\-@`
/// remain), at most 200 characters, `span` if nothing remains (as ADOT's `fixSegmentName`).
fn segment_name(name: &str) -> Cow<'_, str> {
    let allowed = |c: char| c.is_alphabetic() || c.is_ascii_digit() || c == ' ' || "_.:/%&#=+\\-@".contains(c);
    let name: Cow<'_, str> = if name.chars().all(allowed) && name.chars().count() <= MAX_NAME_CHARS {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(name.chars().filter(|&c| allowed(c)).take(MAX_NAME_CHARS).collect())
    };
    if name.is_empty() { Cow::Borrowed("span") } else { name }
}

/// The first `chars` characters of `text`.
fn at_most(text: &str, chars: usize) -> &str {
    text.char_indices().nth(chars).map_or(text, |(end, _)| &text[..end])
}

/// `remote` for a call to another service, `aws` for a call to AWS through its SDK (`rpc.system` = `aws-api`).
fn namespace(kind: &SpanKind, attributes: &[KeyValue]) -> Option<&'static str> {
    let aws =
        matches!(attribute(attributes, "rpc.system"), Some(Value::String(system)) if system.as_str() == "aws-api");
    match kind {
        _ if aws => Some("aws"),
        SpanKind::Client => Some("remote"),
        _ => None,
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

/// Whether `value` can be an annotation: a string, a number or a boolean.
fn annotation(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::I64(_) | Value::F64(_) | Value::Bool(_))
}

/// Whether the attribute is an annotation: [`INDEXED`], with a value that can be one.
fn annotated(kv: &KeyValue) -> bool {
    INDEXED.iter().any(|(indexed, _)| *indexed == kv.key.as_str()) && annotation(&kv.value)
}

/// Seconds since the epoch with the microseconds as the fraction. Whole microseconds, so that a float prints them
/// exactly (they fit in an f64's 53 bits until the year 2255).
fn epoch_seconds(time: SystemTime) -> f64 {
    let micros = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
    micros as f64 / 1e6
}

/// A 16-hex-digit id for the exception of a failed span, unique in its trace: the span's id through a hash keyed at
/// random, as ADOT draws a random one.
fn exception_id(span: SpanId) -> Hex<SpanId> {
    let hashed = std::collections::hash_map::RandomState::new().hash_one(span.to_bytes());
    Hex(SpanId::from(hashed))
}

/// An id written as lowercase hex digits (16 for a span id).
struct Hex<T>(T);

impl Serialize for Hex<SpanId> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// A trace id in X-Ray's form, `1-{8 hex digits}-{24 hex digits}`: its first 4 bytes are X-Ray's epoch seconds.
pub(crate) struct XRayTraceId(pub(crate) TraceId);

impl fmt::Display for XRayTraceId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0.to_bytes();
        let (time, rest) = bytes.split_at(4);
        formatter.write_str("1-")?;
        time.iter().try_for_each(|byte| write!(formatter, "{byte:02x}"))?;
        formatter.write_str("-")?;
        rest.iter().try_for_each(|byte| write!(formatter, "{byte:02x}"))
    }
}

impl Serialize for XRayTraceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Serialize)]
struct Cause<'a> {
    exceptions: [Exception<'a>; 1],
}

#[derive(Serialize)]
struct Exception<'a> {
    id: Hex<SpanId>,
    message: &'a str,
}

#[derive(Serialize)]
struct Aws {
    xray: XRaySdk,
}

#[derive(Serialize)]
struct XRaySdk {
    sdk: &'static str,
    sdk_version: &'static str,
}

/// The `http` block, from the HTTP semantic conventions' attributes, as ADOT's `makeHTTP` reads them:
/// `http.request.method` → `request.method`, `user_agent.original` → `request.user_agent`, `client.address` (an IP
/// address) → `request.client_ip` with `x_forwarded_for` (it is the forwarded client's, not the connection's),
/// `http.response.status_code` → `response.status`, and `request.url` from `url.full`, else built from `url.scheme`,
/// `server.address`, `server.port`, `url.path` and `url.query` when the host is known. The attributes used are not
/// repeated in the metadata.
#[derive(Serialize)]
struct Http<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<Request<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<Response>,
}

#[derive(Serialize, Default)]
struct Request<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_forwarded_for: Option<bool>,
}

#[derive(Serialize)]
struct Response {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<i64>,
}

impl<'a> Http<'a> {
    fn of(attributes: &'a [KeyValue]) -> Option<Self> {
        let text = |key: &str| match attribute(attributes, key) {
            Some(Value::String(value)) => Some(at_most(value.as_str(), MAX_REQUEST_FIELD_CHARS)),
            _ => None,
        };
        let client_ip = text("client.address").filter(|address| address.parse::<IpAddr>().is_ok());
        let request = Request {
            method: text("http.request.method"),
            url: url(attributes).map(|mut url| {
                url.truncate(at_most(&url, MAX_REQUEST_FIELD_CHARS).len());
                Cow::Owned(url)
            }),
            user_agent: text("user_agent.original"),
            client_ip,
            x_forwarded_for: client_ip.map(|_| true),
        };
        let status = match attribute(attributes, "http.response.status_code") {
            Some(Value::I64(status)) => Some(*status),
            _ => None,
        };
        let has_request = request.method.is_some() || request.url.is_some() || request.user_agent.is_some();
        if !has_request && status.is_none() {
            return None;
        }
        Some(Http {
            request: (has_request || request.client_ip.is_some()).then_some(request),
            response: status.map(|status| Response { status: Some(status) }),
        })
    }
}

/// Which attributes an `http` block took, so that the metadata leaves them out.
#[derive(Debug, Clone, Copy, Default)]
struct Consumed {
    method: bool,
    user_agent: bool,
    client_ip: bool,
    status: bool,
    url: bool,
}

impl Consumed {
    fn of(http: &Http<'_>) -> Self {
        let request = http.request.as_ref();
        Consumed {
            method: request.is_some_and(|request| request.method.is_some()),
            user_agent: request.is_some_and(|request| request.user_agent.is_some()),
            client_ip: request.is_some_and(|request| request.client_ip.is_some()),
            status: http.response.is_some(),
            url: request.is_some_and(|request| request.url.is_some()),
        }
    }

    fn contains(self, key: &str) -> bool {
        match key {
            "http.request.method" => self.method,
            "user_agent.original" => self.user_agent,
            "client.address" => self.client_ip,
            "http.response.status_code" => self.status,
            "url.full" | "url.scheme" | "url.path" | "url.query" | "server.address" | "server.port" => self.url,
            _ => false,
        }
    }
}

/// The request's URL: `url.full`, else, when the host is known, `{scheme}://{host}[:{port}]{path}[?{query}]` with
/// `http` and `/` by default and the port left out when it is the scheme's, as ADOT's `constructServerURL`.
fn url(attributes: &[KeyValue]) -> Option<String> {
    let text = |key: &str| match attribute(attributes, key) {
        Some(Value::String(value)) => Some(value.as_str()),
        _ => None,
    };
    if let Some(full) = text("url.full") {
        return Some(full.to_string());
    }
    let host = text("server.address")?;
    let scheme = text("url.scheme").unwrap_or("http");
    let port = match attribute(attributes, "server.port") {
        Some(Value::I64(port)) => Some(port.to_string()),
        Some(Value::String(port)) => Some(port.to_string()),
        _ => None,
    };
    let mut url = format!("{scheme}://{host}");
    if let Some(port) = port.filter(|port| !matches!((scheme, port.as_str()), ("http", "80") | ("https", "443"))) {
        url.push(':');
        url.push_str(&port);
    }
    url.push_str(text("url.path").unwrap_or("/"));
    if let Some(query) = text("url.query") {
        if !query.starts_with('?') {
            url.push('?');
        }
        url.push_str(query);
    }
    Some(url)
}

/// The [`INDEXED`] attributes of a span that can be annotations.
struct Annotations<'a>(&'a [KeyValue]);

impl Serialize for Annotations<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, annotation_key) in INDEXED {
            match attribute(self.0, key) {
                Some(Value::String(value)) => {
                    map.serialize_entry(annotation_key, at_most(value.as_str(), MAX_ANNOTATION_CHARS))?
                }
                Some(value) if annotation(value) => map.serialize_entry(annotation_key, &Json(value))?,
                _ => {}
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct Metadata<'a> {
    default: DefaultNamespace<'a>,
}

/// Every attribute neither in the `http` block nor an annotation, under its own key.
struct DefaultNamespace<'a> {
    attributes: &'a [KeyValue],
    consumed: Consumed,
}

impl Serialize for DefaultNamespace<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for kv in self.attributes {
            if !annotated(kv) && !self.consumed.contains(kv.key.as_str()) {
                map.serialize_entry(kv.key.as_str(), &Json(&kv.value))?;
            }
        }
        map.end()
    }
}

/// An attribute value as JSON: a boolean, a number, a string or an array of them.
struct Json<'a>(&'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Bool(value) => serializer.serialize_bool(*value),
            Value::I64(value) => serializer.serialize_i64(*value),
            Value::F64(value) => serializer.serialize_f64(*value),
            Value::String(value) => serializer.serialize_str(value.as_str()),
            Value::Array(array) => {
                let mut seq = serializer.serialize_seq(None)?;
                match array {
                    Array::Bool(values) => values.iter().try_for_each(|value| seq.serialize_element(value))?,
                    Array::I64(values) => values.iter().try_for_each(|value| seq.serialize_element(value))?,
                    Array::F64(values) => values.iter().try_for_each(|value| seq.serialize_element(value))?,
                    Array::String(values) => {
                        values.iter().try_for_each(|value| seq.serialize_element(value.as_str()))?
                    }
                    // A kind of array added to OpenTelemetry later: as text rather than lost.
                    other => seq.serialize_element(&other.to_string())?,
                }
                seq.end()
            }
            other => serializer.collect_str(other),
        }
    }
}
