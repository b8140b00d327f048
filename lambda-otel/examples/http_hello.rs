//! A Rust Lambda behind API Gateway, observed with `lambda-otel`: every request becomes a SERVER span with the HTTP
//! and FaaS metrics, the handler's own span joins it, and each log line carries the trace's ids.
//!
//! Run it locally under apigw-local, with a collector on localhost:4318 (or `OTEL_SDK_DISABLED=true`):
//!
//! ```sh
//! cargo build --example http_hello -p lambda-otel
//! cargo run -p apigw-local -- --function target/debug/examples/http_hello
//! curl 'http://127.0.0.1:8080/test/helloworld?name=Ada'
//! ```

use lambda_http::{Body, Error, Request, RequestExt as _, Response, service_fn};
use lambda_otel::RecordStatus;

async fn hello(request: Request) -> Result<Response<Body>, Error> {
    let parameters = request.query_string_parameters();
    let name = parameters.first("name").unwrap_or("world");
    // A span of this crate: a child of the invocation's span, exported with it.
    let greeting = tracing::info_span!("greeting").in_scope(|| format!("Hello, {name}!"));
    // A log line inside the invocation: JSON on stdout, with trace_id, span_id and request_id.
    tracing::info!(name, "greeted");
    Ok(Response::new(Body::from(greeting)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let telemetry = lambda_otel::builder().trace_crate(env!("CARGO_CRATE_NAME")).init();
    telemetry.flush_on_shutdown().await;
    // `lambda_http::runtime`, not `lambda_http::run`, which would add the runtime's own span above the invocation's.
    // `RecordStatus` tells the invocation layer the response's status.
    let runtime = lambda_http::runtime(RecordStatus::new(service_fn(hello)));
    runtime.layer(telemetry.layer()).run().await
}
