//! The OTLP span exporter, chosen by `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` and run where its transport works.
//!
//! The SDK's batch processor exports from a plain thread of its own. The blocking HTTP client works there (and would
//! panic inside a tokio runtime); an async one panics there ("no reactor running"). tonic, for gRPC, needs a tokio
//! reactor, so gRPC gets a one-worker runtime of its own that drives its connection, and each export is polled inside
//! that runtime's context. The gateway's runtime is left out of it: a flush that blocked one of its workers while
//! tonic's task waited on that worker would never finish.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::runtime::{Handle, Runtime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    HttpProtobuf,
    Grpc,
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
        let destination = destination(protocol, var);
        let (otlp, grpc_runtime) = match protocol {
            Protocol::HttpProtobuf => {
                let timeout = export_timeout(var);
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_http_client(blocking_client(timeout)?)
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
                    opentelemetry_otlp::SpanExporter::builder().with_tonic().build()
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

/// Named explicitly because the OTLP crate picks an async client (hyper, reqwest) over the blocking one whenever a
/// crate in the same build enables one, and a workspace build unifies the function's OTLP features with these.
fn blocking_client(timeout: Duration) -> Result<reqwest_blocking::blocking::Client, String> {
    // The blocking client owns a runtime of its own, which must not be started or stopped on an async worker.
    std::thread::spawn(move || reqwest_blocking::blocking::Client::builder().timeout(timeout).build())
        .join()
        .map_err(|_| "building the HTTP client panicked".to_string())?
        .map_err(|error| format!("cannot build the HTTP client: {error}"))
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
fn destination(protocol: Protocol, var: &impl Fn(&str) -> Option<String>) -> String {
    let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").unwrap_or_else(|| {
        let base = var("OTEL_EXPORTER_OTLP_ENDPOINT");
        match protocol {
            Protocol::HttpProtobuf => {
                format!("{}/v1/traces", base.as_deref().unwrap_or("http://localhost:4318").trim_end_matches('/'))
            }
            Protocol::Grpc => base.unwrap_or_else(|| "http://localhost:4317".into()),
        }
    });
    let protocol = match protocol {
        Protocol::HttpProtobuf => "http/protobuf",
        Protocol::Grpc => "grpc",
    };
    format!("{endpoint} ({protocol})")
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
    fn the_destination_is_resolved_as_the_otlp_crate_does() {
        assert_eq!(destination(Protocol::HttpProtobuf, &env(&[])), "http://localhost:4318/v1/traces (http/protobuf)");
        assert_eq!(destination(Protocol::Grpc, &env(&[])), "http://localhost:4317 (grpc)");
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")];
        assert_eq!(destination(Protocol::HttpProtobuf, &env(&base)), "http://collector:4318/v1/traces (http/protobuf)");
        let own =
            [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b/x")];
        assert_eq!(destination(Protocol::HttpProtobuf, &env(&own)), "http://b/x (http/protobuf)");
        assert_eq!(destination(Protocol::Grpc, &env(&own[..1])), "http://a:4317 (grpc)");
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
