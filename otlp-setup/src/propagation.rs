//! Trace context on the wire, W3C `traceparent` and AWS X-Ray's `X-Amzn-Trace-Id`, read and written by the
//! OpenTelemetry propagators.
//!
//! Both carry the same 128-bit trace id: X-Ray's `Root=1-{8 hex}-{24 hex}` is the W3C trace id with a dash after its
//! eighth digit, and `Parent` is the W3C parent (span) id. The propagators are lenient where the formats are strict
//! (the SDK's `traceparent` reader takes ids of any length up to their size, the X-Ray one any `Root` with three
//! dash-separated parts and no spaces around fields), so headers are checked against the formats' field sizes first:
//! a malformed header is no parent, as the W3C recommendation asks, rather than a parent with a different id.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::config::Propagator;

/// X-Ray's header, whatever its casing on the wire.
pub const XRAY_HEADER: &str = "x-amzn-trace-id";
const TRACEPARENT_HEADER: &str = "traceparent";

/// Header name-value pairs, looked up case-insensitively (HTTP semantics; API Gateway passes names as the client
/// sent them). Of a repeated name, the last value wins, as in API Gateway's single-value `headers`.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a>(pub &'a [(&'a str, &'a str)]);

impl<'a> Headers<'a> {
    /// The value of the header `name`, borrowed for as long as the headers are.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.0.iter().rev().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| *value)
    }
}

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.value(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
}

/// The headers the propagators read, the trace headers checked against their formats (see the module's doc).
struct Checked<'a> {
    headers: Headers<'a>,
    traceparent: Option<&'a str>,
    xray: Option<String>,
}

impl<'a> Checked<'a> {
    fn new(headers: Headers<'a>) -> Self {
        let traceparent = headers.value(TRACEPARENT_HEADER).filter(|value| well_formed_traceparent(value));
        let xray = headers.value(XRAY_HEADER).and_then(normalized_xray);
        Checked { headers, traceparent, xray }
    }
}

impl Extractor for Checked<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key.eq_ignore_ascii_case(TRACEPARENT_HEADER) {
            self.traceparent
        } else if key.eq_ignore_ascii_case(XRAY_HEADER) {
            self.xray.as_deref()
        } else {
            self.headers.value(key)
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.headers.keys()
    }
}

/// Trace Context level 1's field sizes: 2-digit version and flags, 32-digit trace id, 16-digit parent id. A later
/// version may append fields; the SDK checks the rest (hex, case, all-zero ids, version `ff`).
fn well_formed_traceparent(value: &str) -> bool {
    let sizes = value.trim().split('-').take(4).map(str::len);
    sizes.eq([2, 32, 16, 2])
}

/// The X-Ray header with the spaces around its fields removed, if its `Root` is `1-{8 hex}-{24 hex}`.
fn normalized_xray(value: &str) -> Option<String> {
    let fields: Vec<(&str, &str)> = value
        .split(';')
        .filter_map(|field| field.split_once('='))
        .map(|(key, value)| (key.trim(), value.trim()))
        .collect();
    let (_, root) = fields.iter().find(|(key, _)| *key == "Root")?;
    let (time, random) = root.strip_prefix("1-")?.split_once('-')?;
    let hex = |part: &str, size: usize| part.len() == size && part.bytes().all(|byte| byte.is_ascii_hexdigit());
    if !hex(time, 8) || !hex(random, 24) {
        return None;
    }
    let fields: Vec<String> = fields.iter().map(|(key, value)| format!("{key}={value}")).collect();
    Some(fields.join(";"))
}

/// The caller's trace context from `headers`, by `propagators`.
///
/// They are tried in order and the first one that finds a valid remote span context wins; baggage is collected
/// whatever its place. Without one, the context has no span.
pub fn extract(propagators: &[Propagator], headers: Headers<'_>) -> Context {
    let headers = Checked::new(headers);
    let mut context = Context::new();
    let mut found = false;
    for propagator in propagators {
        let candidate = match propagator {
            Propagator::Baggage => {
                context = BaggagePropagator::new().extract_with_context(&context, &headers);
                continue;
            }
            _ if found => continue,
            Propagator::TraceContext => TraceContextPropagator::new().extract_with_context(&context, &headers),
            Propagator::XRay => XrayPropagator::new().extract_with_context(&context, &headers),
        };
        if candidate.span().span_context().is_valid() {
            context = candidate;
            found = true;
        }
    }
    context
}

/// What a well-formed `X-Amzn-Trace-Id` says, even when it names no parent: the span id is then invalid. A missing or
/// `?` sampling decision is the X-Ray propagator's "deferred" flag.
pub fn xray_span_context(header: &str) -> Option<SpanContext> {
    let headers = [(XRAY_HEADER, header)];
    let context = XrayPropagator::new().extract(&Checked::new(Headers(&headers)));
    let span = context.span();
    let span_context = span.span_context();
    (span_context.trace_id() != opentelemetry::trace::TraceId::INVALID).then(|| span_context.clone())
}

/// The `X-Amzn-Trace-Id` that names `span` as the caller, if it is valid.
pub fn xray_header(span: &SpanContext) -> Option<String> {
    injected(&XrayPropagator::new(), span, XRAY_HEADER)
}

/// The `traceparent` that names `span` as the caller, if it is valid.
pub fn traceparent(span: &SpanContext) -> Option<String> {
    injected(&TraceContextPropagator::new(), span, TRACEPARENT_HEADER)
}

fn injected(propagator: &dyn TextMapPropagator, span: &SpanContext, header: &str) -> Option<String> {
    struct One<'a>(&'a str, Option<String>);
    impl Injector for One<'_> {
        fn set(&mut self, key: &str, value: String) {
            if key.eq_ignore_ascii_case(self.0) {
                self.1 = Some(value);
            }
        }
    }
    let mut one = One(header, None);
    propagator.inject_context(&Context::new().with_remote_span_context(span.clone()), &mut one);
    one.1
}

#[cfg(test)]
mod tests;
