//! Everything the telemetry reads from the environment, parsed once at start-up into plain values: the standard
//! `OTEL_*` variables through [`otlp_setup`], and what Lambda tells the process.
//!
//! [`Settings::parse`] is a pure function over a lookup closure, so every rule is unit-tested without touching the
//! process environment. A value that cannot be used never stops the function: the problem is kept in
//! [`Settings::warnings`] (printed once on stderr at start-up) and the default applies.

use std::time::Duration;

use otlp_setup::{OtlpConfig, Variables};

use crate::delivery::{Pacing, SPAN_BUFFER_CAPACITY};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

/// The most billed time a flush may add to an invocation, unless `LAMBDA_OTEL_FLUSH_TIMEOUT_MS` says otherwise. A
/// collector on the same host (a Lambda layer's, or a sidecar) answers in a few milliseconds; one further away or in
/// trouble is given up on rather than paid for.
pub(crate) const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_millis(100);

/// How long spans may wait for company while invocations come densely, unless `LAMBDA_OTEL_EXPORT_INTERVAL_MS` says
/// otherwise: visible within about a second, one export a second at most under load.
pub(crate) const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_millis(1000);

/// How many waiting spans make an export regardless of the interval, unless `LAMBDA_OTEL_EXPORT_BATCH` says otherwise:
/// a quarter of the buffer, so that a burst never fills it between exports.
pub(crate) const DEFAULT_EXPORT_BATCH: usize = SPAN_BUFFER_CAPACITY / 4;

/// How often metrics go out while invocations come densely, unless `LAMBDA_OTEL_METRICS_INTERVAL_MS` says otherwise:
/// as often as spans, so that an environment that crashes (and has no SHUTDOWN flush) loses at most a second of counts.
pub(crate) const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_millis(1000);

/// Names a service whose function name is unknown too (a local run without Lambda's variables), as the
/// OpenTelemetry resource specification asks.
pub(crate) const UNKNOWN_SERVICE: &str = "unknown_service:bootstrap";

/// `AWS_LAMBDA_LOG_FORMAT`: what Lambda's "log format" setting asks of the function's stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Json,
    Text,
}

/// What Lambda tells the process about the function it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lambda {
    pub(crate) function_name: Option<String>,
    pub(crate) function_version: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) memory_mb: Option<u64>,
    pub(crate) log_stream: Option<String>,
    /// `AWS_LAMBDA_RUNTIME_API` (`host:port`), also the address of the Extensions API.
    pub(crate) runtime_api: Option<String>,
}

/// The telemetry's configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    /// The standard `OTEL_*` variables.
    pub(crate) otlp: OtlpConfig,
    /// `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else the function's name.
    pub(crate) service_name: String,
    /// `LAMBDA_OTEL_FLUSH_TIMEOUT_MS`: the most billed time a flush may add to an invocation.
    pub(crate) flush_timeout: Duration,
    /// `LAMBDA_OTEL_EXPORT_INTERVAL_MS`, `LAMBDA_OTEL_EXPORT_BATCH`, `LAMBDA_OTEL_METRICS_INTERVAL_MS`.
    pub(crate) pacing: Pacing,
    pub(crate) log_format: LogFormat,
    /// From `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `INFO`.
    pub(crate) log_filter: Targets,
    pub(crate) lambda: Lambda,
    /// `OTEL_TRACES_EXPORTER` and `AWS_XRAY_DAEMON_ADDRESS`: where the spans go.
    pub(crate) traces: Traces,
    /// `OTEL_METRICS_EXPORTER`, `LAMBDA_OTEL_EMF_NAMESPACE`.
    pub(crate) metrics_exporters: MetricsExporters,
    /// Why a variable was ignored, one sentence each.
    pub(crate) warnings: Vec<String>,
}

/// Where the UDP datagrams go when `AWS_XRAY_DAEMON_ADDRESS` is unset or unusable: the X-Ray SDKs' default.
pub(crate) const DEFAULT_XRAY_DAEMON: &str = "127.0.0.1:2000";

/// The trace exporters `OTEL_TRACES_EXPORTER` lists (`otlp`, `xray`, `none`; both at once is allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Traces {
    pub(crate) otlp: bool,
    pub(crate) xray: bool,
    /// `AWS_XRAY_DAEMON_ADDRESS`'s UDP address (`host:port`), else [`DEFAULT_XRAY_DAEMON`].
    pub(crate) xray_daemon: String,
}

