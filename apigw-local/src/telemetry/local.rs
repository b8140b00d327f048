//! The gateway's tracing when the trace view collects the traces here ([`crate::trace_view`]): the same tracer, ids,
//! sampler, resource and propagators as [`Telemetry::from_env`], with the view's span processor instead of the OTLP
//! exporter's batch processor.

use super::{InvokedFunction, Telemetry, config_from_env, provider_builder, resource};
use crate::trace_view::GatewaySpans;

impl Telemetry {
    /// Tracing whose spans go to the trace view through `spans`, configured otherwise by the `OTEL_*` variables as
    /// [`Telemetry::from_env`] is.
    pub fn shown_here(function: InvokedFunction, spans: GatewaySpans) -> Self {
        let config = config_from_env();
        let provider =
            provider_builder(&config, resource(&function.region, &config)).with_span_processor(spans).build();
        Self::with_provider(provider, function, config.propagators)
    }
}
