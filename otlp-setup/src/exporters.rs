//! The OTLP span exporter an [`ExporterConfig`] describes (metrics go through [`MetricsClient`](crate::MetricsClient)).
//!
//! They never retry: a caller that keeps what failed and tries again later (the Lambda delivery does, a batch
//! processor drops) decides that better than a retry loop inside one export can. HTTP goes through hyper (see
//! [`http_client`](crate::http_client)), gRPC through tonic, `https://` endpoints through rustls (see
//! [`tls`](crate::tls)). Build them, and poll their exports, inside a tokio runtime's context: tonic's channel and
//! hyper's connection pool start tasks there.

use std::collections::HashMap;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{RetryPolicy, SpanExporter, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};

use crate::config::{ExporterConfig, Protocol};
use crate::error::Error;
use crate::http_client::OtlpHttpClient;
use crate::tls;

/// The span exporter `config` describes, giving up on one export after `timeout`.
pub fn span_exporter(config: &ExporterConfig, timeout: Duration) -> Result<SpanExporter, Error> {
    let roots = tls::roots(config)?;
    let exporter = match config.protocol {
        Protocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_http_client(OtlpHttpClient::new(roots, timeout)?)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(&config.endpoint)
            .with_timeout(timeout)
            .with_headers(header_map(&config.headers))
            .with_retry_policy(RetryPolicy::disabled())
            .build()?,
        Protocol::Grpc => {
            let mut builder = SpanExporter::builder().with_tonic();
            if let Some(roots) = roots {
                builder = builder.with_tls_config(tls::grpc(roots));
            }
            builder
                .with_protocol(opentelemetry_otlp::Protocol::Grpc)
                .with_endpoint(&config.endpoint)
                .with_timeout(timeout)
                .with_metadata(metadata(&config.headers))
                .with_retry_policy(RetryPolicy::disabled())
                .build()?
        }
    };
    Ok(exporter)
}

fn header_map(headers: &[(String, String)]) -> HashMap<String, String> {
    headers.iter().cloned().collect()
}

fn metadata(headers: &[(String, String)]) -> MetadataMap {
    // The configuration only keeps headers that are valid HTTP, so nothing is lost here.
    let headers: HeaderMap = headers
        .iter()
        .filter_map(|(name, value)| Some((name.parse::<HeaderName>().ok()?, value.parse::<HeaderValue>().ok()?)))
        .collect();
    MetadataMap::from_headers(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MetricsClient;

    fn config(protocol: Protocol, endpoint: &str, certificate: Option<&str>) -> ExporterConfig {
        ExporterConfig {
            protocol,
            endpoint: endpoint.to_string(),
            headers: vec![("authorization".into(), "Basic abc".into())],
            timeout: None,
            certificate: certificate.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn both_transports_build_for_https_collectors_and_not_with_an_unreadable_certificate() {
        let timeout = Duration::from_secs(1);
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
            let https = config(protocol, "https://otlp.example.com", None);
            assert!(span_exporter(&https, timeout).is_ok(), "{protocol:?}");
            assert!(MetricsClient::new(&https, timeout).is_ok(), "{protocol:?}");

            let unreadable = config(protocol, "https://otlp.example.com", Some("/nonexistent/ca.pem"));
            let error = span_exporter(&unreadable, timeout).unwrap_err();
            assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
            assert!(matches!(error, Error::Certificate { .. }));
        }
    }
}