impl Traces {
    /// Unset, `xray` when the X-Ray daemon is announced and no OTLP endpoint is (the deployed function with active
    /// tracing and nothing else configured), otherwise `otlp`, as before X-Ray was supported. An unknown entry is
    /// ignored with a warning; a list of unknown entries only is the default.
    fn read<F: Fn(&str) -> Option<String>>(env: &mut Variables<F>) -> Self {
        let daemon = env.get("AWS_XRAY_DAEMON_ADDRESS");
        let xray_daemon = env.parse("AWS_XRAY_DAEMON_ADDRESS", DEFAULT_XRAY_DAEMON.to_string(), |value| {
            xray_daemon_address(value).map(str::to_string)
        });
        let listed = exporters(
            env,
            "OTEL_TRACES_EXPORTER",
            &["otlp", "xray", "none"],
            "not a trace exporter (otlp, xray, none)",
        );
        match listed.filter(|listed| !listed.is_empty()) {
            Some(listed) => Traces { otlp: listed.contains(&"otlp"), xray: listed.contains(&"xray"), xray_daemon },
            None => {
                let xray = daemon.is_some() && !otlp_endpoint(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
                Traces { otlp: !xray, xray, xray_daemon }
            }
        }
    }
}

/// The known entries of the comma-separated exporter list `name` (`None` when it is unset); each unknown entry is
/// ignored with the warning `unknown`.
fn exporters<F: Fn(&str) -> Option<String>>(
    env: &mut Variables<F>,
    name: &str,
    known: &[&'static str],
    unknown: &str,
) -> Option<Vec<&'static str>> {
    let list = env.get(name)?;
    let mut listed = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        match known.iter().find(|exporter| exporter.eq_ignore_ascii_case(entry)) {
            Some(exporter) => listed.push(*exporter),
            None => env.warn(name, entry, unknown),
        }
    }
    Some(listed)
}

/// Whether an OTLP endpoint is configured for the signal whose own endpoint variable is `signal_endpoint`.
fn otlp_endpoint<F: Fn(&str) -> Option<String>>(env: &Variables<F>, signal_endpoint: &str) -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", signal_endpoint].iter().any(|name| env.get(name).is_some())
}

/// The UDP `host:port` of an `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or the two-address form Lambda and the SDKs
/// use, `tcp:host:port udp:host:port` (either order), whose `udp:` one takes the segments.
fn xray_daemon_address(value: &str) -> Option<&str> {
    let address =
        if value.contains(' ') { value.split_whitespace().find_map(|part| part.strip_prefix("udp:"))? } else { value };
    let (host, port) = address.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok_and(|port| port > 0)).then_some(address)
}

impl Settings {
    /// The settings of this process.
    pub(crate) fn from_env() -> Self {
        Self::parse(|name| std::env::var(name).ok())
    }

