//! An OTLP metrics client that sends protobuf requests its caller built: the SDK's metric exporter takes the SDK's
//! aggregated data and encodes it itself, so nothing can be added on the way, and the SDK's aggregations attach no
//! exemplars. With this client the caller converts the SDK's data (`ExportMetricsServiceRequest::from`), adds what it
//! knows (exemplars that link a histogram to a trace), and sends the result over HTTP/protobuf or gRPC, with the same
//! configuration, TLS and HTTP client as the other exporters.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use hyper::body::Bytes;
use opentelemetry_http::HttpClient as _;
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message as _;
use tonic::transport::{Channel, Endpoint};

use crate::config::{ExporterConfig, Protocol};
use crate::error::Error;
use crate::http_client::OtlpHttpClient;
use crate::tls;

/// Sends OTLP metrics requests to one collector.
#[derive(Debug, Clone)]
pub struct MetricsClient {
    transport: Transport,
}

#[derive(Debug, Clone)]
enum Transport {
    // Boxed: the HTTP client is twice the size of the gRPC one, and a client is built once.
    Http { client: Box<OtlpHttpClient>, endpoint: Uri, headers: HeaderMap },
    Grpc { client: MetricsServiceClient<Channel>, metadata: MetadataMap, timeout: Duration },
}

/// Why an export failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// The request did not reach the collector, or no answer came within the timeout.
    Transport(String),
    /// The collector answered with this HTTP status, or gRPC status, instead of success.
    Rejected(String),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Transport(reason) => write!(f, "metrics export failed: {reason}"),
            ExportError::Rejected(answer) => write!(f, "metrics export refused: {answer}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl MetricsClient {
    /// A client for the collector `config` describes, giving up on one export after `timeout`. Build it inside a
    /// tokio runtime's context: the connections are made there, when the first export needs them.
    pub fn new(config: &ExporterConfig, timeout: Duration) -> Result<Self, Error> {
        let roots = tls::roots(config)?;
        let invalid = |reason: String| Error::Endpoint { endpoint: config.endpoint.clone(), reason };
        // The configuration only keeps headers that are valid HTTP, so nothing is lost here.
        let headers: HeaderMap = config
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.parse::<HeaderName>().ok()?, value.parse::<HeaderValue>().ok()?)))
            .collect();
        let transport = match config.protocol {
            Protocol::HttpProtobuf => {
                let endpoint =
                    config.endpoint.parse().map_err(|error: http::uri::InvalidUri| invalid(error.to_string()))?;
                Transport::Http { client: Box::new(OtlpHttpClient::new(roots, timeout)?), endpoint, headers }
            }
            Protocol::Grpc => {
                let mut endpoint =
                    Endpoint::from_shared(config.endpoint.clone()).map_err(|error| invalid(error.to_string()))?;
                endpoint = endpoint.timeout(timeout).connect_timeout(timeout);
                if let Some(roots) = roots {
                    endpoint = endpoint.tls_config(tls::grpc(roots)).map_err(|error| invalid(error.to_string()))?;
                }
                let client = MetricsServiceClient::new(endpoint.connect_lazy());
                Transport::Grpc { client, metadata: MetadataMap::from_headers(headers), timeout }
            }
        };
        Ok(MetricsClient { transport })
    }

    /// Sends `request`.
    pub async fn export(&self, request: ExportMetricsServiceRequest) -> Result<(), ExportError> {
        match &self.transport {
            Transport::Http { client, endpoint, headers } => {
                let mut http = Request::post(endpoint.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(Bytes::from(request.encode_to_vec()))
                    .map_err(|error| ExportError::Transport(error.to_string()))?;
                http.headers_mut().extend(headers.clone());
                let response =
                    client.send_bytes(http).await.map_err(|error| ExportError::Transport(error.to_string()))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(ExportError::Rejected(format!("HTTP {}", response.status())))
                }
            }
            Transport::Grpc { client, metadata, timeout } => {
                let mut grpc = tonic::Request::new(request);
                *grpc.metadata_mut() = metadata.clone();
                grpc.set_timeout(*timeout);
                let mut client = client.clone();
                match client.export(grpc).await {
                    Ok(_) => Ok(()),
                    Err(status) if status.code() == tonic::Code::Unavailable => {
                        Err(ExportError::Transport(status.message().to_string()))
                    }
                    Err(status) => {
                        Err(ExportError::Rejected(format!("gRPC {:?}: {}", status.code(), status.message())))
                    }
                }
            }
        }
    }
}
