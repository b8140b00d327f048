//! The tutorial's handler (`hello_lambda_otel::handler::handle`, the one `bootstrap` serves) traced by the Lambda
//! runtime's own OpenTelemetry layer (`lambda_runtime`'s `opentelemetry` feature), set up as the runtime's
//! `examples/opentelemetry-tracing` does: a tracer provider with a batch processor, `tracing-opentelemetry` as the
//! subscriber, and `OpenTelemetryLayer` flushing the provider after each invocation. The one change is the exporter:
//! OTLP over HTTP/protobuf to `OTEL_EXPORTER_OTLP_ENDPOINT` (where the example prints to stdout), so that it exports
//! to the same collector as `bootstrap` in the benchmark.

use hello_lambda_otel::handler;
use lambda_http::{Error, Request, service_fn};
use lambda_runtime::layers::{OpenTelemetryFaasTrigger, OpenTelemetryLayer};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
    let tracer_provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("peer-runtime-layer")))
        .init();

    // As the example's handler does, the invocation's span is made a SERVER span (the layer leaves the kind empty).
    let handle = service_fn(|request: Request| {
        tracing::Span::current().record("otel.kind", "SERVER");
        handler::handle(request)
    });
    let runtime = lambda_http::runtime(handle).layer(
        OpenTelemetryLayer::new(move || {
            // The example's flush: the spans are exported before the runtime asks for the next event (on Lambda,
            // before the environment may be frozen).
            if let Err(error) = tracer_provider.force_flush() {
                eprintln!("Error flushing traces: {error:#?}");
            }
        })
        .with_trigger(OpenTelemetryFaasTrigger::Http),
    );
    runtime.run().await
}
