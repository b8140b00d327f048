//! The OTLP span and metric exporters of `otlp-setup`, run where their transports work.
//!
//! The SDK's batch processor and periodic reader export from plain threads of their own, without a tokio reactor, and both transports are
//! async: hyper's connection pool and tonic's channel start tasks and register sockets on the runtime whose context
//! polls them. So the exporter gets a one-worker runtime of its own that drives those tasks, and each export is polled
//! inside that runtime's context. The gateway's runtime is left out of it: a flush that blocked the gateway's only
//! thread while a transport task waited on that thread would never finish, and would stop the gateway serving.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use otlp_setup::opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_setup::{ExporterConfig, MetricsClient, SeriesStarts};
use tokio::runtime::{Handle, Runtime};

/// OTLP's default limit of one export, when `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` does not set one.
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the gateway runs without tracing.
#[derive(Debug)]
pub(crate) enum ExporterError {
    /// The exporter's runtime could not start.
    Runtime(std::io::Error),
    /// The exporter could not be built from its configuration.
    Setup(otlp_setup::Error),
}

impl std::fmt::Display for ExporterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExporterError::Runtime(error) => write!(f, "cannot start the exporter's runtime: {error}"),
            ExporterError::Setup(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ExporterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExporterError::Runtime(error) => Some(error),
            ExporterError::Setup(error) => Some(error),
        }
    }
}

/// The one-worker runtime the exporters' transports run on, shared by the span and the metric exporter.
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    /// An `Option` only so that `drop` can take it.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl ExportRuntime {
    pub(crate) fn new() -> Result<Arc<Self>, ExporterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(ExporterError::Runtime)?;
        Ok(Arc::new(ExportRuntime { handle: runtime.handle().clone(), runtime: Some(runtime) }))
    }

    /// `build` inside the runtime's context: tonic's channel spawns its connection task on the runtime it is built in.
    fn build<T>(&self, build: impl FnOnce() -> Result<T, otlp_setup::Error>) -> Result<T, ExporterError> {
        let _inside = self.handle.enter();
        build().map_err(ExporterError::Setup)
    }

    /// `future` polled inside the runtime's context.
    fn run<F: Future>(&self, future: F) -> InRuntime<F> {
        InRuntime { runtime: self.handle.clone(), future: Box::pin(future) }
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        // Whoever drops the last exporter (the batch processor's or periodic reader's thread, or a test's async
        // worker) must not block on the runtime's shutdown, which an async worker may not do at all.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Reports failures once per outage, not once per batch.
#[derive(Debug)]
struct Reporter {
    signal: &'static str,
    destination: String,
    failing: AtomicBool,
}

impl Reporter {
    fn report(&self, result: &OTelSdkResult) {
        let was_failing = self.failing.swap(result.is_err(), Ordering::Relaxed);
        let (signal, destination) = (self.signal, &self.destination);
        match result {
            Err(error) if !was_failing => crate::message!(
                "{signal} export to {destination} failed ({error}); {signal} are dropped until it works again"
            ),
            Ok(()) if was_failing => crate::message!("{signal} export to {destination} works again"),
            _ => {}
        }
    }
}

/// The span exporter.
#[derive(Debug)]
pub(crate) struct Exporter {
    otlp: opentelemetry_otlp::SpanExporter,
    runtime: Arc<ExportRuntime>,
    reporter: Reporter,
}

impl Exporter {
    /// The exporter `config` describes, on `runtime`.
    pub(crate) fn new(config: &ExporterConfig, runtime: Arc<ExportRuntime>) -> Result<Self, ExporterError> {
        let timeout = config.timeout.unwrap_or(DEFAULT_EXPORT_TIMEOUT);
        let otlp = runtime.build(|| otlp_setup::span_exporter(config, timeout))?;
        Ok(Self { otlp, runtime, reporter: reporter("traces", config) })
    }

    /// Where the spans go, for the gateway's start-up message.
    pub(crate) fn destination(&self) -> &str {
        &self.reporter.destination
    }
}

fn reporter(signal: &'static str, config: &ExporterConfig) -> Reporter {
    let destination = format!("{} ({})", config.endpoint, config.protocol.name());
    Reporter { signal, destination, failing: AtomicBool::new(false) }
}

impl SpanExporter for Exporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.runtime.run(self.otlp.export(batch)).await;
        self.reporter.report(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.otlp.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.otlp.set_resource(resource);
    }
}

