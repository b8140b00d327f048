//! The gateway's metrics: what API Gateway's own CloudWatch metrics tell its users (Count, Latency, 4XXError,
//! 5XXError, IntegrationLatency), in OpenTelemetry's semantic conventions, plus the requests in flight.
//!
//! - `http.server.request.duration` (histogram, s; `http.request.method`, `http.route` when a resource matched,
//!   `http.response.status_code`, `error.type` for a 5xx): its count is API Gateway's Count, its distribution the
//!   Latency, its status codes the 4XXError and 5XXError. The gateway's answers that never reached the function (403
//!   for an unknown path, 502 for a crashed function, 504) are among them.
//! - `aws.api_gateway.integration.duration` (histogram, s; method, route, `error.type` when the invocation failed):
//!   the IntegrationLatency, from the event handed over to the function's output back.
//! - `http.server.active_requests` (up-down counter, `{request}`; method, route): requests being answered, which the
//!   gateway, serving them concurrently, can count. (A function serves one at a time and is read between them.)
//!
//! Histograms use [`otlp_setup::DURATION_BOUNDARIES`], as the function's do, so that both can be compared bucket for
//! bucket. Exported by the SDK's periodic reader from a thread of its own, every `OTEL_METRIC_EXPORT_INTERVAL` (5 s
//! unless set: a local gateway is watched as it runs), and once more when the gateway stops.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use otlp_setup::DURATION_BOUNDARIES;
use tokio::time::Instant;

use super::exporter::MetricsExporter;

/// How often metrics are exported when `OTEL_METRIC_EXPORT_INTERVAL` does not say.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The gateway's instruments.
#[derive(Debug)]
pub(crate) struct GatewayMetrics {
    provider: SdkMeterProvider,
    duration: Histogram<f64>,
    integration: Histogram<f64>,
    active: UpDownCounter<i64>,
}

impl GatewayMetrics {
    /// Instruments exported through `exporter`, with `resource`.
    pub(crate) fn new(exporter: MetricsExporter, resource: Resource) -> Self {
        let mut reader = PeriodicReader::builder(exporter);
        if std::env::var_os("OTEL_METRIC_EXPORT_INTERVAL").is_none() {
            reader = reader.with_interval(DEFAULT_INTERVAL);
        }
        let provider = SdkMeterProvider::builder().with_reader(reader.build()).with_resource(resource).build();
        let scope = InstrumentationScope::builder("apigw-local").with_version(env!("CARGO_PKG_VERSION")).build();
        let meter = provider.meter_with_scope(scope);
        let duration = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
            .build();
        let integration = meter
            .f64_histogram("aws.api_gateway.integration.duration")
            .with_unit("s")
            .with_description("Time from the event handed to the function to its output back (IntegrationLatency).")
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
            .build();
        let active = meter
            .i64_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests.")
            .build();
        GatewayMetrics { provider, duration, integration, active }
    }

    /// Exports what is left, waiting at most about a second. Blocks: call it off the async workers.
    pub(crate) fn shutdown(&self) -> Result<(), opentelemetry_sdk::error::OTelSdkError> {
        self.provider.shutdown_with_timeout(Duration::from_secs(1))
    }

    /// A request started: it is in flight until [`Measured::end`].
    pub(crate) fn start(self: &Arc<Self>, method: &str, route: Option<&str>) -> Measured {
        let mut attributes = vec![KeyValue::new("http.request.method", known_method(method))];
        attributes.extend(route.map(|route| KeyValue::new("http.route", route.to_string())));
        self.active.add(1, &attributes);
        Measured { metrics: self.clone(), started: Instant::now(), attributes }
    }
}

/// `method` if the HTTP semantic conventions know it, else `_OTHER`: a client cannot make the series unbounded.
fn known_method(method: &str) -> String {
    const KNOWN: [&str; 9] = ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"];
    if KNOWN.contains(&method) { method.to_string() } else { "_OTHER".to_string() }
}

/// A request being measured.
#[derive(Debug)]
pub(crate) struct Measured {
    metrics: Arc<GatewayMetrics>,
    started: Instant,
    attributes: Vec<KeyValue>,
}

impl Measured {
    /// The function's invocation for this request starts now.
    pub(crate) fn integration(&self) -> Integration {
        Integration { metrics: self.metrics.clone(), began: Instant::now(), attributes: self.attributes.clone() }
    }

    /// The request was answered with `status`.
    pub(crate) fn end(self, status: u16) {
        self.metrics.active.add(-1, &self.attributes);
        let mut attributes = self.attributes;
        attributes.push(KeyValue::new("http.response.status_code", i64::from(status)));
        if status >= 500 {
            attributes.push(KeyValue::new("error.type", status.to_string()));
        }
        self.metrics.duration.record(self.started.elapsed().as_secs_f64(), &attributes);
    }
}

/// An invocation being measured.
#[derive(Debug)]
pub(crate) struct Integration {
    metrics: Arc<GatewayMetrics>,
    began: Instant,
    attributes: Vec<KeyValue>,
}

impl Integration {
    /// The invocation ended, with the `error.type` of its failure if it failed.
    pub(crate) fn end(self, error_type: Option<&'static str>) {
        let mut attributes = self.attributes;
        attributes.extend(error_type.map(|error| KeyValue::new("error.type", error)));
        self.metrics.integration.record(self.began.elapsed().as_secs_f64(), &attributes);
    }
}
