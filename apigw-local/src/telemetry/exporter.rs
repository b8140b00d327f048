//! The OTLP span exporter, chosen by `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` and run where its transport works.
//!
//! The SDK's batch processor exports from a plain thread of its own. The blocking HTTP client works there (and would
//! panic inside a tokio runtime); an async one panics there ("no reactor running"). tonic, for gRPC, needs a tokio
//! reactor, so gRPC gets a one-worker runtime of its own that drives its connection, and each export is polled inside
//! that runtime's context. The gateway's runtime is left out of it: a flush that blocked one of its workers while
//! tonic's task waited on that worker would never finish.
//!
//! An `https://` collector is reached over rustls with the *ring* provider, its certificate checked against Mozilla's
//! roots compiled in, or only against the CA certificates of the PEM file `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` (else
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`) names, as in the function (docs/telemetry.md).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{ClientConfig, RootCertStore};
use tokio::runtime::{Handle, Runtime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    HttpProtobuf,
    Grpc,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

#[derive(Debug)]
pub struct Exporter {
    otlp: opentelemetry_otlp::SpanExporter,
    /// The runtime tonic runs on; `None` for HTTP.
    grpc_runtime: Option<Runtime>,
    destination: String,
    /// Whether the last export failed: failures are reported once per outage, not once per batch.
    failing: AtomicBool,
}

impl Exporter {
    /// The exporter that `var` (an environment lookup) configures. The OTLP crate reads the endpoint, headers,
    /// timeout and compression variables itself.
    pub fn from_env(var: &impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let protocol = protocol(var)?;
        let endpoint = endpoint(protocol, var);
        let destination = format!("{endpoint} ({})", protocol.name());
        // The OTLP crate makes a gRPC endpoint without a scheme `https://`: only `http://` goes without TLS.
        let roots = if endpoint.starts_with("http://") { None } else { Some(roots(var)?) };
        let (otlp, grpc_runtime) = match protocol {
            Protocol::HttpProtobuf => {
                let timeout = export_timeout(var);
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_http_client(blocking_client(timeout, roots)?)
                    .with_timeout(timeout)
                    .build();
                (exporter, None)
            }
            Protocol::Grpc => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("otlp-grpc")
                    .enable_all()
                    .build()
                    .map_err(|error| format!("cannot start the gRPC exporter's runtime: {error}"))?;
                // tonic's channel spawns its connection task on the runtime it is built in.
                let built = {
                    let _inside = runtime.enter();
                    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
                    if let Some(roots) = roots {
                        // tonic takes the server name from the endpoint.
                        builder = builder.with_tls_config(ClientTlsConfig::new().trust_anchors(roots.roots));
                    }
                    builder.build()
                };
                if built.is_err() {
                    // Dropping a runtime would block, which an async caller must not do.
                    runtime.shutdown_background();
                    (built, None)
                } else {
                    (built, Some(runtime))
                }
            }
        };
        let otlp = otlp.map_err(|error| format!("OTLP exporter to {destination}: {error}"))?;
        Ok(Self { otlp, grpc_runtime, destination, failing: AtomicBool::new(false) })
    }

    /// Where the spans go, for the gateway's start-up message.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    fn report(&self, result: &OTelSdkResult) {
        let was_failing = self.failing.swap(result.is_err(), Ordering::Relaxed);
        match result {
            Err(error) if !was_failing => eprintln!(
                "apigw-local: trace export to {} failed ({error}); spans are dropped until it works again",
                self.destination
            ),
            Ok(()) if was_failing => eprintln!("apigw-local: trace export to {} works again", self.destination),
            _ => {}
        }
    }
}

impl SpanExporter for Exporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = match &self.grpc_runtime {
            Some(runtime) => {
                InRuntime { runtime: runtime.handle().clone(), future: Box::pin(self.otlp.export(batch)) }.await
            }
            None => self.otlp.export(batch).await,
        };
        self.report(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.otlp.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.otlp.set_resource(resource);
    }
}

