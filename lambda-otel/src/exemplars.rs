//! Exemplars: the histogram of request durations points to a real trace.
//!
//! The OpenTelemetry SDK's aggregations attach no exemplars, so the library keeps one itself: for each series of
//! `http.server.request.duration`, the last sampled invocation's duration with its trace and span ids, attached to
//! that series' point at the next export (and only to it: each is exported once). A dashboard's latency panel can then
//! show it as a dot that opens the trace.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use opentelemetry::trace::SpanContext;
use otlp_setup::opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_setup::opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use otlp_setup::opentelemetry_proto::tonic::metrics::v1::metric::Data;
use otlp_setup::opentelemetry_proto::tonic::metrics::v1::{Exemplar, exemplar};
use otlp_setup::series_key;

/// The histogram the exemplars are for.
const METRIC: &str = opentelemetry_semantic_conventions::metric::HTTP_SERVER_REQUEST_DURATION;

/// The latest exemplar of each series, waiting for the next export.
#[derive(Debug, Default)]
pub(crate) struct Exemplars {
    latest: Mutex<HashMap<String, Exemplar>>,
}

/// An attribute of the series, as the SDK exports it.
pub(crate) enum Attribute<'a> {
    Text(&'static str, &'a str),
    Int(&'static str, i64),
}

impl Exemplars {
    /// `seconds` of the invocation `span` was, in the series `attributes` name. Kept only for a sampled span: an
    /// exemplar must lead to a trace that was exported.
    pub(crate) fn record(&self, attributes: &[Attribute<'_>], seconds: f64, span: &SpanContext) {
        if !span.is_sampled() {
            return;
        }
        let attributes: Vec<KeyValue> = attributes.iter().map(key_value).collect();
        let time = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let exemplar = Exemplar {
            filtered_attributes: Vec::new(),
            time_unix_nano: u64::try_from(time).unwrap_or(u64::MAX),
            span_id: span.span_id().to_bytes().to_vec(),
            trace_id: span.trace_id().to_bytes().to_vec(),
            value: Some(exemplar::Value::AsDouble(seconds)),
        };
        self.lock().insert(series_key(&attributes), exemplar);
    }

    /// Attaches the exemplars waiting to the points of their series in `request`.
    pub(crate) fn attach(&self, request: &mut ExportMetricsServiceRequest) {
        let mut latest = self.lock();
        if latest.is_empty() {
            return;
        }
        let metrics = request.resource_metrics.iter_mut().flat_map(|resource| &mut resource.scope_metrics);
        for metric in metrics.flat_map(|scope| &mut scope.metrics).filter(|metric| metric.name == METRIC) {
            let Some(Data::Histogram(histogram)) = &mut metric.data else { continue };
            for point in &mut histogram.data_points {
                if let Some(exemplar) = latest.remove(&series_key(&point.attributes)) {
                    point.exemplars.push(exemplar);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Exemplar>> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn key_value(attribute: &Attribute<'_>) -> KeyValue {
    let (key, value) = match attribute {
        Attribute::Text(key, text) => (key, any_value::Value::StringValue((*text).to_string())),
        Attribute::Int(key, number) => (key, any_value::Value::IntValue(*number)),
    };
    KeyValue { key: (*key).to_string(), value: Some(AnyValue { value: Some(value) }), ..KeyValue::default() }
}
