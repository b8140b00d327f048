//! OpenTelemetry for a Rust Lambda function behind API Gateway, delivered the way Lambda's execution model needs.
//!
//! Per invocation: one SERVER span named after the API Gateway resource (`GET /helloworld`), parented on the caller's
//! `traceparent` or `X-Amzn-Trace-Id`; the HTTP and FaaS metrics of the semantic conventions through the `metrics`
//! facade, and/or per-method CloudWatch metrics as EMF lines on stdout; a JSON log line with the trace ids.
//! Everything is exported after the response is posted and before the next event is asked for, within a deadline, so
//! the caller never waits, Lambda's freeze loses nothing and a dead collector costs next to nothing. At shutdown the
//! last spans and metrics go out. Configured by the standard `OTEL_*` variables and Lambda's own (docs/telemetry.md
//! is the contract).
//!
//! Four lines around any `lambda_http` handler:
//!
//! ```no_run
//! use lambda_http::{Body, Error, Request, Response, service_fn};
//! use lambda_otel::RecordStatus;
//!
//! async fn hello(_request: Request) -> Result<Response<Body>, Error> {
//!     Ok(Response::new(Body::from("Hello")))
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Error> {
//!     // Spans of this crate join the trace; JSON logs carry their ids.
//!     let telemetry = lambda_otel::builder().trace_crate(env!("CARGO_CRATE_NAME")).init();
//!     // The last flush on SIGTERM (an internal extension makes Lambda send it).
//!     telemetry.flush_on_shutdown().await;
//!     // `runtime`, not `run`: `run` adds the runtime's own tracing layer above the invocation's span.
//!     let runtime = lambda_http::runtime(RecordStatus::new(service_fn(hello)));
//!     runtime.layer(telemetry.layer()).run().await
//! }
//! ```

mod delivery;
mod emf;
mod exemplars;
mod invocation;
mod logs;
mod metrics;
mod parent;
mod resource;
mod settings;
mod shutdown;
mod xray;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{SpanContext, TracerProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use otlp_setup::Propagator;
use tokio::time::Instant;

pub use invocation::{InvocationLayer, Invocations, RecordStatus};

use emf::Emf;
use exemplars::Exemplars;
use metrics::FacadeRecorder;

use delivery::{BufferingProcessor, Delivery, Exporters, FINAL_FLUSH_LIMIT, Policy, SPAN_BUFFER_CAPACITY, SpanBuffer};
use settings::Settings;

/// How the telemetry is set up, beyond what the environment says. Made by [`builder`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    traced_crates: Vec<&'static str>,
    service_version: Option<&'static str>,
    histogram_boundaries: HashMap<String, Vec<f64>>,
}

/// Telemetry set up from the environment, with the function's own choices added on the [`Builder`].
pub fn builder() -> Builder {
    Builder::default()
}

impl Builder {
    /// Makes the spans (and the warnings and errors inside them) of the crate `name`, as its `CARGO_CRATE_NAME`
    /// spells it, part of each invocation's trace. Spans of other crates only reach the logs: the exporters' own HTTP
    /// client must never become a span of the trace it is exporting.
    pub fn trace_crate(mut self, name: &'static str) -> Self {
        self.traced_crates.push(name);
        self
    }

    /// Bucket boundaries for the function's own histogram `name` (recorded with `metrics::histogram!`). Without
    /// them a histogram described in seconds or milliseconds (`metrics::describe_histogram!`) resolves 50 µs to 30 s,
    /// and any other gets the OpenTelemetry SDK's default boundaries.
    pub fn histogram_boundaries(mut self, name: impl Into<String>, boundaries: Vec<f64>) -> Self {
        self.histogram_boundaries.insert(name.into(), boundaries);
        self
    }

    /// The `service.version` of the resource, such as the function's `CARGO_PKG_VERSION`.
    pub fn service_version(mut self, version: &'static str) -> Self {
        self.service_version = Some(version);
        self
    }

    /// Sets up logging and, unless `OTEL_SDK_DISABLED=true`, the tracing and metrics pipelines. Call it first, on the
    /// tokio runtime that will run the Lambda runtime (the gRPC exporter starts a task there).
    ///
    /// Never fails: a variable that cannot be used is reported on stderr and its default applies, and exporters that
    /// cannot be built leave the function running with logs only.
    pub fn init(self) -> Telemetry {
        let started = Instant::now();
        let settings = Settings::from_env();
        for warning in &settings.warnings {
            eprintln!("{}: {warning}", env!("CARGO_PKG_NAME"));
        }
        let (telemetry, tracer) = if settings.otlp.disabled {
            (Telemetry::disabled(), None)
        } else {
            let exemplars = Arc::new(Exemplars::default());
            let since = SystemTime::now() - started.elapsed();
            match delivery::otlp(&settings, exemplars.clone(), since) {
                Ok(exporters) => {
                    let exporters = Box::new(exporters);
                    let (telemetry, tracer) =
                        Telemetry::start(settings.clone(), self.service_version, exporters, exemplars, started);
                    // The application's own metrics go out over OTLP only: without it, the facade keeps its no-op
                    // recorder and they cost nothing.
                    if settings.metrics_exporters.otlp {
                        let recorder = FacadeRecorder::new(self.histogram_boundaries);
                        if ::metrics::set_global_recorder(recorder.clone()).is_err() {
                            eprintln!(
                                "{}: a metrics recorder was already installed; metrics go there",
                                env!("CARGO_PKG_NAME")
                            );
                        }
                        telemetry.record_metrics_with(recorder);
                    }
                    (telemetry, Some(tracer))
                }
                Err(error) => {
                    eprintln!(
                        "{}: telemetry disabled, the OTLP exporters cannot be built: {error}",
                        env!("CARGO_PKG_NAME")
                    );
                    (Telemetry::disabled(), None)
                }
            }
        };
        logs::install(&settings, tracer, self.traced_crates);
        telemetry
    }
}

/// The subscriber [`Builder::init`] installs, configured by the Lambda variables `variables` (such as
/// `AWS_LAMBDA_LOG_FORMAT`) instead of the environment, with `tracer`'s OpenTelemetry layer, writing to `output`
/// instead of stdout. Not part of the API: benches/log_line.rs measures the log lines of the real subscriber with it.
#[doc(hidden)]
pub fn log_subscriber<W>(
    variables: &[(&str, &str)],
    tracer: SdkTracer,
    output: W,
) -> impl tracing::Subscriber + Send + Sync + use<W>
where
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    let settings =
        Settings::parse(|name| variables.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string()));
    logs::subscriber(&settings, Some(tracer), Vec::new(), output)
}

