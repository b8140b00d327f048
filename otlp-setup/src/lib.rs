//! OTLP export configured the standard way, shared by the function's telemetry and by apigw-local.
//!
//! - [`OtlpConfig`]: the `OTEL_*` variables (SDK switch, service name, resource attributes, each signal's exporter,
//!   sampler, propagators, temporality), read through [`Variables`], the one parser, which collects a warning for
//!   each value it cannot use instead of failing.
//! - [`span_exporter`] and [`MetricsClient`]: OTLP over HTTP/protobuf (hyper, HTTP/1.1) or gRPC (tonic), `https://`
//!   collectors over rustls with Mozilla's roots compiled in or the CA file `OTEL_EXPORTER_OTLP_CERTIFICATE` names.
//! - [`extract`], [`xray_header`], [`traceparent`]: W3C and X-Ray trace context through the OpenTelemetry
//!   propagators, with the headers checked against their formats first.
//! - [`DURATION_BOUNDARIES`]: histogram buckets that resolve a 0.2 ms invocation as well as a 30 s one.
//! - [`SeriesStarts`]: a zero point before each cumulative series' first, so that Prometheus counts from the start.
//!
//! ```
//! use otlp_setup::{OtlpConfig, Protocol, Variables};
//!
//! let mut variables = Variables::new(|name: &str| match name {
//!     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".to_string()),
//!     "OTEL_TRACES_SAMPLER" => Some("sometimes".to_string()),
//!     _ => None,
//! });
//! let config = OtlpConfig::read(&mut variables);
//! assert_eq!(config.traces.endpoint, "http://collector:4318/v1/traces");
//! assert_eq!(config.metrics.protocol, Protocol::HttpProtobuf);
//! assert_eq!(variables.warnings().len(), 1, "the unknown sampler is ignored, with a warning");
//! ```

mod config;
mod error;
mod exporters;
mod histogram;
mod http_client;
mod metrics_client;
mod propagation;
mod series_start;
mod tls;

pub use config::{ExporterConfig, OtlpConfig, Propagator, Protocol, Sampler, Variables};
pub use error::Error;
pub use exporters::span_exporter;
pub use histogram::DURATION_BOUNDARIES;
pub use metrics_client::{ExportError, MetricsClient};
/// The OTLP protobuf messages, for [`MetricsClient`]'s callers.
pub use opentelemetry_proto;
pub use propagation::{Headers, XRAY_HEADER, extract, traceparent, xray_header, xray_span_context};
pub use series_start::{NewSeries, SeriesStarts, series_key};
