//! `bootstrap`: the Lambda runtime serving the handler.

use hello_lambda_otel::handler;
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(handler::handle)).await
}