/// A future polled inside a tokio runtime's context from a thread that is none of its workers: tonic's timers and
/// retries find the runtime's reactor, which that runtime's own worker drives.
struct InRuntime<F> {
    runtime: Handle,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _inside = this.runtime.enter();
        this.future.as_mut().poll(cx)
    }
}

/// Handed to the exporter explicitly: it carries the TLS configuration, and the OTLP crate would otherwise pick an
/// async client (hyper, reqwest) over the blocking one whenever a crate in the same build enables one (a workspace
/// build unifies features). `roots` are the CA certificates for an `https://` endpoint.
fn blocking_client(
    timeout: Duration,
    roots: Option<RootCertStore>,
) -> Result<reqwest_blocking::blocking::Client, String> {
    // reqwest is built without a crypto provider of its own (it would be aws-lc-rs), so it gets a whole TLS
    // configuration, even for http://, where it is never used.
    let tls = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot configure TLS: {error}"))?
        .with_root_certificates(roots.unwrap_or_else(RootCertStore::empty))
        .with_no_client_auth();
    // The blocking client owns a runtime of its own, which must not be started or stopped on an async worker.
    std::thread::spawn(move || {
        reqwest_blocking::blocking::Client::builder().timeout(timeout).tls_backend_preconfigured(tls).build()
    })
    .join()
    .map_err(|_| "building the HTTP client panicked".to_string())?
    .map_err(|error| format!("cannot build the HTTP client: {error}"))
}

