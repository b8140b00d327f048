//! TLS for `https://` collectors, the same for both transports: rustls with the *ring* provider (tonic's `tls-ring`
//! picks it too, so the binary holds one TLS stack), checking the collector's certificate against Mozilla's root
//! certificates compiled into the binary, because the Lambda `provided.al2023` image and scratch images may have no CA
//! bundle to read. `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE` replaces those roots with the CA certificates of a PEM
//! file, as the other OpenTelemetry SDKs do, for a collector behind a private CA.

use std::sync::Arc;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::config::ExporterConfig;
use crate::error::Error;

/// The certificates an exporter's collector must chain to: `None` for an `http://` endpoint, which never needs them
/// (so a certificate file is only read when it is used).
pub(crate) fn roots(exporter: &ExporterConfig) -> Result<Option<RootCertStore>, Error> {
    if !exporter.endpoint.starts_with("https://") {
        return Ok(None);
    }
    let Some(path) = &exporter.certificate else {
        return Ok(Some(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }));
    };
    let invalid = |reason: String| Error::Certificate { path: path.clone(), reason };
    let pem = std::fs::read(path).map_err(|error| invalid(error.to_string()))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|error| invalid(error.to_string()))?;
        roots.add(certificate).map_err(|error| invalid(format!("not a usable CA certificate: {error}")))?;
    }
    if roots.is_empty() {
        return Err(invalid("no PEM certificate in it".to_string()));
    }
    Ok(Some(roots))
}

/// hyper's connector for an HTTP exporter whose collector's certificate must chain to `roots`.
pub(crate) fn https_connector(roots: RootCertStore) -> Result<HttpsConnector<HttpConnector>, Error> {
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build())
}

/// tonic's TLS settings for an `https://` gRPC endpoint; tonic takes the server name from the URL.
pub(crate) fn grpc(roots: RootCertStore) -> ClientTlsConfig {
    ClientTlsConfig::new().trust_anchors(roots.roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;

    fn exporter(endpoint: &str, certificate: Option<&str>) -> ExporterConfig {
        ExporterConfig {
            protocol: Protocol::HttpProtobuf,
            endpoint: endpoint.to_string(),
            headers: Vec::new(),
            timeout: None,
            certificate: certificate.map(str::to_string),
        }
    }

    fn roots_of(endpoint: &str, certificate: Option<&str>) -> Option<RootCertStore> {
        roots(&exporter(endpoint, certificate)).unwrap()
    }

    #[test]
    fn an_https_collector_is_checked_against_the_bundled_roots_unless_a_certificate_file_is_named() {
        let roots = roots_of("https://otlp.example.com/v1/traces", None).unwrap();
        assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        // An http:// collector needs no roots, so its certificate file is not even read.
        assert!(roots_of("http://localhost:4318/v1/traces", Some("/nonexistent/ca.pem")).is_none());
    }

    #[test]
    fn a_certificate_file_that_cannot_be_used_is_an_error_naming_it() {
        let missing = roots(&exporter("https://otlp.example.com", Some("/nonexistent/ca.pem"))).unwrap_err();
        assert!(missing.to_string().contains("CA certificate file /nonexistent/ca.pem: "), "{missing}");

        let file = std::env::temp_dir().join(format!("otlp-setup-not-pem-{}", std::process::id()));
        std::fs::write(&file, "not a certificate").unwrap();
        let not_pem = roots(&exporter("https://otlp.example.com", file.to_str())).unwrap_err();
        std::fs::remove_file(&file).unwrap();
        assert!(not_pem.to_string().ends_with("no PEM certificate in it"), "{not_pem}");
    }

    #[test]
    fn the_https_connector_is_built_with_the_bundled_roots() {
        assert!(https_connector(roots_of("https://otlp.example.com", None).unwrap()).is_ok());
    }
}
