//! An OTLP receiver for tests: listens on 127.0.0.1 on a free port, decodes the real OTLP protobuf payloads
//! (`opentelemetry-proto`), over HTTP/protobuf (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`) or gRPC (the generated
//! TraceService, MetricsService and LogsService), and keeps what it received as flat, typed records.
//!
//! It can misbehave on purpose: [`Mode::Hang`] accepts every export and never answers it, [`Mode::Slow`] answers late;
//! [`refusing_endpoint`] is an address where nothing listens. [`Receiver::start_tls`] serves `https://` instead, with a
//! self-signed certificate made for it, which its [`Receiver::env`] tells the exporters to trust. For long runs,
//! [`Receiver::start_counting`] only counts what it decodes, so that its memory does not grow with the run.
//!
//! Shared by the telemetry tests and the invocation benchmark (through `#[path]`), so it depends on nothing else in
//! `tests/common`.

#![allow(dead_code)] // Each test crate (and the benchmark) uses its own part of this module.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apigw_local::http1::{Connection, Limits, Request, Response};
use futures::StreamExt as _;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
pub(crate) use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::metrics::v1::{exemplar, metric, number_data_point};
pub(crate) use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
pub(crate) use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The wire protocol of a receiver, as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    HttpProtobuf,
    Grpc,
}

impl Protocol {
    /// The value of `OTEL_EXPORTER_OTLP_PROTOCOL` for this protocol.
    pub(crate) fn env_value(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

/// How the receiver answers exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Records and answers at once.
    Normal,
    /// Accepts the connection and the request and never answers (until the mode changes: then the connection is
    /// closed, or the gRPC call fails with `UNAVAILABLE`; nothing from the hung export is recorded).
    Hang,
    /// Records, then answers after this delay.
    Slow(Duration),
}

/// A typed attribute value, as OTLP carries it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Attributes),
    Empty,
}

impl Value {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(text) => write!(f, "{text:?}"),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Int(value) => write!(f, "{value}"),
            Value::Double(value) => write!(f, "{value}"),
            Value::Bytes(bytes) => write!(f, "0x{}", hex(bytes)),
            Value::Array(values) => f.debug_list().entries(values).finish(),
            Value::Map(map) => f.debug_map().entries(map).finish(),
            Value::Empty => f.write_str("<empty>"),
        }
    }
}

/// Attributes by key (a key repeated on the wire keeps its last value).
pub(crate) type Attributes = BTreeMap<String, Value>;

/// One span, flattened with its resource and scope.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// 16 lower-case hex digits.
    pub span_id: String,
    /// `None` for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: SpanKind,
    pub status: StatusCode,
    pub status_message: String,
    pub attributes: Attributes,
    pub resource: Attributes,
    pub scope: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

impl Span {
    pub(crate) fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }

    pub(crate) fn str_attr(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }

    /// The resource's `service.name`.
    pub(crate) fn service(&self) -> &str {
        resource_service(&self.resource)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {:?} {} {} trace={} span={} parent={} status={:?}",
            self.service(),
            self.name,
            self.kind.as_str_name(),
            self.scope,
            self.trace_id,
            self.span_id,
            self.parent_span_id.as_deref().unwrap_or("-"),
            self.status,
        )?;
        for (key, value) in &self.attributes {
            write!(f, " {key}={value}")?;
        }
        Ok(())
    }
}

/// A histogram data point.
#[derive(Debug, Clone)]
pub(crate) struct HistogramPoint {
    pub attributes: Attributes,
    pub count: u64,
    pub sum: Option<f64>,
    pub bucket_counts: Vec<u64>,
    pub explicit_bounds: Vec<f64>,
    pub start_unix_nano: u64,
    pub time_unix_nano: u64,
    /// The (trace id, span id) in hex, and the value, of each exemplar.
    pub exemplars: Vec<(String, String, f64)>,
}

