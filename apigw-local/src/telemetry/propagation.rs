//! The trace headers of a hop, and the rules API Gateway adds to the propagators' reading of a client's headers.
//!
//! `otlp-setup` reads and writes W3C `traceparent` and X-Ray's `X-Amzn-Trace-Id` through the OpenTelemetry
//! propagators. On top of them, as API Gateway does with X-Ray tracing on:
//! - an `X-Amzn-Trace-Id` that names a trace but no parent segment is continued: the gateway's span is a root span of
//!   that trace;
//! - a caller that leaves the sampling decision open (`Sampled=?`, or none) is sampled: locally everything is traced
//!   unless `OTEL_TRACES_SAMPLER` says otherwise;
//! - without tracing, the client's X-Ray header goes on unchanged, else a new root is made.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceId};
use otlp_setup::{Headers, Propagator};

/// X-Ray's flag for a caller that left the sampling decision to the callee (`Sampled=?`).
const DEFERRED: u8 = 0x02;

/// The trace headers of one hop: what the event carries, what the Runtime API passes as `Lambda-Runtime-Trace-Id` and
/// what the client gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeaders {
    /// `X-Amzn-Trace-Id`.
    pub xray: String,
    /// `traceparent`, when tracing is on; real API Gateway adds only `X-Amzn-Trace-Id`.
    pub traceparent: Option<String>,
}

impl TraceHeaders {
    /// The headers that name `span` as the caller of the next hop.
    pub fn of(span: &SpanContext) -> Self {
        Self { xray: otlp_setup::xray_header(span).unwrap_or_default(), traceparent: otlp_setup::traceparent(span) }
    }

    /// Without tracing, as API Gateway does without X-Ray: the client's header when it names a trace, else a new
    /// root.
    pub fn untraced(client_xray: Option<&str>) -> Self {
        let xray = match client_xray {
            Some(client) if otlp_setup::xray_span_context(client).is_some() => client.to_string(),
            _ => {
                let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                let random = crate::random::uuid_v4().simple().to_string();
                format!("Root=1-{seconds:08x}-{}", &random[..24])
            }
        };
        Self { xray, traceparent: None }
    }

    /// The W3C form (32 lowercase hex digits) of the trace id in `X-Amzn-Trace-Id`, if it has a valid `Root`.
    pub fn trace_id(&self) -> Option<String> {
        otlp_setup::xray_span_context(&self.xray).map(|span| span.trace_id().to_string())
    }
}

/// What the client's headers say the gateway's span continues.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClientParent {
    /// A span of the client's: the gateway's span is its child.
    Span(SpanContext),
    /// A trace the client started without naming its own span: the gateway's span is that trace's root.
    Trace(TraceId),
    /// Nothing: a new trace.
    None,
}

/// The parent of a request's span, by `propagators` and API Gateway's rules (see the module's doc).
pub(crate) fn client_parent(propagators: &[Propagator], headers: Headers<'_>) -> ClientParent {
    let context = otlp_setup::extract(propagators, headers);
    let span = context.span();
    let parent = span.span_context();
    if parent.is_valid() {
        return ClientParent::Span(decided(parent));
    }
    let xray = propagators.contains(&Propagator::XRay).then(|| headers.value(otlp_setup::XRAY_HEADER)).flatten();
    match xray.and_then(otlp_setup::xray_span_context) {
        Some(trace) => ClientParent::Trace(trace.trace_id()),
        None => ClientParent::None,
    }
}

/// `parent`, sampled if it left the decision open.
fn decided(parent: &SpanContext) -> SpanContext {
    if parent.trace_flags().to_u8() & DEFERRED == 0 {
        return parent.clone();
    }
    SpanContext::new(parent.trace_id(), parent.span_id(), TraceFlags::SAMPLED, true, parent.trace_state().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceState};

    const TRACE: &str = "5759e988bd862e3fe1be46a994272793";
    const SPAN: &str = "53995c3f42cd8ad8";
    const DEFAULT: [Propagator; 3] = [Propagator::TraceContext, Propagator::Baggage, Propagator::XRay];

    fn span(sampled: bool, remote: bool) -> SpanContext {
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::NOT_SAMPLED };
        let (trace_id, span_id) = (TraceId::from_hex(TRACE).unwrap(), SpanId::from_hex(SPAN).unwrap());
        SpanContext::new(trace_id, span_id, flags, remote, TraceState::default())
    }

    fn parent_of(xray: &str) -> ClientParent {
        client_parent(&DEFAULT, Headers(&[("X-Amzn-Trace-Id", xray)]))
    }

    #[test]
    fn a_span_is_written_as_both_headers_with_the_same_ids() {
        let headers = TraceHeaders::of(&span(true, false));
        assert_eq!(headers.xray, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
        assert_eq!(headers.traceparent.as_deref(), Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"));
        assert_eq!(headers.trace_id().as_deref(), Some(TRACE));
        let unsampled = TraceHeaders::of(&span(false, false));
        assert!(unsampled.xray.ends_with(";Sampled=0"), "{}", unsampled.xray);
        assert!(unsampled.traceparent.unwrap().ends_with("-00"));
    }

    #[test]
    fn x_ray_is_read_back_into_the_w3c_ids() {
        let headers = TraceHeaders::of(&span(true, false));
        assert_eq!(parent_of(&headers.xray), ClientParent::Span(span(true, true)));
        let traceparent = [("traceparent", headers.traceparent.as_deref().unwrap())];
        assert_eq!(client_parent(&DEFAULT, Headers(&traceparent)), ClientParent::Span(span(true, true)));
    }

    #[test]
    fn x_ray_without_parent_or_decision() {
        let trace = TraceId::from_hex(TRACE).unwrap();
        assert_eq!(parent_of("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?"), ClientParent::Trace(trace));
        let undecided = parent_of(&format!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent={SPAN}"));
        let ClientParent::Span(undecided) = undecided else { panic!("{undecided:?}") };
        assert!(undecided.is_sampled(), "an open decision is taken: sampled");
        let unsampled = parent_of(&format!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent={SPAN};Sampled=0"));
        assert_eq!(unsampled, ClientParent::Span(span(false, true)), "the caller decided; its decision stands");
    }

    #[test]
    fn without_x_ray_among_the_propagators_a_root_alone_is_not_continued() {
        let headers = [("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")];
        assert_eq!(client_parent(&[Propagator::TraceContext], Headers(&headers)), ClientParent::None);
    }

    #[test]
    fn untraced_keeps_a_client_root_and_makes_a_well_formed_one_otherwise() {
        let client = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(TraceHeaders::untraced(Some(client)), TraceHeaders { xray: client.into(), traceparent: None });
        for missing in [None, Some(""), Some("garbage"), Some("Root=2-x")] {
            let fresh = TraceHeaders::untraced(missing);
            assert_eq!(fresh.traceparent, None);
            let root = fresh.xray.strip_prefix("Root=1-").unwrap();
            let (time, id) = root.split_once('-').unwrap();
            assert_eq!((time.len(), id.len()), (8, 24), "{fresh:?}");
            assert!(root.replace('-', "").bytes().all(|b| b.is_ascii_hexdigit()), "{fresh:?}");
            assert_eq!(fresh.trace_id(), Some(root.replace('-', "")));
        }
    }
}
