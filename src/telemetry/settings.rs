//! Everything the telemetry reads from the environment, parsed once at start-up into plain values.
//!
//! [`Settings::parse`] is a pure function over a lookup closure, so every rule is unit-tested without touching the
//! process environment. A value that cannot be used never stops the function: the problem is kept in
//! [`Settings::warnings`] (printed once on stderr at start-up) and the default applies.

use std::time::Duration;

use lambda_http::http::{HeaderName, HeaderValue, Uri};
use opentelemetry_sdk::metrics::Temporality;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

/// The most billed time a flush may add to an invocation, unless `LAMBDA_OTEL_FLUSH_TIMEOUT_MS` says otherwise. A
/// collector on the same host (a Lambda layer's, or a sidecar) answers in a few milliseconds; one further away or in
/// trouble is given up on rather than paid for.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_millis(100);

/// Names a service whose function name is unknown too (a local run without Lambda's variables), as the
/// OpenTelemetry resource specification asks.
pub const UNKNOWN_SERVICE: &str = "unknown_service:bootstrap";

const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// The OTLP transport of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`, the specification's default.
    HttpProtobuf,
    /// `grpc`.
    Grpc,
}

/// Where and how one signal is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exporter {
    pub protocol: Protocol,
    /// The full URL: for HTTP the signal's path is already appended to a generic endpoint.
    pub endpoint: String,
    /// Extra request headers (authentication for a hosted collector), percent-decoded.
    pub headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT`, when set: a cap on a single export below the flush deadline.
    pub timeout: Option<Duration>,
    /// `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE`: the path of a PEM file with the CA certificates an `https://`
    /// collector's certificate must chain to, instead of the bundled public roots. Read when the exporters are built,
    /// for an `https://` endpoint only.
    pub certificate: Option<String>,
}

/// `OTEL_TRACES_SAMPLER` with its argument. Read here rather than by the SDK so that it is parsed, warned about and
/// tested like every other setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

/// One entry of `OTEL_PROPAGATORS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagator {
    /// W3C `traceparent`/`tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// AWS X-Ray's `X-Amzn-Trace-Id` (and, as the last resort, the runtime's `Lambda-Runtime-Trace-Id`).
    XRay,
}

/// `AWS_LAMBDA_LOG_FORMAT`: what Lambda's "log format" setting asks of the function's stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// What Lambda tells the process about the function it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lambda {
    pub function_name: Option<String>,
    pub function_version: Option<String>,
    pub region: Option<String>,
    pub memory_mb: Option<u64>,
    pub log_stream: Option<String>,
    /// `AWS_LAMBDA_RUNTIME_API` (`host:port`), also the address of the Extensions API.
    pub runtime_api: Option<String>,
}

/// The telemetry's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `OTEL_SDK_DISABLED=true`: no spans, metrics or exports; the invocation runs as if telemetry were absent.
    pub disabled: bool,
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order, percent-decoded.
    pub resource_attributes: Vec<(String, String)>,
    pub traces: Exporter,
    pub metrics: Exporter,
    pub sampler: Sampler,
    /// `OTEL_PROPAGATORS` in order, without duplicates.
    pub propagators: Vec<Propagator>,
    pub temporality: Temporality,
    /// `LAMBDA_OTEL_FLUSH_TIMEOUT_MS`: the most billed time a flush may add to an invocation.
    pub flush_timeout: Duration,
    pub log_format: LogFormat,
    /// From `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `INFO`.
    pub log_filter: Targets,
    pub lambda: Lambda,
    /// Why a variable was ignored, one sentence each.
    pub warnings: Vec<String>,
}

impl Settings {
    /// The settings of this process.
    pub fn from_env() -> Self {
        Self::parse(|name| std::env::var(name).ok())
    }

