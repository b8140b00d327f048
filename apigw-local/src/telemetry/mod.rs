//! OpenTelemetry tracing of the gateway (docs/telemetry.md is the contract): a SERVER span per request and, inside
//! it, a CLIENT span `Lambda.Invoke` around the function's invocation, whose ids the event carries to the function.
//!
//! Configured from the standard variables, read by `otlp-setup` as the function reads them: `OTEL_SDK_DISABLED`,
//! `OTEL_SERVICE_NAME` (default `apigw-local`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`,
//! `OTEL_PROPAGATORS`, `OTEL_EXPORTER_OTLP_*` with their `OTEL_EXPORTER_OTLP_TRACES_*` variants (protocol
//! `http/protobuf`, the default, or `grpc`), and the SDK's own `OTEL_BSP_*`.
//!
//! Spans go to the SDK's batch processor, which exports from a thread of its own: ending a span only queues it (or
//! drops it when the queue is full), so a slow or dead collector never holds up a request.

mod exporter;
mod local;
mod metrics;
mod propagation;

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider, TracerProviderBuilder};
use otlp_setup::{Headers, OtlpConfig, Propagator, Variables};

use crate::backend::InvokeError;
use crate::event::Api;
use crate::gateway::Peers;
use crate::http1::Request;
use exporter::{ExportRuntime, Exporter, MetricsExporter};
use metrics::{GatewayMetrics, Integration, Measured};
use propagation::ClientParent;
pub use propagation::TraceHeaders;

const DEFAULT_SERVICE_NAME: &str = "apigw-local";

/// How long stopping waits for the spans still queued to be exported.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(1);

/// The function behind the integration, as the CLIENT spans name it.
#[derive(Debug, Clone)]
pub struct InvokedFunction {
    /// `faas.invoked_name`.
    pub name: String,
    /// `faas.invoked_region`, and the gateway's `cloud.region`.
    pub region: String,
}

/// Tracing, or its absence: every method works either way, so the gateway's code has one path.
#[derive(Debug, Clone)]
pub struct Telemetry(Option<Arc<Tracing>>);

#[derive(Debug)]
struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    function: InvokedFunction,
    propagators: Vec<Propagator>,
    /// The gateway's metrics, unless their exporter could not be built.
    metrics: Option<Arc<GatewayMetrics>>,
}

impl Telemetry {
    /// Tracing as the `OTEL_*` variables say. Off when `OTEL_SDK_DISABLED=true`, and when the exporter cannot be
    /// configured: a telemetry setting never keeps the gateway from serving. Says on stderr where traces go.
    pub fn from_env(function: InvokedFunction) -> Self {
        let config = config_from_env();
        if config.disabled {
            crate::message!("tracing off (OTEL_SDK_DISABLED=true)");
            return Self::off();
        }
        let exporters = ExportRuntime::new().and_then(|runtime| {
            let spans = Exporter::new(&config.traces, runtime.clone())?;
            Ok((spans, runtime))
        });
        let (exporter, runtime) = match exporters {
            Ok(exporters) => exporters,
            Err(error) => {
                crate::message!("tracing off: {error}");
                return Self::off();
            }
        };
        crate::message!("traces -> {}", exporter.destination());
        let resource = resource(&function.region, &config);
        let metrics = match MetricsExporter::new(&config.metrics, config.temporality, runtime) {
            Ok(exporter) => Some(Arc::new(GatewayMetrics::new(exporter, resource.clone()))),
            Err(error) => {
                crate::message!("metrics off: {error}");
                None
            }
        };
        let provider = provider_builder(&config, resource).with_batch_exporter(exporter).build();
        let mut telemetry = Self::with_provider(provider, function, config.propagators);
        if let Some(tracing) = telemetry.0.as_mut().and_then(Arc::get_mut) {
            tracing.metrics = metrics;
        }
        telemetry
    }

    /// No spans; requests carry the trace headers API Gateway sends without X-Ray tracing.
    pub fn off() -> Self {
        Self(None)
    }

    fn with_provider(provider: SdkTracerProvider, function: InvokedFunction, propagators: Vec<Propagator>) -> Self {
        let scope = InstrumentationScope::builder("apigw-local").with_version(env!("CARGO_PKG_VERSION")).build();
        let tracer = provider.tracer_with_scope(scope);
        Self(Some(Arc::new(Tracing { provider, tracer, function, propagators, metrics: None })))
    }

    /// Exports what is still queued, waiting at most about a second. Blocks: call it off the async workers.
    pub fn shutdown(&self) {
        let Some(tracing) = &self.0 else { return };
        if let Err(error) = tracing.provider.shutdown_with_timeout(SHUTDOWN_FLUSH) {
            crate::message!("the last spans may be lost: {error}");
        }
        if let Some(Err(error)) = tracing.metrics.as_ref().map(|metrics| metrics.shutdown()) {
            crate::message!("the last metrics may be lost: {error}");
        }
    }

