//! The gateway's own spans into the view: a span processor that hands each ended span over in-process, instead of the
//! batch processor and OTLP exporter of [`Telemetry::from_env`](crate::telemetry::Telemetry::from_env). Ending a span
//! costs a queue push on the serving thread; the conversion happens on the view's thread.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::{Context, Key};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::inbox::Inbox;

/// The span processor of the gateway's tracer when the view collects the traces.
#[derive(Debug)]
pub struct GatewaySpans {
    inbox: Inbox,
    /// The resource's `service.name`, which the SDK gives processors when the provider is built.
    service: Arc<str>,
}

impl GatewaySpans {
    pub(super) fn new(inbox: Inbox) -> Self {
        Self { inbox, service: Arc::from("apigw-local") }
    }
}

impl SpanProcessor for GatewaySpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        self.inbox.gateway(span, self.service.clone());
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    /// Shows the traces still waiting for spans, as they are: the gateway is stopping.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inbox.finish(timeout);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(name) = resource.get(&Key::from_static_str("service.name")) {
            self.service = Arc::from(name.as_str().as_ref());
        }
    }
}