    /// The settings `lookup` describes; `lookup` answers a variable's value, or `None` when it is unset.
    pub fn parse(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut env = Env { lookup, warnings: Vec::new() };
        let disabled = env.parse("OTEL_SDK_DISABLED", false, |value| match value.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
        let resource_attributes = env.key_values("OTEL_RESOURCE_ATTRIBUTES");
        let lambda = Lambda {
            function_name: env.get("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: env.get("AWS_LAMBDA_FUNCTION_VERSION"),
            region: env.get("AWS_REGION"),
            memory_mb: env.parse_optional("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", |value| value.parse().ok()),
            log_stream: env.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            runtime_api: env.get("AWS_LAMBDA_RUNTIME_API"),
        };
        // The specification's order: the dedicated variable, then the resource attribute, then a detected name.
        let service_name = env
            .get("OTEL_SERVICE_NAME")
            .or_else(|| resource_attributes.iter().rev().find(|(key, _)| key == "service.name").map(|(_, v)| v.clone()))
            .or_else(|| lambda.function_name.clone())
            .unwrap_or_else(|| UNKNOWN_SERVICE.to_string());
        let generic = env.generic_exporter();
        let traces = env.exporter(Signal::Traces, &generic);
        let metrics = env.exporter(Signal::Metrics, &generic);
        let sampler = env.sampler();
        let propagators = env.propagators();
        let temporality = env.parse(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            Temporality::Cumulative,
            |value| match value.to_ascii_lowercase().as_str() {
                "cumulative" => Some(Temporality::Cumulative),
                "delta" => Some(Temporality::Delta),
                "lowmemory" => Some(Temporality::LowMemory),
                _ => None,
            },
        );
        let flush_timeout = env.parse("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", DEFAULT_FLUSH_TIMEOUT, |value| {
            value.parse().ok().filter(|&ms| ms > 0).map(Duration::from_millis)
        });
        let log_format =
            env.parse("AWS_LAMBDA_LOG_FORMAT", LogFormat::Json, |value| match value.to_ascii_lowercase().as_str() {
                "json" => Some(LogFormat::Json),
                "text" => Some(LogFormat::Text),
                _ => None,
            });
        let log_filter = env.log_filter();
        Settings {
            disabled,
            service_name,
            resource_attributes,
            traces,
            metrics,
            sampler,
            propagators,
            temporality,
            flush_timeout,
            log_format,
            log_filter,
            lambda,
            warnings: env.warnings,
        }
    }
}

struct Generic {
    protocol: Option<Protocol>,
    endpoint: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    certificate: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn variable(self, suffix: &str) -> String {
        let signal = match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        };
        format!("OTEL_EXPORTER_OTLP_{signal}_{suffix}")
    }

    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }
}