/// The CA certificates an `https://` collector's certificate must chain to: those of the PEM file that
/// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, else `OTEL_EXPORTER_OTLP_CERTIFICATE`, names, else Mozilla's, built in (a
/// container image may have no CA bundle).
fn roots(var: &impl Fn(&str) -> Option<String>) -> Result<RootCertStore, String> {
    let Some((name, path)) = ["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"]
        .into_iter()
        .find_map(|name| var(name).map(|path| (name, path.trim().to_string())))
    else {
        return Ok(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() });
    };
    let invalid = |reason: &dyn std::fmt::Display| format!("{name}={path}: {reason}");
    let pem = std::fs::read(&path).map_err(|error| invalid(&error))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|error| invalid(&error))?;
        roots.add(certificate).map_err(|error| invalid(&format!("not a usable CA certificate: {error}")))?;
    }
    if roots.is_empty() {
        return Err(invalid(&"no PEM certificate in it"));
    }
    Ok(roots)
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds), else OTLP's 10 s: the
/// blocking client applies it to each request.
fn export_timeout(var: &impl Fn(&str) -> Option<String>) -> Duration {
    ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]
        .into_iter()
        .find_map(|name| var(name)?.trim().parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`.
fn protocol(var: &impl Fn(&str) -> Option<String>) -> Result<Protocol, String> {
    let Some((name, value)) = ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]
        .into_iter()
        .find_map(|name| var(name).map(|value| (name, value)))
    else {
        return Ok(Protocol::HttpProtobuf);
    };
    match value.trim() {
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "grpc" => Ok(Protocol::Grpc),
        other => Err(format!("{name}={other} is not supported: use http/protobuf or grpc")),
    }
}

/// The endpoint as the OTLP crate resolves it: the signal's own variable is the full URL; the general one is a base
/// to which HTTP adds `/v1/traces`.
fn endpoint(protocol: Protocol, var: &impl Fn(&str) -> Option<String>) -> String {
    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").unwrap_or_else(|| {
        let base = var("OTEL_EXPORTER_OTLP_ENDPOINT");
        match protocol {
            Protocol::HttpProtobuf => {
                format!("{}/v1/traces", base.as_deref().unwrap_or("http://localhost:4318").trim_end_matches('/'))
            }
            Protocol::Grpc => base.unwrap_or_else(|| "http://localhost:4317".into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
    }

    #[test]
    fn http_protobuf_is_the_default_and_the_signals_variable_wins() {
        assert_eq!(protocol(&env(&[])), Ok(Protocol::HttpProtobuf));
        assert_eq!(protocol(&env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])), Ok(Protocol::Grpc));
        let both = [("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")];
        assert_eq!(protocol(&env(&both)), Ok(Protocol::HttpProtobuf));
        let json = protocol(&env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")])).unwrap_err();
        assert!(json.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/json"), "{json}");
    }

    #[test]
    fn the_endpoint_is_resolved_as_the_otlp_crate_does() {
        assert_eq!(endpoint(Protocol::HttpProtobuf, &env(&[])), "http://localhost:4318/v1/traces");
        assert_eq!(endpoint(Protocol::Grpc, &env(&[])), "http://localhost:4317");
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")];
        assert_eq!(endpoint(Protocol::HttpProtobuf, &env(&base)), "http://collector:4318/v1/traces");
        let own =
            [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b/x")];
        assert_eq!(endpoint(Protocol::HttpProtobuf, &env(&own)), "http://b/x");
        assert_eq!(endpoint(Protocol::Grpc, &env(&own[..1])), "http://a:4317");
    }

    #[test]
    fn the_export_timeout_is_read_as_the_otlp_crate_does() {
        assert_eq!(export_timeout(&env(&[])), Duration::from_secs(10));
        assert_eq!(export_timeout(&env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "250")])), Duration::from_millis(250));
        let both = [("OTEL_EXPORTER_OTLP_TIMEOUT", "250"), ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "100")];
        assert_eq!(export_timeout(&env(&both)), Duration::from_millis(100));
        let invalid = [("OTEL_EXPORTER_OTLP_TIMEOUT", "250"), ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1s")];
        assert_eq!(export_timeout(&env(&invalid)), Duration::from_millis(250));
    }

    #[test]
    fn https_collectors_are_trusted_through_the_bundled_roots_or_the_certificate_file() {
        assert_eq!(roots(&env(&[])).unwrap().roots.len(), webpki_roots::TLS_SERVER_ROOTS.len());

        let missing = roots(&env(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")])).unwrap_err();
        assert!(missing.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem: "), "{missing}");
        let not_pem = std::env::temp_dir().join(format!("apigw-local-not-pem-{}", std::process::id()));
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let both = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", not_pem.to_str().unwrap()),
        ];
        let empty = roots(&env(&both)).unwrap_err();
        std::fs::remove_file(&not_pem).unwrap();
        assert!(empty.starts_with("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE="), "the signal's own wins: {empty}");
        assert!(empty.ends_with("no PEM certificate in it"), "{empty}");
    }

    #[tokio::test]
    async fn both_transports_build_for_https_collectors_and_not_with_an_unreadable_certificate() {
        for protocol in ["http/protobuf", "grpc"] {
            let https = [
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.com"),
            ];
            let exporter = Exporter::from_env(&env(&https)).unwrap();
            assert!(exporter.destination().starts_with("https://otlp.example.com"), "{}", exporter.destination());
            std::thread::spawn(move || drop(exporter)).join().unwrap();

            let unreadable = [https[0], https[1], ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")];
            let error = Exporter::from_env(&env(&unreadable)).unwrap_err();
            assert!(error.contains("/nonexistent/ca.pem"), "{error}");
            // Not read for a plain http:// collector, which needs no certificate.
            let plain = [https[0], ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")];
            let exporter = Exporter::from_env(&env(&plain)).unwrap();
            std::thread::spawn(move || drop(exporter)).join().unwrap();
        }
    }

    #[tokio::test]
    async fn both_transports_build_inside_the_gateways_runtime() {
        for protocol in ["http/protobuf", "grpc"] {
            let exporter = Exporter::from_env(&env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)])).unwrap();
            assert_eq!(exporter.grpc_runtime.is_some(), protocol == "grpc");
            // Dropped on a plain thread, as the batch processor's thread drops it.
            std::thread::spawn(move || drop(exporter)).join().unwrap();
        }
    }
}