/// A sum or gauge data point (integers widened to f64, which is exact for any count a test makes).
#[derive(Debug, Clone)]
pub(crate) struct NumberPoint {
    pub attributes: Attributes,
    pub value: f64,
    pub is_int: bool,
    pub start_unix_nano: u64,
    pub time_unix_nano: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum Data {
    Histogram { temporality: AggregationTemporality, points: Vec<HistogramPoint> },
    Sum { temporality: AggregationTemporality, monotonic: bool, points: Vec<NumberPoint> },
    Gauge { points: Vec<NumberPoint> },
    ExponentialHistogram,
    Summary,
    Missing,
}

/// One metric as one export carried it: a stream's points at one moment, with the resource and scope.
#[derive(Debug, Clone)]
pub(crate) struct Metric {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub data: Data,
    pub resource: Attributes,
    pub scope: String,
    /// Counts the export requests of the receiver: metrics of one export share it.
    pub export: usize,
}

impl Metric {
    pub(crate) fn service(&self) -> &str {
        resource_service(&self.resource)
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self.data {
            Data::Histogram { .. } => "histogram",
            Data::Sum { monotonic: true, .. } => "counter",
            Data::Sum { monotonic: false, .. } => "up-down counter",
            Data::Gauge { .. } => "gauge",
            Data::ExponentialHistogram => "exponential histogram",
            Data::Summary => "summary",
            Data::Missing => "no data",
        }
    }
}

fn resource_service(resource: &Attributes) -> &str {
    resource.get("service.name").and_then(Value::as_str).unwrap_or("")
}

/// Everything received so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Received {
    /// Empty for a [`Receiver::start_counting`] receiver, as are `metrics`.
    pub spans: Vec<Span>,
    pub metrics: Vec<Metric>,
    /// SERVER spans per `service.name`, counted by every receiver.
    pub server_spans: BTreeMap<String, usize>,
    pub log_records: usize,
    /// Export requests answered, per signal.
    pub trace_exports: usize,
    pub metric_exports: usize,
    pub log_exports: usize,
    /// Requests that were not a valid export (wrong path, content type, undecodable body), with what was wrong.
    pub rejected: Vec<String>,
}