struct Env<F> {
    lookup: F,
    warnings: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// A variable's value; an empty value counts as unset, as the OpenTelemetry specification says.
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|value| value.trim().to_string()).filter(|value| !value.is_empty())
    }

    fn warn(&mut self, name: &str, value: &str, consequence: &str) {
        self.warnings.push(format!("ignoring {name}={value:?}: {consequence}"));
    }

    /// `parse` of the variable's value, or `None` (with a warning) when it is set but unusable.
    fn parse_optional<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let value = self.get(name)?;
        let parsed = parse(&value);
        if parsed.is_none() {
            self.warn(name, &value, "not a valid value");
        }
        parsed
    }

    fn parse<T: std::fmt::Debug>(&mut self, name: &str, default: T, parse: impl FnOnce(&str) -> Option<T>) -> T {
        let Some(value) = self.get(name) else { return default };
        match parse(&value) {
            Some(parsed) => parsed,
            None => {
                self.warn(name, &value, &format!("not a valid value, using the default {default:?}"));
                default
            }
        }
    }

    /// A `key=value,key=value` list (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`), values percent-decoded.
    /// A malformed entry is skipped with a warning; the others are kept.
    fn key_values(&mut self, name: &str) -> Vec<(String, String)> {
        let Some(list) = self.get(name) else { return Vec::new() };
        let mut pairs = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let pair = entry.split_once('=').and_then(|(key, value)| {
                let key = key.trim();
                let value = percent_decode(value.trim())?;
                (!key.is_empty()).then(|| (key.to_string(), value))
            });
            match pair {
                Some(pair) => pairs.push(pair),
                None => self.warn(name, entry, "an entry must be key=value with a percent-encoded value"),
            }
        }
        pairs
    }

    fn protocol(&mut self, name: &str) -> Option<Protocol> {
        let value = self.get(name)?;
        match value.as_str() {
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "grpc" => Some(Protocol::Grpc),
            _ => {
                self.warn(name, &value, "the protocols are http/protobuf and grpc");
                None
            }
        }
    }

    /// An endpoint URL, or `None` with a warning when it is not an absolute `http://` or `https://` URL.
    fn endpoint(&mut self, name: &str) -> Option<String> {
        let value = self.get(name)?;
        let uri = value.parse::<Uri>().ok().filter(|uri| uri.host().is_some());
        match uri.as_ref().and_then(Uri::scheme_str) {
            Some("http" | "https") => Some(value),
            _ => {
                self.warn(name, &value, "not an absolute http:// or https:// URL, using the default endpoint");
                None
            }
        }
    }

    fn timeout(&mut self, name: &str) -> Option<Duration> {
        self.parse_optional(name, |value| value.parse().ok().map(Duration::from_millis))
    }

    /// The generic `OTEL_EXPORTER_OTLP_*` variables, read once for both signals (one warning per bad value).
    fn generic_exporter(&mut self) -> Generic {
        Generic {
            protocol: self.protocol("OTEL_EXPORTER_OTLP_PROTOCOL"),
            endpoint: self.endpoint("OTEL_EXPORTER_OTLP_ENDPOINT"),
            headers: self.headers("OTEL_EXPORTER_OTLP_HEADERS"),
            timeout: self.timeout("OTEL_EXPORTER_OTLP_TIMEOUT"),
            certificate: self.get("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        }
    }

    fn exporter(&mut self, signal: Signal, generic: &Generic) -> Exporter {
        let protocol =
            self.protocol(&signal.variable("PROTOCOL")).or(generic.protocol).unwrap_or(Protocol::HttpProtobuf);
        // A signal's own endpoint is used as it is; the generic one is a base that HTTP extends with the signal's path.
        let endpoint = match self.endpoint(&signal.variable("ENDPOINT")) {
            Some(endpoint) => endpoint,
            None => match protocol {
                Protocol::Grpc => generic.endpoint.clone().unwrap_or_else(|| DEFAULT_GRPC_ENDPOINT.to_string()),
                Protocol::HttpProtobuf => {
                    let base = generic.endpoint.as_deref().unwrap_or(DEFAULT_HTTP_ENDPOINT);
                    format!("{}{}", base.trim_end_matches('/'), signal.http_path())
                }
            },
        };
        // Generic headers first, the signal's own override them name by name.
        let mut headers = generic.headers.clone();
        for (key, value) in self.headers(&signal.variable("HEADERS")) {
            headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&key));
            headers.push((key, value));
        }
        let timeout = self.timeout(&signal.variable("TIMEOUT")).or(generic.timeout);
        let certificate = self.get(&signal.variable("CERTIFICATE")).or_else(|| generic.certificate.clone());
        Exporter { protocol, endpoint, headers, timeout, certificate }
    }

    /// A header list, without the entries that are not valid HTTP (they could not be sent).
    fn headers(&mut self, name: &str) -> Vec<(String, String)> {
        let mut headers = self.key_values(name);
        headers.retain(|(key, value)| {
            let valid = key.parse::<HeaderName>().is_ok() && value.parse::<HeaderValue>().is_ok();
            if !valid {
                self.warnings.push(format!("ignoring the header {key:?} of {name}: not a valid HTTP header"));
            }
            valid
        });
        headers
    }

    fn sampler(&mut self) -> Sampler {
        const NAME: &str = "OTEL_TRACES_SAMPLER";
        const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
        let default = Sampler::ParentBasedAlwaysOn;
        let Some(name) = self.get(NAME) else { return default };
        let ratio = |env: &mut Self| {
            env.parse(ARG, 1.0, |value| value.parse().ok().filter(|ratio| (0.0..=1.0).contains(ratio)))
        };
        match name.as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio(self)),
            "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio(self)),
            _ => {
                self.warn(NAME, &name, "not a sampler this function implements, using parentbased_always_on");
                default
            }
        }
    }

    fn propagators(&mut self) -> Vec<Propagator> {
        const NAME: &str = "OTEL_PROPAGATORS";
        let list = self.get(NAME).unwrap_or_else(|| "tracecontext,baggage,xray".to_string());
        let mut propagators = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let propagator = match entry {
                "tracecontext" => Propagator::TraceContext,
                "baggage" => Propagator::Baggage,
                "xray" => Propagator::XRay,
                "none" => continue,
                _ => {
                    self.warn(NAME, entry, "not a propagator this function implements");
                    continue;
                }
            };
            if !propagators.contains(&propagator) {
                propagators.push(propagator);
            }
        }
        propagators
    }

    fn log_filter(&mut self) -> Targets {
        let lambda_level = self.parse_optional("AWS_LAMBDA_LOG_LEVEL", |value| {
            match value.to_ascii_uppercase().as_str() {
                "TRACE" => Some(LevelFilter::TRACE),
                "DEBUG" => Some(LevelFilter::DEBUG),
                "INFO" => Some(LevelFilter::INFO),
                "WARN" => Some(LevelFilter::WARN),
                // Lambda's FATAL has no tracing level of its own; ERROR is the closest that keeps those lines.
                "ERROR" | "FATAL" => Some(LevelFilter::ERROR),
                _ => None,
            }
        });
        if let Some(level) = lambda_level {
            return Targets::new().with_default(level);
        }
        self.parse_optional("RUST_LOG", |value| value.parse::<Targets>().ok())
            .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
    }
}

