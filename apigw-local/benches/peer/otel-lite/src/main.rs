//! The tutorial's handler (`hello_lambda_otel::handler::handle`, the one `bootstrap` serves) traced by
//! `lambda-otel-lite`, set up as its README's Quick Start does (`init_telemetry`, `create_traced_handler`, the
//! default processing mode, `sync`), with the exporter its README and `processor` docs show for OTLP over HTTP: a
//! `LambdaSpanProcessor` over `opentelemetry-otlp`'s HTTP/protobuf exporter with a blocking reqwest client. The
//! exporter sends to `OTEL_EXPORTER_OTLP_ENDPOINT`, the same collector as `bootstrap`'s in the benchmark (where the
//! crate's default writes spans to stdout for its own forwarder).
//!
//! Why `sync`: its `async` mode hands the flush to an internal extension that waits for the Extensions API's
//! `INVOKE` events, which the benchmark's Runtime API host does not send (it keeps an extension's `event/next`
//! pending until shutdown); `sync` is the crate's default and flushes before the handler returns.

use hello_lambda_otel::handler;
use lambda_http::RequestExt as _;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request};
use lambda_otel_lite::{LambdaSpanProcessor, TelemetryConfig, create_traced_handler, init_telemetry};
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
    let processor = LambdaSpanProcessor::builder().exporter(exporter).build();
    let (_, completion_handler) =
        init_telemetry(TelemetryConfig::builder().with_span_processor(processor).build()).await?;
    let handler = create_traced_handler("helloworld", completion_handler, greet);
    Runtime::new(service_fn(handler)).run().await
}

/// The crate's handler takes the event as a type it extracts span attributes from (API Gateway's REST event here);
/// `lambda_http` turns that event into the `http::Request` the tutorial's handler takes, and the answer back into
/// the proxy response, as `lambda_http::run` would.
async fn greet(event: LambdaEvent<ApiGatewayProxyRequest>) -> Result<ApiGatewayProxyResponse, Error> {
    let request: Request = LambdaRequest::ApiGatewayV1(event.payload).into();
    let (parts, body) = handler::handle(request.with_lambda_context(event.context)).await?.into_parts();
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = parts.status.as_u16().into();
    response.headers = parts.headers;
    response.is_base64_encoded = matches!(body, Body::Binary(_));
    response.body = match body {
        Body::Empty => None,
        body => Some(body),
    };
    Ok(response)
}
