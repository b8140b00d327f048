use super::*;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

const TRACE: &str = "5759e988bd862e3fe1be46a994272793";
const SPAN: &str = "53995c3f42cd8ad8";
const W3C_ONLY: [Propagator; 1] = [Propagator::TraceContext];
const DEFAULT: [Propagator; 3] = [Propagator::TraceContext, Propagator::Baggage, Propagator::XRay];

fn span(sampled: bool, remote: bool) -> SpanContext {
    let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::NOT_SAMPLED };
    let (trace_id, span_id) = (TraceId::from_hex(TRACE).unwrap(), SpanId::from_hex(SPAN).unwrap());
    SpanContext::new(trace_id, span_id, flags, remote, TraceState::default())
}

/// The remote parent `traceparent` names, if it is valid.
fn parse_traceparent(header: &str) -> Option<SpanContext> {
    let headers = [("traceparent", header)];
    let context = extract(&W3C_ONLY, Headers(&headers));
    let span = context.span();
    span.span_context().is_valid().then(|| span.span_context().clone())
}

#[test]
fn a_span_is_written_as_both_headers_with_the_same_ids() {
    let xray = xray_header(&span(true, false)).unwrap();
    assert_eq!(xray, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
    let w3c = traceparent(&span(true, false)).unwrap();
    assert_eq!(w3c, "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01");
    assert!(xray_header(&span(false, false)).unwrap().ends_with(";Sampled=0"));
    assert!(traceparent(&span(false, false)).unwrap().ends_with("-00"));
    assert_eq!(xray_header(&SpanContext::empty_context()), None);
}

#[test]
fn x_ray_is_read_back_into_the_w3c_ids() {
    let xray = xray_span_context(&xray_header(&span(true, false)).unwrap()).unwrap();
    assert_eq!(xray, span(true, true));
    assert_eq!(parse_traceparent(&traceparent(&span(true, false)).unwrap()), Some(xray));
}

#[test]
fn x_ray_fields_in_any_order_and_case_of_hex() {
    let xray =
        xray_span_context(" Sampled=0 ; Self=1-x-y;Parent=53995C3F42CD8AD8; Root=1-5759E988-BD862E3FE1BE46A994272793")
            .unwrap();
    assert_eq!(xray.trace_id(), TraceId::from_hex(TRACE).unwrap());
    assert_eq!(xray.span_id(), SpanId::from_hex(SPAN).unwrap());
    assert!(!xray.is_sampled());
}

#[test]
fn x_ray_without_parent_or_decision() {
    let xray = xray_span_context("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
    assert_eq!(xray.trace_id(), TraceId::from_hex(TRACE).unwrap());
    assert_eq!(xray.span_id(), SpanId::INVALID, "no parent named");
    assert!(!xray.is_sampled(), "undecided: the deferred flag, not sampled");
    assert_ne!(xray.trace_flags().to_u8() & 0x02, 0);
}

#[test]
fn invalid_x_ray_roots_are_refused() {
    for header in [
        "",
        "garbage",
        "Root=2-5759e988-bd862e3fe1be46a994272793",
        "Root=1-5759e98-8bd862e3fe1be46a994272793",
        "Root=1-5759e988bd862e3fe1be46a994272793",
        "Root=1-00000000-000000000000000000000000",
        "Root=1-5759e988-bd862e3fe1be46a99427279g",
        "Parent=53995c3f42cd8ad8;Sampled=1",
    ] {
        assert_eq!(xray_span_context(header), None, "{header:?}");
        let headers = [("X-Amzn-Trace-Id", header)];
        assert!(!extract(&DEFAULT, Headers(&headers)).span().span_context().is_valid(), "{header:?}");
    }
    let bad_parent = xray_span_context("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000").unwrap();
    assert_eq!(bad_parent.span_id(), SpanId::INVALID);
}

#[test]
fn traceparent_follows_trace_context_level_1() {
    let valid = format!("00-{TRACE}-{SPAN}-01");
    assert_eq!(parse_traceparent(&valid), Some(span(true, true)));
    let unsampled = parse_traceparent(&format!("00-{TRACE}-{SPAN}-00")).unwrap();
    assert!(!unsampled.is_sampled());
    let future_version = parse_traceparent(&format!("cc-{TRACE}-{SPAN}-09-what-comes-next")).unwrap();
    assert!(future_version.is_sampled(), "only the sampled bit of unknown flags is kept");
    assert_eq!(future_version.trace_flags(), TraceFlags::SAMPLED);
    for invalid in [
        format!("00-{TRACE}-{SPAN}-01-extra"),
        format!("ff-{TRACE}-{SPAN}-01"),
        format!("00-{}-{SPAN}-01", "0".repeat(32)),
        format!("00-{TRACE}-{}-01", "0".repeat(16)),
        format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
        format!("00-{TRACE}-{SPAN}-1"),
        format!("0-{TRACE}-{SPAN}-01"),
        format!("00-{TRACE}-{SPAN}"),
        format!("00-{}-{SPAN}-01", &TRACE[1..]),
        String::new(),
    ] {
        assert_eq!(parse_traceparent(&invalid), None, "{invalid:?}");
    }
}

#[test]
fn the_first_valid_source_in_propagator_order_wins_and_baggage_is_kept_wherever_it_is_listed() {
    let xray = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=1";
    let headers = [("TraceParent", format!("00-{TRACE}-{SPAN}-01")), ("x-amzn-trace-id", xray.to_string())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let trace_of = |context: &Context| context.span().span_context().trace_id().to_string();
    assert_eq!(trace_of(&extract(&DEFAULT, Headers(&headers))), TRACE);
    let xray_first = [Propagator::XRay, Propagator::TraceContext];
    assert_eq!(trace_of(&extract(&xray_first, Headers(&headers))), "6759e988bd862e3fe1be46a994272794");
    assert!(!extract(&[], Headers(&headers)).span().span_context().is_valid(), "no propagator, no parent");

    let with_baggage = [headers[0], ("baggage", "team=greeting")];
    for propagators in [DEFAULT.to_vec(), vec![Propagator::Baggage, Propagator::TraceContext]] {
        let context = extract(&propagators, Headers(&with_baggage));
        assert_eq!(context.baggage().get("team").map(|value| value.as_str().to_string()), Some("greeting".into()));
        assert_eq!(trace_of(&context), TRACE, "{propagators:?}");
    }
}
