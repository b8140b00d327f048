//! Metrics: recorded through the `metrics` facade, aggregated by the OpenTelemetry SDK, read by a `ManualReader` at
//! each flush.
//!
//! The facade is bridged by [`FacadeRecorder`] rather than by a bridge crate, because the contract in
//! docs/telemetry.md needs what the facade alone cannot say: units such as `{invocation}` (the facade's `Unit` has no
//! annotations), an int `http.response.status_code` (facade labels are strings), and histogram boundaries that resolve
//! a 0.2 ms invocation. The function's own metrics are in [`CATALOGUE`] with their instrument, unit and description,
//! so each of those names is exactly one OpenTelemetry instrument, hence one stream; any other name the application
//! records is exported too (see [`recorder`]).
//!
//! `http.server.active_requests` is not among them: a function serves one request at a time and its metrics are read
//! only between invocations, so an in-flight count would read 0 at every export. apigw-local, which serves requests
//! concurrently, records it.
//!
//! The functions at the bottom are the only places the library records: names and attributes live in this one file.

mod recorder;

use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::{Label, SharedString};
use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, FAAS_TRIGGER, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
};
use opentelemetry_semantic_conventions::metric::{
    FAAS_COLDSTARTS, FAAS_ERRORS, FAAS_INIT_DURATION, FAAS_INVOCATIONS, HTTP_SERVER_REQUEST_DURATION,
};

pub(crate) use recorder::FacadeRecorder;

/// The facade's kinds of metric, and so of instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

struct Definition {
    name: &'static str,
    kind: Kind,
    unit: &'static str,
    description: &'static str,
}

/// Every metric the library records, as the semantic conventions define it. Histograms in seconds get
/// [`otlp_setup::DURATION_BOUNDARIES`].
const CATALOGUE: [Definition; 5] = [
    Definition {
        name: HTTP_SERVER_REQUEST_DURATION,
        kind: Kind::Histogram,
        unit: "s",
        description: "Duration of HTTP server requests.",
    },
    Definition {
        name: FAAS_INVOCATIONS,
        kind: Kind::Counter,
        unit: "{invocation}",
        description: "Number of successful invocations.",
    },
    Definition { name: FAAS_ERRORS, kind: Kind::Counter, unit: "{error}", description: "Number of invocation errors." },
    Definition {
        name: FAAS_COLDSTARTS,
        kind: Kind::Counter,
        unit: "{coldstart}",
        description: "Number of invocation cold starts.",
    },
    Definition {
        name: FAAS_INIT_DURATION,
        kind: Kind::Histogram,
        unit: "s",
        description: "Measures the duration of the function's initialization, such as a cold start.",
    },
];

/// Attributes the semantic conventions type as int; the facade carries every label as a string.
const INT_ATTRIBUTES: [&str; 1] = [HTTP_RESPONSE_STATUS_CODE];

/// A meter provider whose metrics are read on demand.
pub(crate) struct MetricsPipeline {
    pub(crate) provider: SdkMeterProvider,
    pub(crate) reader: Arc<ManualReader>,
}

/// Builds the metrics pipeline for `resource`, and starts `recorder` on it.
pub(crate) fn pipeline(resource: Resource, temporality: Temporality, recorder: &FacadeRecorder) -> MetricsPipeline {
    let reader = Arc::new(ManualReader::builder().with_temporality(temporality).build());
    let provider =
        SdkMeterProvider::builder().with_resource(resource).with_reader(SharedReader(reader.clone())).build();
    let scope = InstrumentationScope::builder(env!("CARGO_PKG_NAME")).with_version(env!("CARGO_PKG_VERSION")).build();
    recorder.start(provider.meter_with_scope(scope));
    MetricsPipeline { provider, reader }
}

/// Lets the delivery collect from the reader the meter provider owns.
#[derive(Debug)]
pub(crate) struct SharedReader(pub(crate) Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// What triggered an invocation, as `faas.trigger` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// An API Gateway request.
    Http,
    /// Anything else (an event this function does not understand).
    Other,
}

impl Trigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Other => "other",
        }
    }
}

fn label(key: &'static str, value: impl Into<SharedString>) -> Label {
    Label::new(key, value)
}

/// An HTTP request was answered with `status` (none if the handler never answered) after `duration`.
pub(crate) fn request_duration(
    method: &str,
    route: Option<&str>,
    status: Option<u16>,
    error_type: Option<&str>,
    duration: Duration,
) {
    let mut labels = vec![label(HTTP_REQUEST_METHOD, method.to_string())];
    labels.extend(route.map(|route| label(HTTP_ROUTE, route.to_string())));
    labels.extend(status.map(|status| label(HTTP_RESPONSE_STATUS_CODE, status.to_string())));
    labels.extend(error_type.map(|error| label(ERROR_TYPE, error.to_string())));
    metrics::histogram!(HTTP_SERVER_REQUEST_DURATION, labels).record(duration.as_secs_f64());
}

/// An invocation ended: counted in `faas.invocations` if it succeeded, in `faas.errors` with its `error.type` if not.
pub(crate) fn invocation(trigger: Trigger, method: Option<&str>, error_type: Option<&str>) {
    let mut labels = vec![label(FAAS_TRIGGER, trigger.as_str())];
    labels.extend(method.map(|method| label(HTTP_REQUEST_METHOD, method.to_string())));
    match error_type {
        None => metrics::counter!(FAAS_INVOCATIONS, labels).increment(1),
        Some(error) => {
            labels.push(label(ERROR_TYPE, error.to_string()));
            metrics::counter!(FAAS_ERRORS, labels).increment(1);
        }
    }
}

/// The execution environment's first invocation: one cold start, which took `init_duration` to get ready.
pub(crate) fn coldstart(trigger: Trigger, init_duration: Duration) {
    let labels = vec![label(FAAS_TRIGGER, trigger.as_str())];
    metrics::counter!(FAAS_COLDSTARTS, labels.clone()).increment(1);
    metrics::histogram!(FAAS_INIT_DURATION, labels).record(init_duration.as_secs_f64());
}

#[cfg(test)]
mod tests;
