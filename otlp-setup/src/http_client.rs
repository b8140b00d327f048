//! The HTTP exporters' client: hyper's legacy client (already in a Lambda binary for the Lambda runtime) speaking
//! HTTP/1.1, over plain TCP to an `http://` collector and over the [`tls`](crate::tls) connector to an `https://` one
//! (so that no TLS configuration is built at start-up for a collector that never handshakes). It runs on the tokio
//! runtime whose context polls the export.
//!
//! Not opentelemetry-http's `HyperClient`: its feature turns on hyper-util's HTTP/2 support, which puts h2's client
//! into every hyper-util client of the binary, the runtime's included, though OTLP/HTTP goes over HTTP/1.1 here and
//! only tonic speaks HTTP/2. Without it `bootstrap` is 0.85 MB smaller, which pays for most of TLS.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_http::{HttpClient, HttpError};
use rustls::RootCertStore;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::error::Error;
use crate::tls;

type BoxError = Box<dyn StdError + Send + Sync>;

/// An OTLP response is an empty or small protobuf message; anything larger is not one.
const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// The OTLP exporters' HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct OtlpHttpClient {
    client: Client<Connector, Full<Bytes>>,
    /// The limit of one request, response body included.
    timeout: Duration,
}

impl OtlpHttpClient {
    /// A client for a collector whose certificate must chain to `roots`, or for an `http://` one without them.
    pub(crate) fn new(roots: Option<RootCertStore>, timeout: Duration) -> Result<Self, Error> {
        let connector = match roots {
            Some(roots) => Connector::Tls(tls::https_connector(roots)?),
            None => Connector::Tcp(HttpConnector::new()),
        };
        Ok(OtlpHttpClient { client: Client::builder(TokioExecutor::new()).build(connector), timeout })
    }

    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let response = match self.client.request(Request::from_parts(parts, Full::new(body))).await {
            Ok(response) => response,
            Err(error) => {
                // The OTLP exporter reports every failure to connect as "network error", so the cause (a refused
                // connection, a certificate that chains to no trusted root) is logged here: once per signal and
                // failed flush, which the backoff spaces out.
                let error = with_causes(&error);
                tracing::warn!(%error, "the OTLP/HTTP request failed");
                return Err(error.into());
            }
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BODY).collect().await?.to_bytes();
        Ok(Response::from_parts(parts, body))
    }
}

#[async_trait::async_trait]
impl HttpClient for OtlpHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| format!("no response within {:?}", self.timeout))?
    }
}

/// Plain TCP or TLS, as one connector type: the binary holds one client for both.
#[derive(Debug, Clone)]
enum Connector {
    Tcp(HttpConnector),
    Tls(HttpsConnector<HttpConnector>),
}

type Connecting = Pin<Box<dyn Future<Output = Result<MaybeHttpsStream<TokioIo<TcpStream>>, BoxError>> + Send>>;

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Connector::Tcp(connector) => connector.poll_ready(cx).map_err(Into::into),
            Connector::Tls(connector) => connector.poll_ready(cx),
        }
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        match self {
            Connector::Tcp(connector) => {
                let connecting = connector.call(uri);
                Box::pin(async move { Ok(MaybeHttpsStream::Http(connecting.await?)) })
            }
            Connector::Tls(connector) => connector.call(uri),
        }
    }
}

/// hyper's error with its causes: alone it says "client error (Connect)".
fn with_causes(error: &hyper_util::client::legacy::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        message = format!("{message}: {error}");
        cause = error.source();
    }
    message
}
