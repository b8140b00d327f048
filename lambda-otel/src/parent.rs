//! The caller's trace context: from the API Gateway event's headers, else from the Lambda runtime.
//!
//! The event is read here rather than from `lambda_http`'s `Request`, whose `x-amzn-trace-id` header `lambda_http`
//! overwrites with the runtime's trace id (aws-lambda-rust-runtime#849): the caller's own header would be lost.

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use otlp_setup::{Headers, Propagator};

/// The parent of the invocation's span.
///
/// With X-Ray among the trace exporters (`runtime_first`), a well-formed runtime `Lambda-Runtime-Trace-Id` comes
/// first, sampled or not: it names Lambda's function segment, the one parent under which the spans show in X-Ray
/// beside Lambda's own, and its `Sampled` flag is X-Ray's decision for the trace. `Sampled=0` then leaves the
/// invocation unsampled for the default parent-based sampler: nothing is recorded or sent, to X-Ray or to OTLP.
///
/// Otherwise the propagators are tried in `propagators` order and the first one that finds a valid remote span
/// context wins; baggage is collected whatever its place. When none does, and `xray` is among them, the runtime's
/// `Lambda-Runtime-Trace-Id` is the parent: the same X-Ray format, set by Lambda for the invocation. It is taken only
/// when X-Ray sampled it: without Lambda's active tracing it arrives with `Sampled=0`, and a parent-based sampler (the
/// default) would then drop every trace of the function.
pub(crate) fn parent(
    propagators: &[Propagator],
    headers: Headers<'_>,
    runtime_trace_id: Option<&str>,
    runtime_first: bool,
) -> Context {
    let context = otlp_setup::extract(propagators, headers);
    let runtime = runtime_trace_id.and_then(otlp_setup::xray_span_context).filter(SpanContext::is_valid);
    if runtime_first && let Some(runtime) = runtime {
        return context.with_remote_span_context(runtime);
    }
    if context.span().span_context().is_valid() || !propagators.contains(&Propagator::XRay) {
        return context;
    }
    match runtime {
        Some(runtime) if runtime.is_sampled() => context.with_remote_span_context(runtime),
        _ => context,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::trace::{SpanId, TraceId};

    const W3C_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const W3C_PARENT: &str = "00f067aa0ba902b7";
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const XRAY_TRACE: &str = "5759e988bd862e3fe1be46a994272793";
    const XRAY_PARENT: &str = "53995c3f42cd8ad8";
    const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const RUNTIME_TRACE: &str = "6759e988bd862e3fe1be46a994272794";
    const RUNTIME_PARENT: &str = "63995c3f42cd8ad9";
    const RUNTIME: &str = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=1";
    const DEFAULT: [Propagator; 3] = [Propagator::TraceContext, Propagator::Baggage, Propagator::XRay];

    /// The trace and parent span ids of `context`, if it has a valid remote span context.
    fn ids(context: &Context) -> Option<(String, String)> {
        let span = context.span();
        let span_context = span.span_context();
        (span_context.is_valid() && span_context.is_remote())
            .then(|| (span_context.trace_id().to_string(), span_context.span_id().to_string()))
    }

    fn expected(trace: &str, parent: &str) -> Option<(String, String)> {
        assert!(TraceId::from_hex(trace).is_ok() && SpanId::from_hex(parent).is_ok());
        Some((trace.to_string(), parent.to_string()))
    }

    #[test]
    fn each_source_on_its_own() {
        let traceparent = [("traceparent", TRACEPARENT)];
        assert_eq!(ids(&parent(&DEFAULT, Headers(&traceparent), None, false)), expected(W3C_TRACE, W3C_PARENT));
        let xray = [("X-Amzn-Trace-Id", XRAY)];
        assert_eq!(ids(&parent(&DEFAULT, Headers(&xray), None, false)), expected(XRAY_TRACE, XRAY_PARENT));
        assert_eq!(ids(&parent(&DEFAULT, Headers(&[]), Some(RUNTIME), false)), expected(RUNTIME_TRACE, RUNTIME_PARENT));
        assert_eq!(ids(&parent(&DEFAULT, Headers(&[]), None, false)), None, "no source: a new root");
    }

    #[test]
    fn header_names_are_case_insensitive() {
        for name in ["TraceParent", "TRACEPARENT"] {
            let headers = [(name, TRACEPARENT)];
            assert_eq!(
                ids(&parent(&DEFAULT, Headers(&headers), None, false)),
                expected(W3C_TRACE, W3C_PARENT),
                "{name}"
            );
        }
        let headers = [("x-amzn-trace-id", XRAY)];
        assert_eq!(ids(&parent(&DEFAULT, Headers(&headers), None, false)), expected(XRAY_TRACE, XRAY_PARENT));
    }

    #[test]
    fn the_first_valid_source_in_propagator_order_wins_and_the_runtime_comes_last() {
        let both = [("traceparent", TRACEPARENT), ("X-Amzn-Trace-Id", XRAY)];
        assert_eq!(ids(&parent(&DEFAULT, Headers(&both), Some(RUNTIME), false)), expected(W3C_TRACE, W3C_PARENT));
        let xray_first = [Propagator::XRay, Propagator::TraceContext];
        assert_eq!(ids(&parent(&xray_first, Headers(&both), Some(RUNTIME), false)), expected(XRAY_TRACE, XRAY_PARENT));
        let xray_only = [("X-Amzn-Trace-Id", XRAY)];
        assert_eq!(
            ids(&parent(&DEFAULT, Headers(&xray_only), Some(RUNTIME), false)),
            expected(XRAY_TRACE, XRAY_PARENT)
        );
    }

    #[test]
    fn an_invalid_source_gives_way_to_the_next() {
        // API Gateway's own X-Ray header without tracing has a Root but no Parent: not a span to continue.
        let headers = [("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")];
        let xray_root_only = [("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")];
        assert_eq!(
            ids(&parent(&DEFAULT, Headers(&headers), Some(RUNTIME), false)),
            expected(RUNTIME_TRACE, RUNTIME_PARENT)
        );
        let context = parent(&DEFAULT, Headers(&xray_root_only), Some(RUNTIME), false);
        assert_eq!(ids(&context), expected(RUNTIME_TRACE, RUNTIME_PARENT));
    }

    #[test]
    fn disabled_propagators_are_not_consulted() {
        let both = [("traceparent", TRACEPARENT), ("X-Amzn-Trace-Id", XRAY)];
        let w3c_only = [Propagator::TraceContext];
        assert_eq!(ids(&parent(&w3c_only, Headers(&both), Some(RUNTIME), false)), expected(W3C_TRACE, W3C_PARENT));
        let xray = [("X-Amzn-Trace-Id", XRAY)];
        assert_eq!(
            ids(&parent(&w3c_only, Headers(&xray), Some(RUNTIME), false)),
            None,
            "no xray: neither header nor runtime"
        );
        assert_eq!(ids(&parent(&[], Headers(&both), Some(RUNTIME), false)), None);
    }

    #[test]
    fn an_unsampled_runtime_trace_id_is_not_a_parent_but_an_unsampled_caller_is() {
        let unsampled = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=0";
        assert_eq!(ids(&parent(&DEFAULT, Headers(&[]), Some(unsampled), false)), None);
        let headers = [("X-Amzn-Trace-Id", unsampled)];
        let context = parent(&DEFAULT, Headers(&headers), None, false);
        assert_eq!(ids(&context), expected(RUNTIME_TRACE, RUNTIME_PARENT), "the caller decided; its decision stands");
        assert!(!context.span().span_context().is_sampled());
    }

    #[test]
    fn with_the_xray_exporter_the_runtime_comes_first_sampled_or_not() {
        let both = [("traceparent", TRACEPARENT), ("X-Amzn-Trace-Id", XRAY), ("baggage", "team=greeting")];
        let context = parent(&DEFAULT, Headers(&both), Some(RUNTIME), true);
        assert_eq!(ids(&context), expected(RUNTIME_TRACE, RUNTIME_PARENT), "Lambda's segment, not the caller's");
        assert!(context.span().span_context().is_sampled());
        assert_eq!(context.baggage().get("team").map(|value| value.as_str().to_string()), Some("greeting".into()));
        let w3c_only = [Propagator::TraceContext];
        assert_eq!(
            ids(&parent(&w3c_only, Headers(&both), Some(RUNTIME), true)),
            expected(RUNTIME_TRACE, RUNTIME_PARENT)
        );

        // X-Ray's decision stands: an unsampled invocation records nothing, for either exporter.
        let unsampled = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=0";
        let context = parent(&DEFAULT, Headers(&both), Some(unsampled), true);
        assert_eq!(ids(&context), expected(RUNTIME_TRACE, RUNTIME_PARENT));
        assert!(!context.span().span_context().is_sampled());

        // No usable runtime header: the usual order.
        let root_only = "Root=1-6759e988-bd862e3fe1be46a994272794";
        for runtime in [None, Some(root_only), Some("garbage")] {
            let context = parent(&DEFAULT, Headers(&both), runtime, true);
            assert_eq!(ids(&context), expected(W3C_TRACE, W3C_PARENT), "{runtime:?}");
        }
    }

    #[test]
    fn baggage_is_kept_wherever_it_is_listed() {
        let headers = [("traceparent", TRACEPARENT), ("baggage", "team=greeting")];
        for propagators in [DEFAULT.to_vec(), vec![Propagator::Baggage, Propagator::TraceContext]] {
            let context = parent(&propagators, Headers(&headers), None, false);
            assert_eq!(context.baggage().get("team").map(|value| value.as_str().to_string()), Some("greeting".into()));
            assert_eq!(ids(&context), expected(W3C_TRACE, W3C_PARENT), "{propagators:?}");
        }
    }
}
