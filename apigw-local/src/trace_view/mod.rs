//! The trace view: traces watched without a collector. When no OTLP endpoint is configured (neither
//! `OTEL_EXPORTER_OTLP_ENDPOINT` nor `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, and `OTEL_SDK_DISABLED` is not `true`),
//! apigw-local collects the traces of both binaries itself and shows each request on stdout, through its bounded
//! output: as text (the request's line, then its span tree) when stdout is a terminal, as one JSON line per trace
//! otherwise; `--trace-view` chooses, and `off` leaves tracing as it is without the view.
//!
//! Parts: `receiver` is an OTLP/HTTP endpoint on 127.0.0.1 that the functions are told to export to (their metric
//! exports are answered and discarded); [`GatewaySpans`] hands the gateway's own spans over in-process; `inbox` runs
//! on a thread of its own, where `assembly` waits for each request's spans from both sources, `tree` orders them, and
//! `text` or `json` writes them.

mod assembly;
mod inbox;
mod json;
mod model;
mod processor;
mod receiver;
mod text;
mod tree;

#[cfg(test)]
mod tests;

use std::io::{self, IsTerminal as _};
use std::net::Ipv4Addr;

use otlp_setup::Variables;
use tokio::net::TcpListener;

use assembly::Assembly;
use inbox::Inbox;
pub use processor::GatewaySpans;

/// `--trace-view`: how the traces collected here are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceView {
    /// Text if stdout is a terminal, JSON lines if not.
    Auto,
    /// The request's line and its span tree.
    Text,
    /// One JSON line per trace.
    Json,
    /// No view: traces go where the `OTEL_*` variables say, by default to an OTLP collector on localhost.
    Off,
}

/// How the view writes a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person; with ANSI colours if `colour`.
    Text {
        /// Colour the statuses and errors: stdout is a terminal and `NO_COLOR` is unset or empty.
        colour: bool,
    },
    /// For programs.
    Json,
}

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
const HTTP_PROTOBUF: &str = "http/protobuf";

/// Why the view is not used: traces go where the variables say, as without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCollected {
    /// `--trace-view off`.
    Off,
    /// An endpoint variable is set.
    EndpointConfigured,
    /// `OTEL_SDK_DISABLED=true`.
    Disabled,
}

/// The view's format for `mode`, given the variables `lookup` reads and whether stdout is a terminal; or why traces
/// are not collected here.
pub fn format(
    mode: TraceView,
    lookup: impl Fn(&str) -> Option<String>,
    stdout_is_terminal: bool,
) -> Result<Format, NotCollected> {
    // Through otlp-setup's reading, as the exporters read them: trimmed, and empty is unset.
    let variables = Variables::new(&lookup);
    if mode == TraceView::Off {
        return Err(NotCollected::Off);
    }
    if variables.get("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true")) {
        return Err(NotCollected::Disabled);
    }
    if variables.get(ENDPOINT).is_some() || variables.get(TRACES_ENDPOINT).is_some() {
        return Err(NotCollected::EndpointConfigured);
    }
    // https://no-color.org: set and not empty, whatever its value.
    let colour = stdout_is_terminal && lookup("NO_COLOR").is_none_or(|value| value.is_empty());
    Ok(match mode {
        TraceView::Auto if !stdout_is_terminal => Format::Json,
        TraceView::Json => Format::Json,
        TraceView::Auto | TraceView::Text | TraceView::Off => Format::Text { colour },
    })
}

/// The variables that point a function's exports at `endpoint`, over the protocol it serves. Metrics the variables
/// send elsewhere keep going there, over their protocol. The function exports its spans after every invocation (the
/// lambda-otel library paces dense invocations' exports to save billed time, which locally costs nothing and would
/// leave a request's tree without its function until a later request).
pub fn function_environment(endpoint: &str, lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let variables = Variables::new(&lookup);
    let mut environment = vec![
        (ENDPOINT.to_string(), endpoint.to_string()),
        (PROTOCOL.to_string(), HTTP_PROTOBUF.to_string()),
        (TRACES_PROTOCOL.to_string(), HTTP_PROTOBUF.to_string()),
        ("LAMBDA_OTEL_EXPORT_INTERVAL_MS".to_string(), "0".to_string()),
    ];
    let metrics_protocol = match variables.get(METRICS_ENDPOINT) {
        Some(_) => variables.get(METRICS_PROTOCOL).or_else(|| variables.get(PROTOCOL)),
        None => Some(HTTP_PROTOBUF.to_string()),
    };
    environment.extend(metrics_protocol.map(|protocol| (METRICS_PROTOCOL.to_string(), protocol)));
    environment
}

/// The traces of the gateway and its functions, collected in this process and shown on stdout.
#[derive(Debug)]
pub struct LocalCollection {
    endpoint: String,
    inbox: Inbox,
}

impl LocalCollection {
    /// The view `mode` asks for, unless the `OTEL_*` variables say where traces go; says on stderr what it does.
    /// `expect_function_spans`: the gateway runs the function itself (`--function`), and tells it where to export.
    /// `None` if the view is not used or cannot start: then tracing is as the variables say.
    pub fn from_env(mode: TraceView, expect_function_spans: bool) -> Option<Self> {
        let format = match format(mode, |name| std::env::var(name).ok(), io::stdout().is_terminal()) {
            Ok(format) => format,
            Err(NotCollected::EndpointConfigured) if matches!(mode, TraceView::Text | TraceView::Json) => {
                crate::message!("trace view off: traces go to the configured OTLP endpoint");
                return None;
            }
            Err(_) => return None,
        };
        match Self::start(format, expect_function_spans) {
            Ok(collection) => {
                let shown = if format == Format::Json { "JSON lines" } else { "text" };
                crate::message!("traces -> stdout as {shown} (collected at {})", collection.endpoint);
                Some(collection)
            }
            Err(error) => {
                crate::message!("trace view off, cannot start it: {error}");
                None
            }
        }
    }

    /// Starts the view's thread and its OTLP/HTTP endpoint on a free port of 127.0.0.1.
    pub fn start(format: Format, expect_function_spans: bool) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        // A thread and runtime of its own: decoding, assembling and rendering never take the serving thread's time.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (inbox, outbox) = Inbox::new();
        let receiving = inbox.clone();
        std::thread::Builder::new().name("trace view".into()).spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => drop(tokio::spawn(receiver::serve(listener, receiving))),
                    Err(error) => crate::message!("trace view: the functions' spans cannot be received: {error}"),
                }
                inbox::run(outbox, Assembly::new(expect_function_spans), format).await;
            });
        })?;
        Ok(Self { endpoint, inbox })
    }

    /// The endpoint the functions export to, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The variables that point a function's exports here (see [`function_environment`]).
    pub fn function_environment(&self) -> Vec<(String, String)> {
        function_environment(&self.endpoint, |name| std::env::var(name).ok())
    }

    /// The span processor that hands the gateway's spans to the view.
    pub fn gateway_spans(&self) -> GatewaySpans {
        GatewaySpans::new(self.inbox.clone())
    }
}