/// The part of the billed time after a response that the exports leave to what follows them: tokio's timers fire at
/// the end of the millisecond their deadline falls in, the cancelled exports' connections are closed, the failure is
/// logged and the runtime asks for the next event (1.5 to 2.5 ms on a cold start against a collector that never
/// answers, as the Runtime API sees it).
const WRAP_UP: Duration = Duration::from_millis(3);

/// The function's telemetry, made by [`Builder::init`]; cheap to clone. Disabled, it does nothing at all.
#[derive(Clone)]
pub struct Telemetry {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    settings: Settings,
    service_version: Option<&'static str>,
    delivery: Delivery,
    /// The latest sampled invocation of each request-duration series, for the next metrics export.
    exemplars: Arc<Exemplars>,
    /// Kept for the process's life: dropping the provider shuts its reader down.
    meter_provider: OnceLock<SdkMeterProvider>,
    /// The `metrics` recorder, which the meter provider's instruments back once it starts.
    recorder: OnceLock<FacadeRecorder>,
    started: Instant,
    /// When the runtime was built and ready for its first event: the end of the init phase.
    ready: OnceLock<Instant>,
    cold: AtomicBool,
    /// The CloudWatch EMF lines, when `OTEL_METRICS_EXPORTER` lists `emf`.
    emf: Option<Emf>,
}

impl Telemetry {
    pub(crate) fn disabled() -> Self {
        Telemetry { inner: None }
    }

    /// Telemetry exporting through `exporters`, and the tracer its spans must be made with (the subscriber's
    /// OpenTelemetry layer). `started` is when the process started, for `faas.init_duration`.
    pub(crate) fn start(
        settings: Settings,
        service_version: Option<&'static str>,
        exporters: Box<dyn Exporters>,
        exemplars: Arc<Exemplars>,
        started: Instant,
    ) -> (Self, SdkTracer) {
        let buffer = Arc::new(SpanBuffer::new(SPAN_BUFFER_CAPACITY));
        let xray = if settings.traces.xray { xray::XRay::new(&settings) } else { None };
        let processor = BufferingProcessor {
            otlp: settings.traces.otlp.then(|| buffer.clone()),
            xray: xray.as_ref().map(xray::XRay::queue),
        };
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(settings.otlp.sampler.to_sdk())
            .build();
        let scope =
            InstrumentationScope::builder(env!("CARGO_PKG_NAME")).with_version(env!("CARGO_PKG_VERSION")).build();
        let tracer = tracer_provider.tracer_with_scope(scope);
        let delivery = Delivery::new(exporters, buffer, settings.otlp.temporality, settings.pacing).with_xray(xray);
        let emf = settings.metrics_exporters.emf.as_deref().map(|namespace| {
            // Straight to stdout, not through the log subscriber: the lines are metrics, which no log level filters.
            Emf::new(namespace, &settings.service_name, Box::new(std::io::stdout()))
        });
        let inner = Inner {
            settings,
            service_version,
            delivery,
            exemplars,
            meter_provider: OnceLock::new(),
            recorder: OnceLock::new(),
            started,
            ready: OnceLock::new(),
            cold: AtomicBool::new(true),
            emf,
        };
        (Telemetry { inner: Some(Arc::new(inner)) }, tracer)
    }

