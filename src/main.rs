//! `bootstrap`: the Lambda runtime serving the handler, with OpenTelemetry around each invocation.

use hello_lambda_otel::handler;
use hello_lambda_otel::telemetry::{self, RecordStatus, shutdown};
use lambda_http::{Error, service_fn};

// One thread: invocations come one at a time and nothing blocks (exports are async on this same runtime), so a
// thread pool would only add start-up time and memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    shutdown::install(&telemetry).await;
    // `lambda_http::runtime` rather than `lambda_http::run`: `run` adds the runtime's own tracing layer, whose root
    // span would sit above the invocation's SERVER span.
    let runtime = lambda_http::runtime(RecordStatus::new(service_fn(handler::handle)));
    runtime.layer(telemetry.layer()).run().await
}