    /// The settings `lookup` describes; `lookup` answers a variable's value, or `None` when it is unset.
    pub(crate) fn parse(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut env = Variables::new(lookup);
        let otlp = OtlpConfig::read(&mut env);
        let lambda = Lambda {
            function_name: env.get("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: env.get("AWS_LAMBDA_FUNCTION_VERSION"),
            region: env.get("AWS_REGION"),
            memory_mb: env.parse_optional("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", |value| value.parse().ok()),
            log_stream: env.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            runtime_api: env.get("AWS_LAMBDA_RUNTIME_API"),
        };
        // The specification's order: the dedicated variable, then the resource attribute, then a detected name.
        let service_name = otlp
            .service_name
            .clone()
            .or_else(|| lambda.function_name.clone())
            .unwrap_or_else(|| UNKNOWN_SERVICE.to_string());
        let flush_timeout = env.parse("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", DEFAULT_FLUSH_TIMEOUT, |value| {
            value.parse().ok().filter(|&ms| ms > 0).map(Duration::from_millis)
        });
        let pacing = Pacing {
            spans_interval: env.parse("LAMBDA_OTEL_EXPORT_INTERVAL_MS", DEFAULT_EXPORT_INTERVAL, |value| {
                value.parse().ok().map(Duration::from_millis)
            }),
            spans_batch: env.parse("LAMBDA_OTEL_EXPORT_BATCH", DEFAULT_EXPORT_BATCH, |value| {
                value.parse().ok().filter(|batch| (1..=SPAN_BUFFER_CAPACITY).contains(batch))
            }),
            metrics_interval: env.parse("LAMBDA_OTEL_METRICS_INTERVAL_MS", DEFAULT_METRICS_INTERVAL, |value| {
                value.parse().ok().map(Duration::from_millis)
            }),
        };
        let log_format =
            env.parse("AWS_LAMBDA_LOG_FORMAT", LogFormat::Json, |value| match value.to_ascii_lowercase().as_str() {
                "json" => Some(LogFormat::Json),
                "text" => Some(LogFormat::Text),
                _ => None,
            });
        let log_filter = log_filter(&mut env);
        let traces = Traces::read(&mut env);
        let metrics_exporters = MetricsExporters::read(&mut env, &lambda, &service_name);
        Settings {
            otlp,
            service_name,
            flush_timeout,
            pacing,
            log_format,
            log_filter,
            lambda,
            traces,
            metrics_exporters,
            warnings: env.take_warnings(),
        }
    }
}

/// Where the metrics go (`OTEL_METRICS_EXPORTER`, a list of `otlp`, `emf`, `none`). Unset: `emf` in Lambda
/// (`AWS_LAMBDA_FUNCTION_NAME` set) when no OTLP endpoint variable for metrics is set, else `otlp`: a deployed
/// function without a collector gets CloudWatch metrics from its log, and one given a collector keeps exporting to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetricsExporters {
    /// Exported over OTLP: the SDK's metrics pipeline and the `metrics` facade's recorder run.
    pub(crate) otlp: bool,
    /// `Some(namespace)`: written to stdout as CloudWatch EMF lines in that namespace (`LAMBDA_OTEL_EMF_NAMESPACE`,
    /// else the service name).
    pub(crate) emf: Option<String>,
}

impl MetricsExporters {
    fn read<F: Fn(&str) -> Option<String>>(env: &mut Variables<F>, lambda: &Lambda, service_name: &str) -> Self {
        let listed = exporters(
            env,
            "OTEL_METRICS_EXPORTER",
            &["otlp", "emf", "none"],
            "not a metrics exporter this SDK implements (otlp, emf, none)",
        );
        let (otlp, emf) = match listed {
            Some(listed) => (listed.contains(&"otlp"), listed.contains(&"emf")),
            None => {
                let emf = lambda.function_name.is_some() && !otlp_endpoint(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
                (!emf, emf)
            }
        };
        let namespace = || {
            env.parse("LAMBDA_OTEL_EMF_NAMESPACE", service_name.to_string(), |value| {
                Some(value.to_string()).filter(|namespace| valid_namespace(namespace))
            })
        };
        MetricsExporters { otlp, emf: emf.then(namespace) }
    }
}

/// What CloudWatch takes as a namespace: 1 to 1024 characters (the EMF specification's bound), not all whitespace,
/// and not in the `AWS/` namespaces, which are AWS's own.
fn valid_namespace(namespace: &str) -> bool {
    !namespace.trim().is_empty() && namespace.chars().count() <= 1024 && !namespace.starts_with("AWS/")
}

fn log_filter<F: Fn(&str) -> Option<String>>(env: &mut Variables<F>) -> Targets {
    let lambda_level = env.parse_optional("AWS_LAMBDA_LOG_LEVEL", |value| match value.to_ascii_uppercase().as_str() {
        "TRACE" => Some(LevelFilter::TRACE),
        "DEBUG" => Some(LevelFilter::DEBUG),
        "INFO" => Some(LevelFilter::INFO),
        "WARN" => Some(LevelFilter::WARN),
        // Lambda's FATAL has no tracing level of its own; ERROR is the closest that keeps those lines.
        "ERROR" | "FATAL" => Some(LevelFilter::ERROR),
        _ => None,
    });
    if let Some(level) = lambda_level {
        return Targets::new().with_default(level);
    }
    env.parse_optional("RUST_LOG", |value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

#[cfg(test)]
mod tests;
