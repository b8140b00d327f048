//! Why an exporter could not be built.

use std::fmt;

/// Why an exporter could not be built. Telemetry that cannot start never stops the program: callers report it and
/// run without.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The CA certificate file that `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE` names cannot be used.
    Certificate {
        /// The file's path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The endpoint URL cannot be used by the transport.
    Endpoint {
        /// The URL.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the TLS configuration.
    Tls(rustls::Error),
    /// The OTLP crate refused the exporter's configuration.
    Exporter(opentelemetry_otlp::ExporterBuildError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Certificate { path, reason } => write!(f, "CA certificate file {path}: {reason}"),
            Error::Endpoint { endpoint, reason } => write!(f, "endpoint {endpoint}: {reason}"),
            Error::Tls(error) => write!(f, "TLS: {error}"),
            Error::Exporter(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Certificate { .. } | Error::Endpoint { .. } => None,
            Error::Tls(error) => Some(error),
            Error::Exporter(error) => Some(error),
        }
    }
}

impl From<opentelemetry_otlp::ExporterBuildError> for Error {
    fn from(error: opentelemetry_otlp::ExporterBuildError) -> Self {
        Error::Exporter(error)
    }
}
