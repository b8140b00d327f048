//! The trace view's parts on made-up spans: assembly, tree, text and JSON, the receiver's answers, and the choice of
//! format. tests/trace_view.rs runs the whole view with apigw-local and real `bootstrap` processes.

mod assembly;
mod collection;
mod render;

use opentelemetry::trace::{SpanId, TraceId};
use serde_json::Value;

use super::model::{Kind, Source, Span};

const TRACE: TraceId = TraceId::from_bytes([0x6b, 0x13, 0x11, 0xa4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
const FUNCTION: &str = "GetStartedLambdaProxyIntegration";

fn id(n: u64) -> SpanId {
    SpanId::from_bytes(n.to_be_bytes())
}

/// A span of [`TRACE`] from `start_us` to `end_us` (microseconds).
fn span(n: u64, parent: Option<u64>, name: &str, kind: Kind, source: Source, (start_us, end_us): (u64, u64)) -> Span {
    let service = if source == Source::Gateway { "apigw-local" } else { FUNCTION };
    Span {
        trace_id: TRACE,
        span_id: id(n),
        parent_id: parent.map(id),
        name: name.to_string(),
        kind,
        service: service.to_string(),
        start_ns: 1_700_000_000_000_000_000 + start_us * 1_000,
        end_ns: 1_700_000_000_000_000_000 + end_us * 1_000,
        error: false,
        attributes: Vec::new(),
        source,
    }
}

fn with(mut span: Span, attributes: &[(&str, Value)]) -> Span {
    span.attributes.extend(attributes.iter().map(|(key, value)| ((*key).to_string(), value.clone())));
    span
}

/// The gateway's two spans of a request that took 4.8 ms, the invocation 4.5 ms of it.
fn gateway_spans() -> Vec<Span> {
    let server = span(1, None, "POST /helloworld", Kind::Server, Source::Gateway, (0, 4_800));
    let server = with(
        server,
        &[
            ("http.request.method", "POST".into()),
            ("url.path", "/test/helloworld".into()),
            ("http.route", "/helloworld".into()),
            ("http.response.status_code", 200.into()),
        ],
    );
    let invoke = span(2, Some(1), "Lambda.Invoke", Kind::Client, Source::Gateway, (100, 4_600));
    vec![invoke, server]
}

/// The function's spans of that request: its SERVER span under `Lambda.Invoke`, and two steps inside it.
fn function_spans() -> Vec<Span> {
    let server = span(3, Some(2), "POST /helloworld", Kind::Server, Source::Function, (1_200, 4_000));
    let server = with(
        server,
        &[
            ("http.route", "/helloworld".into()),
            ("http.response.status_code", 200.into()),
            ("faas.coldstart", true.into()),
            ("faas.invocation_id", "c27b4b5e-4ee3-41fb-b88d-d44c6f13c1c4".into()),
        ],
    );
    let greeting = span(5, Some(3), "greeting", Kind::Internal, Source::Function, (1_900, 1_910));
    let decode = span(4, Some(3), "decode body", Kind::Internal, Source::Function, (1_840, 1_870));
    vec![greeting, decode, server]
}