    /// Starts the SERVER span of a request; `resource` is the matched route's, if any. Its parent is the client's
    /// `traceparent` if valid, else the client's `X-Amzn-Trace-Id`, else none (a new trace).
    pub fn request_span(
        &self,
        request: &Request,
        resource: Option<&str>,
        peers: Peers,
        api: &Api,
        request_id: &str,
    ) -> RequestSpan {
        let Some(tracing) = &self.0 else {
            return RequestSpan(Traced::Off(TraceHeaders::untraced(request.header("X-Amzn-Trace-Id"))), None);
        };
        let method = request.method.as_str();
        let name = resource.map_or_else(|| method.to_string(), |resource| format!("{method} {resource}"));
        let (server_address, server_port) = server_address(request.header("Host"), peers);
        let mut attributes = vec![
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("url.path", request.path().to_string()),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("server.address", server_address),
            KeyValue::new("server.port", i64::from(server_port)),
            KeyValue::new("client.address", peers.client.ip().to_canonical().to_string()),
            KeyValue::new("aws.api_gateway.stage", api.stage.clone()),
            KeyValue::new("aws.api_gateway.api_id", api.api_id.clone()),
            KeyValue::new("aws.request_id", request_id.to_string()),
        ];
        if let Some(resource) = resource {
            attributes.push(KeyValue::new("http.route", resource.to_string()));
        }
        if let Some(user_agent) = request.header("User-Agent") {
            attributes.push(KeyValue::new("user_agent.original", user_agent.to_string()));
        }
        let builder = tracing.tracer.span_builder(name).with_kind(SpanKind::Server).with_attributes(attributes);
        let headers: Vec<(&str, &str)> =
            request.headers.iter().map(|header| (header.name.as_str(), header.value.as_str())).collect();
        let span = match propagation::client_parent(&tracing.propagators, Headers(&headers)) {
            ClientParent::Span(parent) => {
                let parent = Context::new().with_remote_span_context(parent);
                tracing.tracer.build_with_context(builder, &parent)
            }
            ClientParent::Trace(trace_id) => {
                // A trace the client started without naming its own span: this span is the trace's root.
                CONTINUED_TRACE.set(Some(trace_id));
                let span = tracing.tracer.build_with_context(builder, &Context::new());
                CONTINUED_TRACE.set(None);
                span
            }
            ClientParent::None => tracing.tracer.build_with_context(builder, &Context::new()),
        };
        let measured = tracing.metrics.as_ref().map(|metrics| metrics.start(method, resource));
        RequestSpan(Traced::On { context: Context::new().with_span(span), tracing: tracing.clone() }, measured)
    }
}

/// The `OTEL_*` configuration of this process, its warnings said on stderr.
fn config_from_env() -> OtlpConfig {
    let mut variables = Variables::from_env();
    let config = OtlpConfig::read(&mut variables);
    for warning in variables.warnings() {
        crate::message!("{warning}");
    }
    config
}

/// The tracer provider `config` describes, its spans' ids X-Ray's, but for where the spans go.
fn provider_builder(config: &OtlpConfig, resource: Resource) -> TracerProviderBuilder {
    SdkTracerProvider::builder()
        .with_id_generator(XrayTraceIds::default())
        .with_sampler(config.sampler.to_sdk())
        .with_resource(resource)
}

/// The `service.name`, `cloud.*` and `OTEL_RESOURCE_ATTRIBUTES` of the gateway's spans. `OTEL_SERVICE_NAME` wins over
/// a `service.name` in the attributes, which wins over the default; the attributes may also override `cloud.*`.
fn resource(region: &str, config: &OtlpConfig) -> Resource {
    let service_name = config.service_name.clone().unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
    let attributes = config.resource_attributes.iter().map(|(key, value)| KeyValue::new(key.clone(), value.clone()));
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("cloud.provider", "aws"),
            KeyValue::new("cloud.platform", "aws_api_gateway"),
            KeyValue::new("cloud.region", region.to_string()),
        ])
        .with_detectors(&[Box::new(TelemetryResourceDetector)])
        .with_attributes(attributes)
        .with_service_name(service_name)
        .build()
}

/// `server.address` and `server.port`: what the client asked for in `Host`, else the socket it reached.
fn server_address(host: Option<&str>, peers: Peers) -> (String, u16) {
    let Some(host) = host.map(str::trim).filter(|host| !host.is_empty()) else {
        return (peers.local.ip().to_canonical().to_string(), peers.local.port());
    };
    let (name, port) = match host.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        Some((ipv6, rest)) => (ipv6, rest.strip_prefix(':')),
        None => host.split_once(':').map_or((host, None), |(name, port)| (name, Some(port))),
    };
    (name.to_string(), port.and_then(|port| port.parse().ok()).unwrap_or(80))
}

