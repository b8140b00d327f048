//! The standard `OTEL_*` variables, parsed once into plain values.
//!
//! [`Variables`] is the one parser: a lookup closure and the warnings collected while reading through it, so that
//! every rule is unit-tested without touching the process environment, and a program that reads variables of its own
//! (the Lambda library reads Lambda's) warns about them the same way. A value that cannot be used never stops the
//! program: the problem becomes one warning sentence and the default applies.

use std::fmt::Debug;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use opentelemetry_sdk::metrics::Temporality;

const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// Environment variables read through a lookup, with the warnings about the values that could not be used.
pub struct Variables<F> {
    lookup: F,
    warnings: Vec<String>,
}

impl Variables<fn(&str) -> Option<String>> {
    /// The variables of this process.
    pub fn from_env() -> Self {
        Variables::new(|name| std::env::var(name).ok())
    }
}

impl<F: Fn(&str) -> Option<String>> Variables<F> {
    /// Variables that `lookup` answers: a variable's value, or `None` when it is unset.
    pub fn new(lookup: F) -> Self {
        Variables { lookup, warnings: Vec::new() }
    }

    /// Why a variable was ignored so far, one sentence each, in the order they were read.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The warnings, taking them out.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// A variable's value, trimmed; an empty value counts as unset, as the OpenTelemetry specification says.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|value| value.trim().to_string()).filter(|value| !value.is_empty())
    }

    /// Records that `name`'s `value` was ignored, and what happens instead.
    pub fn warn(&mut self, name: &str, value: &str, consequence: &str) {
        self.warnings.push(format!("ignoring {name}={value:?}: {consequence}"));
    }

    /// `parse` of the variable's value, or `None` (with a warning) when it is set but unusable.
    pub fn parse_optional<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let value = self.get(name)?;
        let parsed = parse(&value);
        if parsed.is_none() {
            self.warn(name, &value, "not a valid value");
        }
        parsed
    }

    /// `parse` of the variable's value, else `default` (with a warning when it is set but unusable).
    pub fn parse<T: Debug>(&mut self, name: &str, default: T, parse: impl FnOnce(&str) -> Option<T>) -> T {
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
    pub fn key_values(&mut self, name: &str) -> Vec<(String, String)> {
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
}

/// The OTLP transport of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`, the specification's default.
    HttpProtobuf,
    /// `grpc`.
    Grpc,
}

impl Protocol {
    /// The name the `OTEL_EXPORTER_OTLP_PROTOCOL` variable gives it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

/// Where and how one signal is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterConfig {
    /// The transport.
    pub protocol: Protocol,
    /// The full URL: for HTTP the signal's path is already appended to a generic endpoint.
    pub endpoint: String,
    /// Extra request headers (authentication for a hosted collector), percent-decoded; all valid HTTP.
    pub headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT`, when set: the longest a single export may take.
    pub timeout: Option<Duration>,
    /// `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE`: the path of a PEM file with the CA certificates an `https://`
    /// collector's certificate must chain to, instead of the bundled public roots. Read when the exporter is built,
    /// for an `https://` endpoint only.
    pub certificate: Option<String>,
}

/// `OTEL_TRACES_SAMPLER` with its argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio`, with its ratio.
    TraceIdRatio(f64),
    /// `parentbased_always_on`, the default.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`, with its ratio.
    ParentBasedTraceIdRatio(f64),
}

impl Sampler {
    /// The SDK's sampler for this setting.
    pub fn to_sdk(self) -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler as Sdk;
        match self {
            Sampler::AlwaysOn => Sdk::AlwaysOn,
            Sampler::AlwaysOff => Sdk::AlwaysOff,
            Sampler::TraceIdRatio(ratio) => Sdk::TraceIdRatioBased(ratio),
            Sampler::ParentBasedAlwaysOn => Sdk::ParentBased(Box::new(Sdk::AlwaysOn)),
            Sampler::ParentBasedAlwaysOff => Sdk::ParentBased(Box::new(Sdk::AlwaysOff)),
            Sampler::ParentBasedTraceIdRatio(ratio) => Sdk::ParentBased(Box::new(Sdk::TraceIdRatioBased(ratio))),
        }
    }
}

