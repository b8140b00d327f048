//! The gateway's tracing when the trace view collects the traces here ([`crate::trace_view`]): the same tracer, ids,
//! sampler, resource and propagators as [`Telemetry::from_env`], with the view's span processor instead of the OTLP
//! exporter's batch processor.

use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_setup::{OtlpConfig, Variables};

use super::{InvokedFunction, Telemetry, XrayTraceIds, resource};
use crate::trace_view::GatewaySpans;

impl Telemetry {
    /// Tracing whose spans go to the trace view through `spans`, configured otherwise by the `OTEL_*` variables as
    /// [`Telemetry::from_env`] is.
    pub fn shown_here(function: InvokedFunction, spans: GatewaySpans) -> Self {
        let mut variables = Variables::from_env();
        let config = OtlpConfig::read(&mut variables);
        for warning in variables.warnings() {
            crate::message!("{warning}");
        }
        let provider = SdkTracerProvider::builder()
            .with_span_processor(spans)
            .with_id_generator(XrayTraceIds::default())
            .with_sampler(config.sampler.to_sdk())
            .with_resource(resource(&function.region, &config))
            .build();
        Self::with_provider(provider, function, config.propagators)
    }
}