impl Received {
    /// Spans of one service.
    pub(crate) fn spans_of<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Span> + 'a {
        self.spans.iter().filter(move |span| span.service() == service)
    }

    /// Spans of one trace.
    pub(crate) fn trace<'a>(&'a self, trace_id: &'a str) -> impl Iterator<Item = &'a Span> + 'a {
        self.spans.iter().filter(move |span| span.trace_id == trace_id)
    }

    /// The SERVER span of a service whose `faas.invocation_id` is this request id.
    pub(crate) fn invocation_span(&self, service: &str, request_id: &str) -> Option<&Span> {
        self.spans.iter().find(|span| {
            span.service() == service
                && span.kind == SpanKind::Server
                && span.str_attr("faas.invocation_id") == Some(request_id)
        })
    }

    /// Every export of a metric of one service.
    pub(crate) fn metric<'a>(&'a self, service: &'a str, name: &'a str) -> impl Iterator<Item = &'a Metric> + 'a {
        self.metrics.iter().filter(move |metric| metric.service() == service && metric.name == name)
    }

    /// Metric names of one service, each with how many times one export carried it at most (more than 1 is a
    /// duplicate stream).
    pub(crate) fn streams_per_export(&self, service: &str) -> BTreeMap<String, usize> {
        let mut per_export: BTreeMap<(usize, String, String), usize> = BTreeMap::new();
        for metric in self.metrics.iter().filter(|metric| metric.service() == service) {
            *per_export.entry((metric.export, canonical(&metric.resource), metric.name.clone())).or_default() += 1;
        }
        let mut most = BTreeMap::new();
        for ((_, _, name), count) in per_export {
            let entry = most.entry(name).or_insert(0);
            *entry = count.max(*entry);
        }
        most
    }

    /// The total count of a histogram, per value of one attribute (`""` when a point lacks it): for cumulative
    /// temporality the latest point of each (resource, attribute set) stream, summed over streams, so concurrent
    /// execution environments (told apart by `faas.instance` in the resource) add up; for delta, every point summed.
    pub(crate) fn histogram_counts_by(&self, service: &str, name: &str, key: &str) -> BTreeMap<String, u64> {
        let mut latest: BTreeMap<(String, String), (u64, u64, String)> = BTreeMap::new();
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for metric in self.metric(service, name) {
            let Data::Histogram { temporality, points } = &metric.data else { continue };
            for point in points {
                let label = label(&point.attributes, key);
                if *temporality == AggregationTemporality::Delta {
                    *totals.entry(label).or_default() += point.count;
                    continue;
                }
                let stream = (canonical(&metric.resource), canonical(&point.attributes));
                let newer = latest
                    .get(&stream)
                    .is_none_or(|(time, count, _)| (point.time_unix_nano, point.count) > (*time, *count));
                if newer {
                    latest.insert(stream, (point.time_unix_nano, point.count, label));
                }
            }
        }
        for (_, count, label) in latest.into_values() {
            *totals.entry(label).or_default() += count;
        }
        totals
    }

    /// The value of a sum (counter or up-down counter), per value of one attribute, aggregated over streams as
    /// [`Self::histogram_counts_by`] does.
    pub(crate) fn sum_by(&self, service: &str, name: &str, key: &str) -> BTreeMap<String, f64> {
        let mut latest: BTreeMap<(String, String), (u64, f64, String)> = BTreeMap::new();
        let mut totals: BTreeMap<String, f64> = BTreeMap::new();
        for metric in self.metric(service, name) {
            let Data::Sum { temporality, points, .. } = &metric.data else { continue };
            for point in points {
                let label = label(&point.attributes, key);
                if *temporality == AggregationTemporality::Delta {
                    *totals.entry(label).or_default() += point.value;
                    continue;
                }
                let stream = (canonical(&metric.resource), canonical(&point.attributes));
                let newer = latest.get(&stream).is_none_or(|(time, _, _)| point.time_unix_nano >= *time);
                if newer {
                    latest.insert(stream, (point.time_unix_nano, point.value, label));
                }
            }
        }
        for (_, value, label) in latest.into_values() {
            *totals.entry(label).or_default() += value;
        }
        totals
    }

    /// The total of a sum over every attribute set and stream.
    pub(crate) fn sum_total(&self, service: &str, name: &str) -> f64 {
        self.sum_by(service, name, "").values().sum()
    }

    /// A readable listing of what was received, for assertion messages.
    pub(crate) fn summary(&self) -> String {
        let mut text = format!(
            "{} spans, {} metric records, {} log records ({} trace / {} metric / {} log exports; SERVER spans: {:?}; \
             rejected: {:?})\n",
            self.spans.len(),
            self.metrics.len(),
            self.log_records,
            self.trace_exports,
            self.metric_exports,
            self.log_exports,
            self.server_spans,
            self.rejected,
        );
        for span in self.spans.iter().take(40) {
            text.push_str(&format!("  {span}\n"));
        }
        if self.spans.len() > 40 {
            text.push_str(&format!("  … {} more spans\n", self.spans.len() - 40));
        }
        let mut names = BTreeMap::new();
        for metric in &self.metrics {
            names.insert((metric.service().to_string(), metric.name.clone()), (metric.kind(), metric.unit.clone()));
        }
        for ((service, name), (kind, unit)) in names {
            text.push_str(&format!("  metric [{service}] {name} ({kind}, unit {unit:?})\n"));
        }
        text
    }
}

