//! One span as the view needs it, from either source: the gateway's own spans (the SDK's `SpanData`, through the
//! protobuf types opentelemetry-proto converts it to) and the functions' OTLP exports (the same types, decoded).

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue as ProtoAnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span as ProtoSpan};
use serde_json::Value;

/// Where a span came from: completeness is judged by what the gateway has ended and what the function sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Ended in this process.
    Gateway,
    /// Received over OTLP from a function.
    Function,
}

/// OpenTelemetry's span kinds, as the view names them (`unspecified` reads as `internal`, as the specification allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// A span, ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Span {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    /// `None` for a root; a parent that is not in the trace (the client's, say) is kept, and the span drawn as a root.
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// The resource's `service.name`.
    pub(crate) service: String,
    /// Unix time in nanoseconds.
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    /// The span's status is `Error`.
    pub(crate) error: bool,
    /// In the order they were set.
    pub(crate) attributes: Vec<(String, Value)>,
    pub(crate) source: Source,
}

impl Span {
    /// The span's duration in nanoseconds (never negative, whatever a clock did).
    pub(crate) fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// The attribute `key`, if set.
    pub(crate) fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes.iter().find(|(name, _)| name == key).map(|(_, value)| value)
    }

    /// A span from its protobuf form; `None` when its ids are not valid (the specification says to drop those).
    pub(crate) fn from_proto(span: ProtoSpan, service: &str, source: Source) -> Option<Self> {
        let trace_id = TraceId::from_bytes(span.trace_id.as_slice().try_into().ok()?);
        let span_id = SpanId::from_bytes(span.span_id.as_slice().try_into().ok()?);
        if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
            return None;
        }
        let parent_id = <[u8; 8]>::try_from(span.parent_span_id.as_slice())
            .ok()
            .map(SpanId::from_bytes)
            .filter(|parent| *parent != SpanId::INVALID);
        let kind = match SpanKind::try_from(span.kind) {
            Ok(SpanKind::Server) => Kind::Server,
            Ok(SpanKind::Client) => Kind::Client,
            Ok(SpanKind::Producer) => Kind::Producer,
            Ok(SpanKind::Consumer) => Kind::Consumer,
            Ok(SpanKind::Internal | SpanKind::Unspecified) | Err(_) => Kind::Internal,
        };
        let error = span.status.is_some_and(|status| status.code == StatusCode::Error as i32);
        Some(Span {
            trace_id,
            span_id,
            parent_id,
            name: span.name,
            kind,
            service: service.to_string(),
            start_ns: span.start_time_unix_nano,
            end_ns: span.end_time_unix_nano,
            error,
            attributes: span.attributes.into_iter().map(attribute).collect(),
            source,
        })
    }
}

/// The spans of one OTLP export, each with its resource's `service.name`.
pub(crate) fn spans_of_export(request: ExportTraceServiceRequest) -> Vec<Span> {
    request.resource_spans.into_iter().flat_map(spans_of_resource).collect()
}

fn spans_of_resource(resource_spans: ResourceSpans) -> impl Iterator<Item = Span> {
    let service = resource_spans
        .resource
        .iter()
        .flat_map(|resource| &resource.attributes)
        .find(|attribute| attribute.key == "service.name")
        .and_then(|attribute| match attribute.value.as_ref().and_then(|value| value.value.as_ref()) {
            Some(AnyValue::StringValue(name)) => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown_service".to_string());
    resource_spans
        .scope_spans
        .into_iter()
        .flat_map(|scope| scope.spans)
        .filter_map(move |span| Span::from_proto(span, &service, Source::Function))
}

fn attribute(attribute: KeyValue) -> (String, Value) {
    (attribute.key, attribute.value.map_or(Value::Null, any_value))
}

/// An OTLP value as JSON: strings, booleans and numbers as themselves, arrays and maps as JSON's, bytes in hex.
fn any_value(value: ProtoAnyValue) -> Value {
    match value.value {
        None => Value::Null,
        Some(AnyValue::StringValue(text)) => Value::String(text),
        Some(AnyValue::BoolValue(flag)) => Value::Bool(flag),
        Some(AnyValue::IntValue(number)) => Value::from(number),
        Some(AnyValue::DoubleValue(number)) => Value::from(number),
        Some(AnyValue::ArrayValue(array)) => Value::Array(array.values.into_iter().map(any_value).collect()),
        Some(AnyValue::KvlistValue(list)) => Value::Object(
            list.values.into_iter().map(|pair| (pair.key, pair.value.map_or(Value::Null, any_value))).collect(),
        ),
        Some(AnyValue::BytesValue(bytes)) => Value::String(bytes.iter().map(|byte| format!("{byte:02x}")).collect()),
        // An index into a dictionary that OTLP/HTTP exports do not carry.
        Some(AnyValue::StringValueStrindex(_)) => Value::Null,
    }
}