    /// Whether anything is recorded and exported (not with `OTEL_SDK_DISABLED=true`).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The layer for `lambda_runtime::Runtime::layer`. Call it once the runtime is built: the init phase is measured
    /// up to this call.
    pub fn layer(&self) -> InvocationLayer {
        if let Some(inner) = &self.inner {
            let _ = inner.ready.set(Instant::now());
        }
        InvocationLayer::new(self.clone())
    }

    fn runtime_api(&self) -> Option<&str> {
        self.inner.as_ref()?.settings.lambda.runtime_api.as_deref()
    }

    fn propagators(&self) -> &[Propagator] {
        self.inner.as_ref().map_or(&[], |inner| &inner.settings.otlp.propagators)
    }

    /// Whether the runtime's trace header is the invocation's parent before the event's headers: with X-Ray among
    /// the trace exporters, the spans belong under Lambda's function segment.
    fn runtime_parent_first(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.settings.traces.xray)
    }

    /// Keeps the invocation `span` as the exemplar of the request-duration series `attributes` name.
    fn exemplar(&self, attributes: &[exemplars::Attribute<'_>], duration: Duration, span: &SpanContext) {
        if let Some(inner) = &self.inner {
            inner.exemplars.record(attributes, duration.as_secs_f64(), span);
        }
    }

    /// Whether metrics go out over OTLP: only then are the SDK's instruments fed and exemplars kept.
    fn exports_otlp_metrics(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.settings.metrics_exporters.otlp)
    }

    /// Counts `invocation` in the EMF lines, when metrics go to CloudWatch that way.
    fn record_emf(&self, invocation: &emf::Invocation<'_>) {
        if let Some(emf) = self.inner.as_ref().and_then(|inner| inner.emf.as_ref()) {
            emf.record(invocation);
        }
    }

    /// Backs the `metrics` facade's recordings with this telemetry's metrics pipeline once it starts.
    fn record_metrics_with(&self, recorder: FacadeRecorder) {
        if let Some(inner) = &self.inner {
            let _ = inner.recorder.set(recorder);
        }
    }

    /// Whether this invocation is the process's first (a cold start): true once only.
    fn take_coldstart(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.cold.swap(false, Ordering::Relaxed))
    }

    /// After the first invocation's response: completes the resource with the account in `invoked_function_arn`,
    /// starts the OTLP metrics pipeline with it (when metrics go out over OTLP), and returns how long the init phase
    /// took.
    ///
    /// Metrics start here because a meter provider's resource cannot change, and nothing is recorded before the first
    /// invocation's response anyway; the span exporter takes the new resource at the first flush. Building the
    /// pipeline is the costliest step of an invocation's telemetry: the client already has its response.
    fn start_metrics(&self, invoked_function_arn: &str) -> Option<Duration> {
        let inner = self.inner.as_ref()?;
        let account_id = resource::account_id(invoked_function_arn);
        let resource = resource::resource(&inner.settings, inner.service_version, account_id);
        inner.delivery.set_resource(resource.clone());
        if inner.settings.metrics_exporters.otlp {
            let recorder = inner.recorder.get_or_init(FacadeRecorder::default);
            let pipeline = metrics::pipeline(resource, inner.settings.otlp.temporality, recorder);
            inner.delivery.collect_metrics_from(pipeline.reader);
            let _ = inner.meter_provider.set(pipeline.provider);
        }
        let ready = inner.ready.get().copied().unwrap_or_else(Instant::now);
        Some(ready.saturating_duration_since(inner.started))
    }

    /// The flush after an invocation whose response was posted at `posted`, skipped while backing off: over by
    /// `LAMBDA_OTEL_FLUSH_TIMEOUT_MS` after it, which bounds all the billed time after the response, not only the
    /// exports. Their deadline leaves [`WRAP_UP`] of it to what follows them. The EMF lines due by the metrics pacing
    /// go first: a write each, no round trip.
    async fn flush_after_invocation(&self, posted: Instant) {
        if let Some(inner) = &self.inner {
            if let Some(emf) = &inner.emf {
                emf.write_paced(Instant::now(), inner.settings.pacing.metrics_interval);
            }
            let deadline = posted + inner.settings.flush_timeout.saturating_sub(WRAP_UP);
            inner.delivery.flush(deadline, Policy::Invocation).await;
        }
    }

    /// Registers the shutdown path: on SIGTERM or SIGINT, one last [`flush`](Self::flush), then the process exits.
    /// Lambda sends SIGTERM at shutdown only to a runtime with an extension, so where the Extensions API exists an
    /// internal extension is registered. Await it during init, before the runtime asks for its first event.
    pub async fn flush_on_shutdown(&self) {
        shutdown::install(self).await;
    }

    /// Exports whatever is buffered, whatever the backoff says, within 400 ms: Lambda gives a runtime with an
    /// internal extension 500 ms after SIGTERM before it kills the process.
    pub async fn flush(&self) {
        if let Some(inner) = &self.inner {
            if let Some(emf) = &inner.emf {
                emf.write_all();
            }
            inner.delivery.flush(Instant::now() + FINAL_FLUSH_LIMIT, Policy::Final).await;
        }
    }
}
