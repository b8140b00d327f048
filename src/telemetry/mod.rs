//! OpenTelemetry for the function: configured by the standard `OTEL_*` variables, one SERVER span and the HTTP and
//! FaaS metrics per invocation, JSON logs that carry the trace ids, and delivery after each response (see
//! docs/telemetry.md for the contract).
//!
//! `main` calls [`init`] first, then [`shutdown::install`], and layers [`Telemetry::layer`] on the runtime around a
//! handler wrapped in [`RecordStatus`].

pub mod export;
pub mod http_client;
pub mod invocation;
pub mod logs;
pub mod metrics;
pub mod propagation;
pub mod resource;
pub mod settings;
pub mod shutdown;
pub mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tokio::time::Instant;

pub use invocation::{InvocationLayer, RecordStatus};

use export::{BufferingProcessor, Delivery, Exporters, FINAL_FLUSH_LIMIT, Policy, SPAN_BUFFER_CAPACITY, SpanBuffer};
use settings::{Propagator, Settings};

/// The part of the billed time after a response that the exports leave to what follows them: tokio's timers fire at
/// the end of the millisecond their deadline falls in, the cancelled exports' connections are closed, the failure is
/// logged and the runtime asks for the next event (1.5 to 2.5 ms on a cold start against a collector that never
/// answers, as the Runtime API sees it).
const WRAP_UP: Duration = Duration::from_millis(3);

/// Sets up logging and, unless `OTEL_SDK_DISABLED=true`, the tracing and metrics pipelines, from the environment.
///
/// Never fails: a variable that cannot be used is reported on stderr and its default applies, and exporters that
/// cannot be built leave the function running with logs only.
pub fn init() -> Telemetry {
    let started = Instant::now();
    let settings = Settings::from_env();
    for warning in &settings.warnings {
        eprintln!("{}: {warning}", env!("CARGO_PKG_NAME"));
    }
    let (telemetry, tracer) = if settings.disabled {
        (Telemetry::disabled(), None)
    } else {
        match export::otlp(&settings) {
            Ok(exporters) => {
                let (telemetry, tracer) = Telemetry::start(settings.clone(), Box::new(exporters), started);
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
    logs::install(&settings, tracer);
    telemetry
}

/// The function's telemetry; cheap to clone. Disabled, it does nothing at all.
#[derive(Clone)]
pub struct Telemetry {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    settings: Settings,
    delivery: Delivery,
    /// Kept for the process's life: dropping the provider shuts its reader down.
    meter_provider: OnceLock<SdkMeterProvider>,
    started: Instant,
    /// When the runtime was built and ready for its first event: the end of the init phase.
    ready: OnceLock<Instant>,
    cold: AtomicBool,
}

impl Telemetry {
    pub fn disabled() -> Self {
        Telemetry { inner: None }
    }

    /// Telemetry exporting through `exporters`, and the tracer its spans must be made with (the subscriber's
    /// OpenTelemetry layer). `started` is when the process started, for `faas.init_duration`.
    pub fn start(settings: Settings, exporters: Box<dyn Exporters>, started: Instant) -> (Self, SdkTracer) {
        let buffer = Arc::new(SpanBuffer::new(SPAN_BUFFER_CAPACITY));
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(BufferingProcessor(buffer.clone()))
            .with_sampler(sampler(&settings.sampler))
            .build();
        let scope =
            InstrumentationScope::builder(env!("CARGO_PKG_NAME")).with_version(env!("CARGO_PKG_VERSION")).build();
        let tracer = tracer_provider.tracer_with_scope(scope);
        let delivery = Delivery::new(exporters, buffer, settings.temporality);
        let inner = Inner {
            settings,
            delivery,
            meter_provider: OnceLock::new(),
            started,
            ready: OnceLock::new(),
            cold: AtomicBool::new(true),
        };
        (Telemetry { inner: Some(Arc::new(inner)) }, tracer)
    }

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
        self.inner.as_ref().map_or(&[], |inner| &inner.settings.propagators)
    }

    /// Whether this invocation is the process's first (a cold start): true once only.
    fn take_coldstart(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.cold.swap(false, Ordering::Relaxed))
    }

    /// After the first invocation's response: completes the resource with the account in `invoked_function_arn`,
    /// starts the metrics pipeline with it, and returns how long the init phase took.
    ///
    /// Metrics start here because a meter provider's resource cannot change, and nothing is recorded before the first
    /// invocation's response anyway; the span exporter takes the new resource at the first flush. Building the
    /// pipeline is the costliest step of an invocation's telemetry: the client already has its response.
    fn start_metrics(&self, invoked_function_arn: &str) -> Option<Duration> {
        let inner = self.inner.as_ref()?;
        let resource = resource::resource(&inner.settings, resource::account_id(invoked_function_arn));
        inner.delivery.set_resource(resource.clone());
        let pipeline = metrics::pipeline(resource, inner.settings.temporality);
        inner.delivery.collect_metrics_from(pipeline.reader);
        if ::metrics::set_global_recorder(pipeline.recorder).is_err() {
            tracing::debug!("a metrics recorder was already installed; the function's metrics go there");
        }
        let _ = inner.meter_provider.set(pipeline.provider);
        let ready = inner.ready.get().copied().unwrap_or_else(Instant::now);
        Some(ready.saturating_duration_since(inner.started))
    }

    /// The flush after an invocation whose response was posted at `posted`, skipped while backing off: over by
    /// `LAMBDA_OTEL_FLUSH_TIMEOUT_MS` after it, which bounds all the billed time after the response, not only the
    /// exports. Their deadline leaves [`WRAP_UP`] of it to what follows them.
    async fn flush_after_invocation(&self, posted: Instant) {
        if let Some(inner) = &self.inner {
            let deadline = posted + inner.settings.flush_timeout.saturating_sub(WRAP_UP);
            inner.delivery.flush(deadline, Policy::Invocation).await;
        }
    }

    /// The flush at shutdown: whatever is buffered, within [`FINAL_FLUSH_LIMIT`].
    pub async fn flush_final(&self) {
        if let Some(inner) = &self.inner {
            inner.delivery.flush(Instant::now() + FINAL_FLUSH_LIMIT, Policy::Final).await;
        }
    }
}

fn sampler(setting: &settings::Sampler) -> Sampler {
    match *setting {
        settings::Sampler::AlwaysOn => Sampler::AlwaysOn,
        settings::Sampler::AlwaysOff => Sampler::AlwaysOff,
        settings::Sampler::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        settings::Sampler::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        settings::Sampler::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        settings::Sampler::ParentBasedTraceIdRatio(ratio) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}