/// One entry of `OTEL_PROPAGATORS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagator {
    /// W3C `traceparent`/`tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// AWS X-Ray's `X-Amzn-Trace-Id`.
    XRay,
}

/// The OpenTelemetry SDK's configuration, as the standard variables give it.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// `OTEL_SDK_DISABLED=true`: no spans, metrics or exports.
    pub disabled: bool,
    /// `OTEL_SERVICE_NAME`, else the `service.name` of `OTEL_RESOURCE_ATTRIBUTES`: the specification's order. `None`
    /// leaves the choice of a default to the program.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order, percent-decoded.
    pub resource_attributes: Vec<(String, String)>,
    /// The span exporter's.
    pub traces: ExporterConfig,
    /// The metric exporter's.
    pub metrics: ExporterConfig,
    /// `OTEL_TRACES_SAMPLER(_ARG)`.
    pub sampler: Sampler,
    /// `OTEL_PROPAGATORS` in order, without duplicates.
    pub propagators: Vec<Propagator>,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub temporality: Temporality,
}

impl OtlpConfig {
    /// The configuration `variables` give, with their warnings added to the others.
    pub fn read<F: Fn(&str) -> Option<String>>(variables: &mut Variables<F>) -> Self {
        let disabled = variables.parse("OTEL_SDK_DISABLED", false, |value| match value.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
        let resource_attributes = variables.key_values("OTEL_RESOURCE_ATTRIBUTES");
        let service_name = variables.get("OTEL_SERVICE_NAME").or_else(|| {
            resource_attributes.iter().rev().find(|(key, _)| key == "service.name").map(|(_, value)| value.clone())
        });
        let generic = Generic::read(variables);
        let traces = generic.exporter(variables, Signal::Traces);
        let metrics = generic.exporter(variables, Signal::Metrics);
        let sampler = sampler(variables);
        let propagators = propagators(variables);
        let temporality =
            variables.parse("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", Temporality::Cumulative, |value| {
                match value.to_ascii_lowercase().as_str() {
                    "cumulative" => Some(Temporality::Cumulative),
                    "delta" => Some(Temporality::Delta),
                    "lowmemory" => Some(Temporality::LowMemory),
                    _ => None,
                }
            });
        OtlpConfig { disabled, service_name, resource_attributes, traces, metrics, sampler, propagators, temporality }
    }
}

/// The generic `OTEL_EXPORTER_OTLP_*` variables, read once for both signals (one warning per bad value).
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

impl Generic {
    fn read<F: Fn(&str) -> Option<String>>(variables: &mut Variables<F>) -> Self {
        Generic {
            protocol: protocol(variables, "OTEL_EXPORTER_OTLP_PROTOCOL"),
            endpoint: endpoint(variables, "OTEL_EXPORTER_OTLP_ENDPOINT"),
            headers: headers(variables, "OTEL_EXPORTER_OTLP_HEADERS"),
            timeout: timeout(variables, "OTEL_EXPORTER_OTLP_TIMEOUT"),
            certificate: variables.get("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        }
    }

    fn exporter<F: Fn(&str) -> Option<String>>(&self, variables: &mut Variables<F>, signal: Signal) -> ExporterConfig {
        let protocol =
            protocol(variables, &signal.variable("PROTOCOL")).or(self.protocol).unwrap_or(Protocol::HttpProtobuf);
        // A signal's own endpoint is used as it is; the generic one is a base that HTTP extends with the signal's path.
        let endpoint = match endpoint(variables, &signal.variable("ENDPOINT")) {
            Some(endpoint) => endpoint,
            None => match protocol {
                Protocol::Grpc => self.endpoint.clone().unwrap_or_else(|| DEFAULT_GRPC_ENDPOINT.to_string()),
                Protocol::HttpProtobuf => {
                    let base = self.endpoint.as_deref().unwrap_or(DEFAULT_HTTP_ENDPOINT);
                    format!("{}{}", base.trim_end_matches('/'), signal.http_path())
                }
            },
        };
        // Generic headers first, the signal's own override them name by name.
        let mut headers = self.headers.clone();
        for (key, value) in self::headers(variables, &signal.variable("HEADERS")) {
            headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&key));
            headers.push((key, value));
        }
        let timeout = timeout(variables, &signal.variable("TIMEOUT")).or(self.timeout);
        let certificate = variables.get(&signal.variable("CERTIFICATE")).or_else(|| self.certificate.clone());
        ExporterConfig { protocol, endpoint, headers, timeout, certificate }
    }
}

fn protocol<F: Fn(&str) -> Option<String>>(variables: &mut Variables<F>, name: &str) -> Option<Protocol> {
    let value = variables.get(name)?;
    match value.as_str() {
        "http/protobuf" => Some(Protocol::HttpProtobuf),
        "grpc" => Some(Protocol::Grpc),
        _ => {
            variables.warn(name, &value, "the protocols are http/protobuf and grpc");
            None
        }
    }
}

/// An endpoint URL, or `None` with a warning when it is not an absolute `http://` or `https://` URL.
fn endpoint<F: Fn(&str) -> Option<String>>(variables: &mut Variables<F>, name: &str) -> Option<String> {
    let value = variables.get(name)?;
    let uri = value.parse::<Uri>().ok().filter(|uri| uri.host().is_some());
    match uri.as_ref().and_then(Uri::scheme_str) {
        Some("http" | "https") => Some(value),
        _ => {
            variables.warn(name, &value, "not an absolute http:// or https:// URL, using the default endpoint");
            None
        }
    }
}

fn timeout<F: Fn(&str) -> Option<String>>(variables: &mut Variables<F>, name: &str) -> Option<Duration> {
    variables.parse_optional(name, |value| value.parse().ok().map(Duration::from_millis))
}

/// A header list, without the entries that are not valid HTTP (they could not be sent).
fn headers<F: Fn(&str) -> Option<String>>(variables: &mut Variables<F>, name: &str) -> Vec<(String, String)> {
    let mut headers = variables.key_values(name);
    headers.retain(|(key, value)| {
        let valid = key.parse::<HeaderName>().is_ok() && value.parse::<HeaderValue>().is_ok();
        if !valid {
            variables.warnings.push(format!("ignoring the header {key:?} of {name}: not a valid HTTP header"));
        }
        valid
    });
    headers
}

fn sampler<F: Fn(&str) -> Option<String>>(variables: &mut Variables<F>) -> Sampler {
    const NAME: &str = "OTEL_TRACES_SAMPLER";
    const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
    let default = Sampler::ParentBasedAlwaysOn;
    let Some(name) = variables.get(NAME) else { return default };
    let ratio = |variables: &mut Variables<F>| {
        variables.parse(ARG, 1.0, |value| value.parse().ok().filter(|ratio| (0.0..=1.0).contains(ratio)))
    };
    match name.as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatio(ratio(variables)),
        "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
        "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio(variables)),
        _ => {
            variables.warn(NAME, &name, "not a sampler this SDK implements, using parentbased_always_on");
            default
        }
    }
}

fn propagators<F: Fn(&str) -> Option<String>>(variables: &mut Variables<F>) -> Vec<Propagator> {
    const NAME: &str = "OTEL_PROPAGATORS";
    let list = variables.get(NAME).unwrap_or_else(|| "tracecontext,baggage,xray".to_string());
    let mut propagators = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        let propagator = match entry {
            "tracecontext" => Propagator::TraceContext,
            "baggage" => Propagator::Baggage,
            "xray" => Propagator::XRay,
            "none" => continue,
            _ => {
                variables.warn(NAME, entry, "not a propagator this SDK implements");
                continue;
            }
        };
        if !propagators.contains(&propagator) {
            propagators.push(propagator);
        }
    }
    propagators
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
mod tests;