/// Decodes `%XX` escapes (the W3C baggage encoding the `OTEL_*` key-value lists use); `None` if one is malformed.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tracing::Level;

    fn parse(variables: &[(&str, &str)]) -> Settings {
        let variables: HashMap<String, String> =
            variables.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
        Settings::parse(|name| variables.get(name).cloned())
    }

    #[test]
    fn defaults_without_any_variable() {
        let settings = parse(&[]);
        assert!(!settings.disabled);
        assert_eq!(settings.service_name, UNKNOWN_SERVICE);
        let traces = Exporter {
            protocol: Protocol::HttpProtobuf,
            endpoint: "http://localhost:4318/v1/traces".into(),
            headers: vec![],
            timeout: None,
            certificate: None,
        };
        assert_eq!(settings.traces, traces);
        assert_eq!(settings.metrics.endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(settings.sampler, Sampler::ParentBasedAlwaysOn);
        assert_eq!(settings.propagators, [Propagator::TraceContext, Propagator::Baggage, Propagator::XRay]);
        assert_eq!(settings.temporality, Temporality::Cumulative);
        assert_eq!(settings.flush_timeout, DEFAULT_FLUSH_TIMEOUT);
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.log_filter, Targets::new().with_default(LevelFilter::INFO));
        assert_eq!(settings.lambda, Lambda::default());
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    }

    #[test]
    fn the_lambda_environment() {
        let settings = parse(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "GetStartedLambdaProxyIntegration"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/24/[$LATEST]abc"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ]);
        let lambda = Lambda {
            function_name: Some("GetStartedLambdaProxyIntegration".into()),
            function_version: Some("$LATEST".into()),
            region: Some("eu-west-1".into()),
            memory_mb: Some(512),
            log_stream: Some("2026/11/24/[$LATEST]abc".into()),
            runtime_api: Some("127.0.0.1:9001".into()),
        };
        assert_eq!(settings.lambda, lambda);
        assert_eq!(settings.service_name, "GetStartedLambdaProxyIntegration", "the function name by default");
    }

    #[test]
    fn service_name_precedence() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("AWS_LAMBDA_FUNCTION_NAME", "fn")], "fn"),
            (&[("AWS_LAMBDA_FUNCTION_NAME", "fn"), ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr")], "attr"),
            (
                &[
                    ("AWS_LAMBDA_FUNCTION_NAME", "fn"),
                    ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr"),
                    ("OTEL_SERVICE_NAME", "svc"),
                ],
                "svc",
            ),
            (&[("OTEL_SERVICE_NAME", "  ")], UNKNOWN_SERVICE),
        ];
        for (variables, expected) in cases {
            assert_eq!(parse(variables).service_name, *expected, "{variables:?}");
        }
    }

    #[test]
    fn resource_attributes_are_percent_decoded_and_bad_entries_skipped() {
        let settings = parse(&[("OTEL_RESOURCE_ATTRIBUTES", "team=greeting%20team, bad, deployment.environment=test")]);
        assert_eq!(
            settings.resource_attributes,
            [("team".to_string(), "greeting team".to_string()), ("deployment.environment".into(), "test".into())]
        );
        assert_eq!(settings.warnings.len(), 1, "{:?}", settings.warnings);
        assert!(settings.warnings[0].contains("OTEL_RESOURCE_ATTRIBUTES"));
    }

    #[test]
    fn endpoints_protocols_headers_and_timeouts() {
        struct Case {
            variables: &'static [(&'static str, &'static str)],
            traces: (&'static str, Protocol),
            metrics: (&'static str, Protocol),
        }
        let http = Protocol::HttpProtobuf;
        let grpc = Protocol::Grpc;
        let cases = [
            Case {
                variables: &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")],
                traces: ("http://collector:4318/v1/traces", http),
                metrics: ("http://collector:4318/v1/metrics", http),
            },
            Case {
                variables: &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base")],
                traces: ("http://collector:4318/base/v1/traces", http),
                metrics: ("http://collector:4318/base/v1/metrics", http),
            },
            Case {
                variables: &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom"),
                ],
                traces: ("http://traces:9999/custom", http),
                metrics: ("http://collector:4318/v1/metrics", http),
            },
            Case {
                variables: &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                traces: ("http://localhost:4317", grpc),
                metrics: ("http://localhost:4317", grpc),
            },
            Case {
                variables: &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                    ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
                ],
                traces: ("http://collector:4317", grpc),
                metrics: ("http://collector:4317/v1/metrics", http),
            },
        ];
        for case in cases {
            let settings = parse(case.variables);
            assert_eq!(
                (settings.traces.endpoint.as_str(), settings.traces.protocol),
                case.traces,
                "{:?}",
                case.variables
            );
            let metrics = (settings.metrics.endpoint.as_str(), settings.metrics.protocol);
            assert_eq!(metrics, case.metrics, "{:?}", case.variables);
            assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
        }

        let settings = parse(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Basic%20abc,x-team=a"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Team=b"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "50"),
        ]);
        let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
        };
        assert_eq!(settings.traces.headers, headers(&[("authorization", "Basic abc"), ("X-Team", "b")]));
        assert_eq!(settings.metrics.headers, headers(&[("authorization", "Basic abc"), ("x-team", "a")]));
        assert_eq!(settings.traces.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(settings.metrics.timeout, Some(Duration::from_millis(50)));
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);

        let settings = parse(&[("OTEL_EXPORTER_OTLP_HEADERS", "bad name=x,ok=%0A")]);
        assert_eq!(settings.traces.headers, []);
        assert_eq!(settings.warnings.len(), 2, "one warning per bad header: {:?}", settings.warnings);
    }

    #[test]
    fn https_endpoints_are_accepted_with_the_ca_certificate_of_each_signal() {
        let settings = parse(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.com:4318"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/opt/ca.pem"),
            ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/opt/metrics-ca.pem"),
        ]);
        assert_eq!(settings.traces.endpoint, "https://otlp.example.com:4318/v1/traces");
        assert_eq!(settings.traces.certificate.as_deref(), Some("/opt/ca.pem"));
        assert_eq!(settings.metrics.endpoint, "https://otlp.example.com:4318/v1/metrics");
        assert_eq!(settings.metrics.certificate.as_deref(), Some("/opt/metrics-ca.pem"));
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);

        let settings = parse(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example.com"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://metrics.example.com:443/otlp"),
        ]);
        assert_eq!(
            (settings.traces.endpoint.as_str(), settings.traces.protocol),
            ("https://otlp.example.com", Protocol::Grpc)
        );
        assert_eq!(settings.metrics.endpoint, "https://metrics.example.com:443/otlp");
        assert_eq!(settings.traces.certificate, None, "the bundled roots by default");
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    }

    #[test]
    fn samplers() {
        let cases: &[(&[(&str, &str)], Sampler)] = &[
            (&[("OTEL_TRACES_SAMPLER", "always_on")], Sampler::AlwaysOn),
            (&[("OTEL_TRACES_SAMPLER", "always_off")], Sampler::AlwaysOff),
            (&[("OTEL_TRACES_SAMPLER", "traceidratio")], Sampler::TraceIdRatio(1.0)),
            (
                &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.25")],
                Sampler::TraceIdRatio(0.25),
            ),
            (&[("OTEL_TRACES_SAMPLER", "parentbased_always_on")], Sampler::ParentBasedAlwaysOn),
            (&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")], Sampler::ParentBasedAlwaysOff),
            (
                &[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")],
                Sampler::ParentBasedTraceIdRatio(0.5),
            ),
        ];
        for (variables, expected) in cases {
            let settings = parse(variables);
            assert_eq!(settings.sampler, *expected, "{variables:?}");
            assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
        }
    }

    #[test]
    fn propagators_keep_their_order_and_skip_what_is_unknown() {
        let cases: &[(&str, &[Propagator], usize)] = &[
            ("xray,tracecontext", &[Propagator::XRay, Propagator::TraceContext], 0),
            ("tracecontext, b3, baggage", &[Propagator::TraceContext, Propagator::Baggage], 1),
            ("none", &[], 0),
            ("xray,xray", &[Propagator::XRay], 0),
        ];
        for (value, expected, warnings) in cases {
            let settings = parse(&[("OTEL_PROPAGATORS", value)]);
            assert_eq!(settings.propagators, *expected, "{value}");
            assert_eq!(settings.warnings.len(), *warnings, "{value}: {:?}", settings.warnings);
        }
    }

    #[test]
    fn temporality_and_flush_timeout() {
        let cases: &[(&str, Temporality)] = &[
            ("delta", Temporality::Delta),
            ("LowMemory", Temporality::LowMemory),
            ("cumulative", Temporality::Cumulative),
        ];
        for (value, expected) in cases {
            let settings = parse(&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", value)]);
            assert_eq!(settings.temporality, *expected, "{value}");
        }
        assert_eq!(parse(&[("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "250")]).flush_timeout, Duration::from_millis(250));
    }

    #[test]
    fn logging() {
        let settings = parse(&[("AWS_LAMBDA_LOG_FORMAT", "Text"), ("AWS_LAMBDA_LOG_LEVEL", "debug")]);
        assert_eq!(settings.log_format, LogFormat::Text);
        assert!(settings.log_filter.would_enable("anything", &Level::DEBUG));

        // AWS_LAMBDA_LOG_LEVEL wins over RUST_LOG; RUST_LOG's per-target directives apply without it.
        let settings = parse(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR"), ("RUST_LOG", "debug")]);
        assert!(!settings.log_filter.would_enable("anything", &Level::WARN));
        let settings = parse(&[("RUST_LOG", "warn,hello_lambda_otel=debug")]);
        assert!(settings.log_filter.would_enable("hello_lambda_otel::handler", &Level::DEBUG));
        assert!(!settings.log_filter.would_enable("hyper", &Level::INFO));
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    }

    #[test]
    fn bad_values_warn_once_each_and_fall_back_to_the_default() {
        let settings = parse(&[
            ("OTEL_SDK_DISABLED", "yes"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector.example.com/v1/traces"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_TRACES_SAMPLER", "xray"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes"),
            ("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "0"),
            ("AWS_LAMBDA_LOG_FORMAT", "xml"),
            ("AWS_LAMBDA_LOG_LEVEL", "loud"),
            ("RUST_LOG", "=="),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
        ]);
        assert!(!settings.disabled);
        assert_eq!(settings.traces.protocol, Protocol::HttpProtobuf);
        assert_eq!(settings.traces.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(settings.metrics.endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(settings.traces.timeout, None);
        assert_eq!(settings.sampler, Sampler::ParentBasedAlwaysOn);
        assert_eq!(settings.temporality, Temporality::Cumulative);
        assert_eq!(settings.flush_timeout, DEFAULT_FLUSH_TIMEOUT);
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.log_filter, Targets::new().with_default(LevelFilter::INFO));
        assert_eq!(settings.lambda.memory_mb, None);
        for name in [
            "OTEL_SDK_DISABLED",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_TRACES_SAMPLER",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "LAMBDA_OTEL_FLUSH_TIMEOUT_MS",
            "AWS_LAMBDA_LOG_FORMAT",
            "AWS_LAMBDA_LOG_LEVEL",
            "RUST_LOG",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        ] {
            assert!(
                settings.warnings.iter().any(|warning| warning.contains(&format!("{name}="))),
                "no warning for {name}: {:?}",
                settings.warnings
            );
        }
    }

    #[test]
    fn a_bad_sampler_argument_keeps_the_sampler_with_the_default_ratio() {
        let settings = parse(&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")]);
        assert_eq!(settings.sampler, Sampler::TraceIdRatio(1.0));
        assert_eq!(settings.warnings.len(), 1);
    }

    #[test]
    fn otel_sdk_disabled() {
        assert!(parse(&[("OTEL_SDK_DISABLED", "TRUE")]).disabled);
        assert!(!parse(&[("OTEL_SDK_DISABLED", "false")]).disabled);
    }
}