/// The metric exporter: every cumulative series starts with a zero point (see `otlp_setup::SeriesStarts`), so that
/// Prometheus counts what the gateway served before its first export.
#[derive(Debug)]
pub(crate) struct MetricsExporter {
    client: MetricsClient,
    temporality: Temporality,
    starts: Mutex<SeriesStarts>,
    runtime: Arc<ExportRuntime>,
    reporter: Reporter,
}

impl MetricsExporter {
    /// The exporter `config` describes, exporting with `temporality`, on `runtime`.
    pub(crate) fn new(
        config: &ExporterConfig,
        temporality: Temporality,
        runtime: Arc<ExportRuntime>,
    ) -> Result<Self, ExporterError> {
        let timeout = config.timeout.unwrap_or(DEFAULT_EXPORT_TIMEOUT);
        let client = runtime.build(|| MetricsClient::new(config, timeout))?;
        let starts = Mutex::new(SeriesStarts::new(SystemTime::now()));
        Ok(Self { client, temporality, starts, runtime, reporter: reporter("metrics", config) })
    }
}

impl PushMetricExporter for MetricsExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let mut request = ExportMetricsServiceRequest::from(metrics);
        let new = self.starts.lock().unwrap_or_else(PoisonError::into_inner).add_zero_points(&mut request);
        let result = self.runtime.run(self.client.export(request)).await;
        let result = match result {
            Ok(()) => {
                self.starts.lock().unwrap_or_else(PoisonError::into_inner).exported(new, SystemTime::now());
                Ok(())
            }
            Err(error) => Err(OTelSdkError::InternalFailure(error.to_string())),
        };
        self.reporter.report(&result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Every export is sent when it is made: nothing waits here.
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

/// A future polled inside a tokio runtime's context from a thread that is none of its workers: the transport's
/// timers, sockets and tasks find that runtime, whose own worker drives them.
struct InRuntime<F> {
    runtime: Handle,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _inside = this.runtime.enter();
        this.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otlp_setup::Protocol;

    fn config(protocol: Protocol, endpoint: &str, certificate: Option<&str>) -> ExporterConfig {
        ExporterConfig {
            protocol,
            endpoint: endpoint.to_string(),
            headers: Vec::new(),
            timeout: None,
            certificate: certificate.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn both_transports_build_inside_the_gateways_runtime_for_plain_and_https_collectors() {
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
            for endpoint in ["http://localhost:4318", "https://otlp.example.com"] {
                let exporter = Exporter::new(&config(protocol, endpoint, None), ExportRuntime::new().unwrap()).unwrap();
                assert!(exporter.destination().starts_with(endpoint), "{}", exporter.destination());
                // Dropped on an async worker: must not block or panic.
                drop(exporter);
            }
            let unreadable = config(protocol, "https://otlp.example.com", Some("/nonexistent/ca.pem"));
            let error = Exporter::new(&unreadable, ExportRuntime::new().unwrap()).unwrap_err();
            assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
            // Not read for a plain http:// collector, which needs no certificate.
            let plain = config(protocol, "http://localhost:4318", Some("/nonexistent/ca.pem"));
            assert!(Exporter::new(&plain, ExportRuntime::new().unwrap()).is_ok());
            let metrics = MetricsExporter::new(&plain, Temporality::Cumulative, ExportRuntime::new().unwrap());
            assert!(metrics.is_ok());
        }
    }
}
