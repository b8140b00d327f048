//! `bootstrap`: the Lambda runtime serving the handler, with OpenTelemetry around each invocation.

use hello_lambda_otel::handler;
use lambda_http::{Error, service_fn};
use lambda_otel::RecordStatus;

// One thread: invocations come one at a time and nothing blocks (exports are async on this same runtime), so a
// thread pool would only add start-up time and memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The handler's spans are the library crate's: `bootstrap` is only this file.
    let telemetry =
        lambda_otel::builder().trace_crate("hello_lambda_otel").service_version(env!("CARGO_PKG_VERSION")).init();
    telemetry.flush_on_shutdown().await;
    // `lambda_http::runtime` rather than `lambda_http::run`: `run` adds the runtime's own tracing layer, whose root
    // span would sit above the invocation's SERVER span.
    let runtime = lambda_http::runtime(RecordStatus::new(service_fn(handler::handle)));
    runtime.layer(telemetry.layer()).run().await
}