thread_local! {
    /// The trace id the next root span must have: the SDK takes a root span's trace id from the id generator only,
    /// and spans are started synchronously, so the thread that starts one can hand the id over here.
    static CONTINUED_TRACE: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// Trace ids as X-Ray makes them, the first four bytes the start in Unix seconds (so an `X-Amzn-Trace-Id` Root built
/// from one is valid for X-Ray), the rest random.
#[derive(Debug, Default)]
struct XrayTraceIds(RandomIdGenerator);

impl IdGenerator for XrayTraceIds {
    fn new_trace_id(&self) -> TraceId {
        CONTINUED_TRACE.take().unwrap_or_else(|| {
            let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            let mut bytes = self.0.new_trace_id().to_bytes();
            bytes[..4].copy_from_slice(&u32::try_from(seconds).unwrap_or(u32::MAX).to_be_bytes());
            TraceId::from_bytes(bytes)
        })
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

enum Traced {
    On {
        context: Context,
        tracing: Arc<Tracing>,
    },
    /// No spans; the X-Ray header API Gateway passes on without X-Ray tracing.
    Off(TraceHeaders),
}

impl fmt::Debug for Traced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::On { context, .. } => write!(f, "On({:?})", context.span().span_context()),
            Self::Off(headers) => write!(f, "Off({headers:?})"),
        }
    }
}

impl Traced {
    fn headers(&self) -> TraceHeaders {
        match self {
            Self::On { context, .. } => TraceHeaders::of(context.span().span_context()),
            Self::Off(headers) => headers.clone(),
        }
    }
}

/// The gateway's SERVER span of one request, and its measurement.
#[derive(Debug)]
pub struct RequestSpan(Traced, Option<Measured>);

impl RequestSpan {
    /// The trace headers that name this span (for an answer that involved no invocation).
    pub fn trace_headers(&self) -> TraceHeaders {
        self.0.headers()
    }

    /// Starts the CLIENT span of the function's invocation, a child of this one.
    pub fn invoke_span(&self) -> InvokeSpan {
        let integration = self.1.as_ref().map(Measured::integration);
        let Traced::On { context, tracing } = &self.0 else {
            return InvokeSpan(Traced::Off(self.trace_headers()), integration);
        };
        let function = &tracing.function;
        let span = tracing
            .tracer
            .span_builder("Lambda.Invoke")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("rpc.system", "aws-api"),
                KeyValue::new("rpc.service", "Lambda"),
                KeyValue::new("rpc.method", "Invoke"),
                KeyValue::new("faas.invoked_name", function.name.clone()),
                KeyValue::new("faas.invoked_provider", "aws"),
                KeyValue::new("faas.invoked_region", function.region.clone()),
            ])
            .start_with_context(&tracing.tracer, context);
        InvokeSpan(Traced::On { context: context.with_span(span), tracing: tracing.clone() }, integration)
    }

    /// Ends the span with the status the client got; a 5xx is an error, described by `error` if given.
    pub fn end(self, status: u16, error: Option<&str>) {
        if let Some(measured) = self.1 {
            measured.end(status);
        }
        let Traced::On { context, .. } = self.0 else { return };
        let span = context.span();
        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
        if status >= 500 {
            span.set_attribute(KeyValue::new("error.type", status.to_string()));
            span.set_status(Status::error(error.unwrap_or_default().to_string()));
        }
        span.end();
    }
}

/// The gateway's CLIENT span of one invocation, and its measurement.
#[derive(Debug)]
pub struct InvokeSpan(Traced, Option<Integration>);

impl InvokeSpan {
    /// The trace headers that name this span as the function's caller.
    pub fn trace_headers(&self) -> TraceHeaders {
        self.0.headers()
    }

    /// Ends the span with the invocation's outcome; a failure is an error, typed.
    pub fn end(self, outcome: Result<(), &InvokeError>) {
        let error_type = outcome.err().map(|error| match error {
            InvokeError::Timeout => "timeout",
            InvokeError::Function(_) => "function_error",
            InvokeError::Service(_) => "service_error",
        });
        if let Some(integration) = self.1 {
            integration.end(error_type);
        }
        let Traced::On { context, .. } = self.0 else { return };
        let span = context.span();
        if let (Err(error), Some(error_type)) = (outcome, error_type) {
            span.set_attribute(KeyValue::new("error.type", error_type));
            span.set_status(Status::error(error.to_string()));
        }
        span.end();
    }
}

#[cfg(test)]
mod tests;