fn label(attributes: &Attributes, key: &str) -> String {
    match attributes.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A stable text for an attribute set, to key streams by.
fn canonical(attributes: &Attributes) -> String {
    attributes.iter().map(|(key, value)| format!("{key}={value};")).collect()
}

#[derive(Default)]
struct Store {
    received: Mutex<Received>,
    /// Connections accepted (HTTP and gRPC).
    connections: AtomicUsize,
    /// Export requests that arrived, whatever the mode.
    requests: AtomicUsize,
    /// TLS handshakes that failed (a client that does not trust the certificate gives up during the handshake).
    tls_failures: AtomicUsize,
}

/// The shared state of a receiver: what it holds, and how it answers.
#[derive(Clone)]
struct Shared {
    store: Arc<Store>,
    mode: watch::Sender<Mode>,
    /// Bumped on every recorded export, so waiters wake.
    changed: watch::Sender<u64>,
    /// Whether spans and metrics are kept, or only counted.
    keep_records: bool,
}

impl Shared {
    fn record(&self, apply: impl FnOnce(&mut Received, usize)) {
        {
            let mut received = self.store.received.lock().unwrap();
            let export = received.trace_exports + received.metric_exports + received.log_exports;
            apply(&mut received, export);
        }
        self.changed.send_modify(|version| *version += 1);
    }

    fn reject(&self, what: String) {
        self.record(|received, _| received.rejected.push(what));
    }

    /// Applies the current mode before an answer: `false` when the export is to be dropped unanswered (it hung until
    /// the mode changed).
    async fn before_answer(&self) -> bool {
        self.store.requests.fetch_add(1, Ordering::SeqCst);
        let mut mode = self.mode.subscribe();
        let current = *mode.borrow_and_update();
        match current {
            Mode::Normal => true,
            Mode::Slow(delay) => {
                tokio::time::sleep(delay).await;
                true
            }
            Mode::Hang => {
                let _ = mode.wait_for(|mode| *mode != Mode::Hang).await;
                false
            }
        }
    }

    fn record_traces(&self, request: ExportTraceServiceRequest) {
        let spans = flatten_spans(request);
        let keep = self.keep_records;
        self.record(|received, _| {
            received.trace_exports += 1;
            for span in spans.iter().filter(|span| span.kind == SpanKind::Server) {
                *received.server_spans.entry(span.service().to_string()).or_default() += 1;
            }
            if keep {
                received.spans.extend(spans);
            }
        });
    }

    fn record_metrics(&self, request: ExportMetricsServiceRequest) {
        let keep = self.keep_records;
        self.record(|received, export| {
            received.metric_exports += 1;
            if keep {
                received.metrics.extend(flatten_metrics(request, export));
            }
        });
    }

    fn record_logs(&self, request: ExportLogsServiceRequest) {
        let records = request
            .resource_logs
            .iter()
            .flat_map(|resource| &resource.scope_logs)
            .map(|scope| scope.log_records.len())
            .sum::<usize>();
        self.record(|received, _| {
            received.log_exports += 1;
            received.log_records += records;
        });
    }
}

/// A running OTLP receiver; stops when dropped.
pub(crate) struct Receiver {
    pub protocol: Protocol,
    address: SocketAddr,
    shared: Shared,
    server: JoinHandle<()>,
    /// The PEM file of the certificate an `https://` receiver serves; removed when the receiver is dropped.
    certificate_file: Option<PathBuf>,
}

/// A certificate for `127.0.0.1` and `localhost`, self-signed, so that it is its own CA: the acceptor that serves it
/// and the PEM file that makes an exporter trust it.
fn self_signed(protocol: Protocol) -> (TlsAcceptor, PathBuf) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("make a certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .expect("serve the certificate");
    if protocol == Protocol::Grpc {
        // A gRPC client insists on HTTP/2, negotiated in the handshake.
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let file = std::env::temp_dir().join(format!(
        "otlp-receiver-{}-{}.pem",
        std::process::id(),
        FILES.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&file, cert.pem()).expect("write the certificate file");
    (TlsAcceptor::from(Arc::new(config)), file)
}

impl Receiver {
    /// An HTTP/protobuf receiver that answers at once.
    pub(crate) async fn http() -> Self {
        Self::start(Protocol::HttpProtobuf, Mode::Normal).await
    }

    /// A gRPC receiver that answers at once.
    pub(crate) async fn grpc() -> Self {
        Self::start(Protocol::Grpc, Mode::Normal).await
    }

    pub(crate) async fn start(protocol: Protocol, mode: Mode) -> Self {
        Self::serve(protocol, mode, None, true).await
    }

    /// A receiver that answers at once and counts what it decodes (exports, SERVER spans per service) without keeping
    /// spans or metrics: a long run of load would otherwise hold hundreds of thousands of records in the test's memory.
    pub(crate) async fn start_counting(protocol: Protocol) -> Self {
        Self::serve(protocol, Mode::Normal, None, false).await
    }

    /// A receiver that answers at once over TLS, with a self-signed certificate of its own.
    pub(crate) async fn start_tls(protocol: Protocol) -> Self {
        let (acceptor, certificate_file) = self_signed(protocol);
        let mut receiver = Self::serve(protocol, Mode::Normal, Some(acceptor), true).await;
        receiver.certificate_file = Some(certificate_file);
        receiver
    }

    async fn serve(protocol: Protocol, mode: Mode, tls: Option<TlsAcceptor>, keep_records: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the OTLP receiver");
        let address = listener.local_addr().unwrap();
        let shared = Shared {
            store: Arc::default(),
            mode: watch::Sender::new(mode),
            changed: watch::Sender::new(0),
            keep_records,
        };
        let server = match protocol {
            Protocol::HttpProtobuf => tokio::spawn(serve_http(listener, shared.clone(), tls)),
            Protocol::Grpc => tokio::spawn(serve_grpc(listener, shared.clone(), tls)),
        };
        Self { protocol, address, shared, server, certificate_file: None }
    }

    /// `http://127.0.0.1:PORT` (`https://` over TLS), the value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub(crate) fn endpoint(&self) -> String {
        let scheme = if self.certificate_file.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_PROTOCOL` pointing at this receiver, and over TLS
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE` naming its certificate.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), self.endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL".to_string(), self.protocol.env_value().to_string()),
        ];
        if let Some(file) = &self.certificate_file {
            env.push(("OTEL_EXPORTER_OTLP_CERTIFICATE".to_string(), file.to_str().unwrap().to_string()));
        }
        env
    }

    /// TLS handshakes that failed so far.
    pub(crate) fn tls_failures(&self) -> usize {
        self.shared.store.tls_failures.load(Ordering::SeqCst)
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    /// A copy of everything recorded so far.
    pub(crate) fn received(&self) -> Received {
        self.shared.store.received.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.shared.store.connections.load(Ordering::SeqCst)
    }

    /// Export requests that arrived so far (answered, hung or rejected).
    pub(crate) fn requests(&self) -> usize {
        self.shared.store.requests.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds for what was received, and returns it; panics after `timeout` naming `what` and
    /// listing what did arrive.
    pub(crate) async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Received) -> bool,
    ) -> Received {
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changed.borrow_and_update();
            let received = self.received();
            if done(&received) {
                return received;
            }
            if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                panic!("the OTLP receiver did not get {what} within {timeout:?}; it got {}", received.summary());
            }
        }
    }

    /// Waits until at least `count` spans match `filter`.
    pub(crate) async fn wait_for_spans(
        &self,
        what: &str,
        count: usize,
        timeout: Duration,
        filter: impl Fn(&Span) -> bool,
    ) -> Received {
        self.wait_until(what, timeout, |received| received.spans.iter().filter(|span| filter(span)).count() >= count)
            .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
        // Releases exports that hang, so their connections close.
        self.shared.mode.send_replace(Mode::Normal);
        if let Some(file) = &self.certificate_file {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// An endpoint where nothing listens: connecting is refused. The port was free a moment ago; nothing here binds it.
pub(crate) fn refusing_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

const HTTP_LIMITS: Limits = Limits {
    max_head: 64 * 1024,
    max_body: 64 * 1024 * 1024,
    head_timeout: Duration::from_secs(30),
    body_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(300),
};

async fn serve_http(listener: TcpListener, shared: Shared, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        shared.store.connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        let (shared, tls) = (shared.clone(), tls.clone());
        tokio::spawn(async move {
            let Some(tls) = tls else { return serve_http_connection(stream, shared).await };
            match tls.accept(stream).await {
                Ok(stream) => serve_http_connection(stream, shared).await,
                Err(_) => {
                    shared.store.tls_failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
}

async fn serve_http_connection(stream: impl AsyncRead + AsyncWrite + Unpin, shared: Shared) {
    let mut connection = Connection::new(stream);
    while let Ok(request) = connection.read_request(&HTTP_LIMITS).await {
        let keep_alive = request.keep_alive();
        let Some(response) = answer_http(&request, &shared).await else { return };
        if connection.write_response(&response, false, keep_alive).await.is_err() || !keep_alive {
            return;
        }
    }
}

/// The answer to one HTTP request; `None` to close the connection without one.
async fn answer_http(request: &Request, shared: &Shared) -> Option<Response> {
    let protobuf = |body: Vec<u8>| Response { status: 200, headers: vec![content_type()], body };
    let path = request.path();
    if request.method != "POST" || !["/v1/traces", "/v1/metrics", "/v1/logs"].contains(&path) {
        shared.reject(format!("{} {}", request.method, request.target));
        return Some(Response::new(404));
    }
    let content_type = request.header("content-type").unwrap_or("");
    if !content_type.starts_with("application/x-protobuf") {
        shared.reject(format!("{path}: content-type {content_type:?}"));
        return Some(Response::new(415));
    }
    if let Some(encoding) = request.header("content-encoding").filter(|encoding| *encoding != "identity") {
        shared.reject(format!("{path}: content-encoding {encoding:?}"));
        return Some(Response::new(415));
    }
    if !shared.before_answer().await {
        return None;
    }
    let decoded = match path {
        "/v1/traces" => ExportTraceServiceRequest::decode(&*request.body).map(|export| {
            shared.record_traces(export);
            ExportTraceServiceResponse::default().encode_to_vec()
        }),
        "/v1/metrics" => ExportMetricsServiceRequest::decode(&*request.body).map(|export| {
            shared.record_metrics(export);
            ExportMetricsServiceResponse::default().encode_to_vec()
        }),
        _ => ExportLogsServiceRequest::decode(&*request.body).map(|export| {
            shared.record_logs(export);
            ExportLogsServiceResponse::default().encode_to_vec()
        }),
    };
    Some(match decoded {
        Ok(body) => protobuf(body),
        Err(error) => {
            shared.reject(format!("{path}: not a protobuf export request: {error}"));
            Response::new(400)
        }
    })
}

fn content_type() -> (String, String) {
    ("Content-Type".to_string(), "application/x-protobuf".to_string())
}

async fn serve_grpc(listener: TcpListener, shared: Shared, tls: Option<TlsAcceptor>) {
    let counted = shared.clone();
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)).inspect(move |_| {
        counted.store.connections.fetch_add(1, Ordering::SeqCst);
    });
    let service = GrpcService(shared.clone());
    const MAX: usize = 64 * 1024 * 1024;
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(service.clone()).max_decoding_message_size(MAX))
        .add_service(MetricsServiceServer::new(service.clone()).max_decoding_message_size(MAX))
        .add_service(LogsServiceServer::new(service).max_decoding_message_size(MAX));
    let served = match tls {
        None => server.serve_with_incoming(incoming).await,
        Some(tls) => {
            // One handshake at a time, which is all the tests need.
            let incoming = incoming.filter_map(move |stream| {
                let (tls, shared) = (tls.clone(), shared.clone());
                async move {
                    match tls.accept(stream.ok()?).await {
                        Ok(stream) => Some(Ok::<_, std::io::Error>(stream)),
                        Err(_) => {
                            shared.store.tls_failures.fetch_add(1, Ordering::SeqCst);
                            None
                        }
                    }
                }
            });
            server.serve_with_incoming(incoming).await
        }
    };
    served.expect("serve gRPC");
}

#[derive(Clone)]
struct GrpcService(Shared);

type GrpcResult<T> = Result<tonic::Response<T>, tonic::Status>;

impl GrpcService {
    async fn answer<T: Default>(&self, record: impl FnOnce(&Shared)) -> GrpcResult<T> {
        if !self.0.before_answer().await {
            return Err(tonic::Status::unavailable("the receiver stopped hanging"));
        }
        record(&self.0);
        Ok(tonic::Response::new(T::default()))
    }
}

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> GrpcResult<ExportTraceServiceResponse> {
        let export = request.into_inner();
        self.answer(|shared| shared.record_traces(export)).await
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> GrpcResult<ExportMetricsServiceResponse> {
        let export = request.into_inner();
        self.answer(|shared| shared.record_metrics(export)).await
    }
}

#[tonic::async_trait]
impl LogsService for GrpcService {
    async fn export(&self, request: tonic::Request<ExportLogsServiceRequest>) -> GrpcResult<ExportLogsServiceResponse> {
        let export = request.into_inner();
        self.answer(|shared| shared.record_logs(export)).await
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn value(any: Option<AnyValue>) -> Value {
    match any.and_then(|any| any.value) {
        None => Value::Empty,
        Some(any_value::Value::StringValue(text)) => Value::String(text),
        Some(any_value::Value::BoolValue(value)) => Value::Bool(value),
        Some(any_value::Value::IntValue(value)) => Value::Int(value),
        Some(any_value::Value::DoubleValue(value)) => Value::Double(value),
        Some(any_value::Value::BytesValue(bytes)) => Value::Bytes(bytes),
        Some(any_value::Value::ArrayValue(array)) => {
            Value::Array(array.values.into_iter().map(|any| value(Some(any))).collect())
        }
        Some(any_value::Value::KvlistValue(list)) => Value::Map(attributes(list.values)),
        // Keys into a profile's string table; not used by traces and metrics.
        Some(any_value::Value::StringValueStrindex(index)) => Value::Int(i64::from(index)),
    }
}

fn attributes(pairs: Vec<KeyValue>) -> Attributes {
    pairs.into_iter().map(|pair| (pair.key, value(pair.value))).collect()
}

fn scope_name(scope: Option<opentelemetry_proto::tonic::common::v1::InstrumentationScope>) -> String {
    scope.map(|scope| scope.name).unwrap_or_default()
}

fn flatten_spans(request: ExportTraceServiceRequest) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = attributes(resource_spans.resource.map(|resource| resource.attributes).unwrap_or_default());
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_name(scope_spans.scope);
            for span in scope_spans.spans {
                let (status, status_message) = match span.status {
                    Some(status) => (StatusCode::try_from(status.code).unwrap_or(StatusCode::Unset), status.message),
                    None => (StatusCode::Unset, String::new()),
                };
                spans.push(Span {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty()).then(|| hex(&span.parent_span_id)),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    name: span.name,
                    status,
                    status_message,
                    attributes: attributes(span.attributes),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                });
            }
        }
    }
    spans
}

fn temporality(value: i32) -> AggregationTemporality {
    AggregationTemporality::try_from(value).unwrap_or(AggregationTemporality::Unspecified)
}

fn number_points(points: Vec<opentelemetry_proto::tonic::metrics::v1::NumberDataPoint>) -> Vec<NumberPoint> {
    points
        .into_iter()
        .map(|point| {
            let (value, is_int) = match point.value {
                Some(number_data_point::Value::AsInt(value)) => (value as f64, true),
                Some(number_data_point::Value::AsDouble(value)) => (value, false),
                None => (f64::NAN, false),
            };
            NumberPoint {
                attributes: attributes(point.attributes),
                value,
                is_int,
                start_unix_nano: point.start_time_unix_nano,
                time_unix_nano: point.time_unix_nano,
            }
        })
        .collect()
}

fn flatten_metrics(request: ExportMetricsServiceRequest, export: usize) -> Vec<Metric> {
    let mut metrics = Vec::new();
    for resource_metrics in request.resource_metrics {
        let resource = attributes(resource_metrics.resource.map(|resource| resource.attributes).unwrap_or_default());
        for scope_metrics in resource_metrics.scope_metrics {
            let scope = scope_name(scope_metrics.scope);
            for metric in scope_metrics.metrics {
                let data = match metric.data {
                    Some(metric::Data::Histogram(histogram)) => Data::Histogram {
                        temporality: temporality(histogram.aggregation_temporality),
                        points: histogram
                            .data_points
                            .into_iter()
                            .map(|point| HistogramPoint {
                                attributes: attributes(point.attributes),
                                count: point.count,
                                sum: point.sum,
                                bucket_counts: point.bucket_counts,
                                explicit_bounds: point.explicit_bounds,
                                start_unix_nano: point.start_time_unix_nano,
                                time_unix_nano: point.time_unix_nano,
                                exemplars: point
                                    .exemplars
                                    .into_iter()
                                    .map(|exemplar| {
                                        let value = match exemplar.value {
                                            Some(exemplar::Value::AsDouble(value)) => value,
                                            Some(exemplar::Value::AsInt(value)) => value as f64,
                                            None => f64::NAN,
                                        };
                                        (hex(&exemplar.trace_id), hex(&exemplar.span_id), value)
                                    })
                                    .collect(),
                            })
                            .collect(),
                    },
                    Some(metric::Data::Sum(sum)) => Data::Sum {
                        temporality: temporality(sum.aggregation_temporality),
                        monotonic: sum.is_monotonic,
                        points: number_points(sum.data_points),
                    },
                    Some(metric::Data::Gauge(gauge)) => Data::Gauge { points: number_points(gauge.data_points) },
                    Some(metric::Data::ExponentialHistogram(_)) => Data::ExponentialHistogram,
                    Some(metric::Data::Summary(_)) => Data::Summary,
                    None => Data::Missing,
                };
                metrics.push(Metric {
                    name: metric.name,
                    description: metric.description,
                    unit: metric.unit,
                    data,
                    resource: resource.clone(),
                    scope: scope.clone(),
                    export,
                });
            }
        }
    }
    metrics
}
