//! Metrics: recorded through the `metrics` facade, aggregated by the OpenTelemetry SDK, read by a `ManualReader` at
//! each flush.
//!
//! The facade is bridged by [`OtelRecorder`] rather than by a bridge crate, because the contract in
//! docs/telemetry.md needs what the facade alone cannot say: units such as `{request}` (the facade's `Unit` has no
//! annotations), an int `http.response.status_code` (facade labels are strings) and an up-down counter for
//! `http.server.active_requests` (bridges map the facade's gauge to a last-value gauge, which does not add up across
//! execution environments). Every metric is in [`CATALOGUE`] with its instrument, unit and description, so each name
//! is exactly one OpenTelemetry instrument, hence one stream: two instruments of one name would export as duplicate streams.
//!
//! The functions at the bottom are the only places that record: names and attributes live in this one file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Label, SharedString, Unit};
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, FAAS_TRIGGER, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
};
use opentelemetry_semantic_conventions::metric::{
    FAAS_COLDSTARTS, FAAS_ERRORS, FAAS_INIT_DURATION, FAAS_INVOCATIONS, HTTP_SERVER_ACTIVE_REQUESTS,
    HTTP_SERVER_REQUEST_DURATION,
};

/// The semantic conventions' buckets for `http.server.request.duration`, in seconds; `faas.init_duration` uses them
/// too (a Rust function's cold start is tens of milliseconds, squarely in this range).
pub(crate) const DURATION_BUCKETS: [f64; 14] =
    [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Instrument {
    Counter,
    UpDownCounter,
    Histogram,
}

struct Definition {
    name: &'static str,
    instrument: Instrument,
    unit: &'static str,
    description: &'static str,
}

/// Every metric the function records, as the semantic conventions define it.
const CATALOGUE: [Definition; 6] = [
    Definition {
        name: HTTP_SERVER_REQUEST_DURATION,
        instrument: Instrument::Histogram,
        unit: "s",
        description: "Duration of HTTP server requests.",
    },
    Definition {
        name: HTTP_SERVER_ACTIVE_REQUESTS,
        instrument: Instrument::UpDownCounter,
        unit: "{request}",
        description: "Number of active HTTP server requests.",
    },
    Definition {
        name: FAAS_INVOCATIONS,
        instrument: Instrument::Counter,
        unit: "{invocation}",
        description: "Number of successful invocations.",
    },
    Definition {
        name: FAAS_ERRORS,
        instrument: Instrument::Counter,
        unit: "{error}",
        description: "Number of invocation errors.",
    },
    Definition {
        name: FAAS_COLDSTARTS,
        instrument: Instrument::Counter,
        unit: "{coldstart}",
        description: "Number of invocation cold starts.",
    },
    Definition {
        name: FAAS_INIT_DURATION,
        instrument: Instrument::Histogram,
        unit: "s",
        description: "Measures the duration of the function's initialization, such as a cold start.",
    },
];

/// Attributes the semantic conventions type as int; the facade carries every label as a string.
const INT_ATTRIBUTES: [&str; 1] = [HTTP_RESPONSE_STATUS_CODE];

/// A meter provider whose metrics are read on demand, with the recorder that feeds it from the `metrics` facade.
pub(crate) struct MetricsPipeline {
    pub provider: SdkMeterProvider,
    pub reader: Arc<ManualReader>,
    pub recorder: OtelRecorder,
}

/// Builds the metrics pipeline for `resource`; the caller installs the recorder.
pub(crate) fn pipeline(resource: Resource, temporality: Temporality) -> MetricsPipeline {
    let reader = Arc::new(ManualReader::builder().with_temporality(temporality).build());
    let provider =
        SdkMeterProvider::builder().with_resource(resource).with_reader(SharedReader(reader.clone())).build();
    let scope = InstrumentationScope::builder(env!("CARGO_PKG_NAME")).with_version(env!("CARGO_PKG_VERSION")).build();
    let recorder = OtelRecorder::new(&provider.meter_with_scope(scope));
    MetricsPipeline { provider, reader, recorder }
}

/// Lets the delivery collect from the reader the meter provider owns.
#[derive(Debug)]
pub(crate) struct SharedReader(pub Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

enum OtelInstrument {
    Counter(opentelemetry::metrics::Counter<u64>),
    UpDownCounter(opentelemetry::metrics::UpDownCounter<f64>),
    Histogram(opentelemetry::metrics::Histogram<f64>),
}

/// The `metrics` recorder: each name in [`CATALOGUE`] is one OpenTelemetry instrument, built up front.
///
/// A facade counter is a counter, a facade gauge an up-down counter (increment and decrement add, `set` adds the
/// difference), a facade histogram a histogram. A name outside the catalogue, or used as the wrong kind, records
/// nothing: the catalogue is the contract.
pub(crate) struct OtelRecorder {
    instruments: HashMap<&'static str, OtelInstrument>,
    // Handles are kept per key so that a gauge's `set` and a counter's `absolute` know the value before.
    counters: Mutex<HashMap<Key, Counter>>,
    gauges: Mutex<HashMap<Key, Gauge>>,
    histograms: Mutex<HashMap<Key, Histogram>>,
}

impl OtelRecorder {
    pub(crate) fn new(meter: &Meter) -> Self {
        let instruments = CATALOGUE
            .iter()
            .map(|definition| {
                let Definition { name, instrument, unit, description } = *definition;
                let instrument = match instrument {
                    Instrument::Counter => OtelInstrument::Counter(
                        meter.u64_counter(name).with_unit(unit).with_description(description).build(),
                    ),
                    Instrument::UpDownCounter => OtelInstrument::UpDownCounter(
                        meter.f64_up_down_counter(name).with_unit(unit).with_description(description).build(),
                    ),
                    Instrument::Histogram => OtelInstrument::Histogram(
                        meter
                            .f64_histogram(name)
                            .with_unit(unit)
                            .with_description(description)
                            .with_boundaries(DURATION_BUCKETS.to_vec())
                            .build(),
                    ),
                };
                (name, instrument)
            })
            .collect();
        OtelRecorder { instruments, counters: Mutex::default(), gauges: Mutex::default(), histograms: Mutex::default() }
    }
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels()
        .map(|label| {
            let name = label.key().to_string();
            match label.value().parse::<i64>() {
                Ok(number) if INT_ATTRIBUTES.contains(&label.key()) => KeyValue::new(name, number),
                _ => KeyValue::new(name, label.value().to_string()),
            }
        })
        .collect()
}

fn cached<T: Clone>(cache: &Mutex<HashMap<Key, T>>, key: &Key, create: impl FnOnce() -> T) -> T {
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    // Looked up before `entry`, which would copy the key (its labels) on every recording to find what is there.
    if let Some(handle) = cache.get(key) {
        return handle.clone();
    }
    cache.entry(key.clone()).or_insert_with(create).clone()
}

impl metrics::Recorder for OtelRecorder {
    // The catalogue gives every instrument its unit and description when it is built; descriptions arriving later
    // could not change an instrument the SDK already has.
    fn describe_counter(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn describe_gauge(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn describe_histogram(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn register_counter(&self, key: &Key, _metadata: &metrics::Metadata<'_>) -> Counter {
        let Some(OtelInstrument::Counter(counter)) = self.instruments.get(key.name()) else {
            return Counter::noop();
        };
        cached(&self.counters, key, || {
            Counter::from_arc(Arc::new(OtelCounter {
                counter: counter.clone(),
                attributes: attributes(key),
                total: Mutex::new(0),
            }))
        })
    }

    fn register_gauge(&self, key: &Key, _metadata: &metrics::Metadata<'_>) -> Gauge {
        let Some(OtelInstrument::UpDownCounter(counter)) = self.instruments.get(key.name()) else {
            return Gauge::noop();
        };
        cached(&self.gauges, key, || {
            Gauge::from_arc(Arc::new(OtelUpDown {
                counter: counter.clone(),
                attributes: attributes(key),
                value: Mutex::new(0.0),
            }))
        })
    }

    fn register_histogram(&self, key: &Key, _metadata: &metrics::Metadata<'_>) -> Histogram {
        let Some(OtelInstrument::Histogram(histogram)) = self.instruments.get(key.name()) else {
            return Histogram::noop();
        };
        cached(&self.histograms, key, || {
            Histogram::from_arc(Arc::new(OtelHistogram { histogram: histogram.clone(), attributes: attributes(key) }))
        })
    }
}

struct OtelCounter {
    counter: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    total: Mutex<u64>,
}

impl CounterFn for OtelCounter {
    fn increment(&self, value: u64) {
        let mut total = self.total.lock().unwrap_or_else(PoisonError::into_inner);
        *total = total.saturating_add(value);
        self.counter.add(value, &self.attributes);
    }

    fn absolute(&self, value: u64) {
        // A monotonic counter cannot go down: a lower absolute value is ignored.
        let mut total = self.total.lock().unwrap_or_else(PoisonError::into_inner);
        if value > *total {
            self.counter.add(value - *total, &self.attributes);
            *total = value;
        }
    }
}

struct OtelUpDown {
    counter: opentelemetry::metrics::UpDownCounter<f64>,
    attributes: Vec<KeyValue>,
    value: Mutex<f64>,
}

impl OtelUpDown {
    fn add(&self, delta: f64) {
        *self.value.lock().unwrap_or_else(PoisonError::into_inner) += delta;
        self.counter.add(delta, &self.attributes);
    }
}

impl GaugeFn for OtelUpDown {
    fn increment(&self, value: f64) {
        self.add(value);
    }

    fn decrement(&self, value: f64) {
        self.add(-value);
    }

    fn set(&self, value: f64) {
        let mut current = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        self.counter.add(value - *current, &self.attributes);
        *current = value;
    }
}

struct OtelHistogram {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl HistogramFn for OtelHistogram {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
    }
}

/// What triggered an invocation, as `faas.trigger` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// An API Gateway request.
    Http,
    /// Anything else (an event this function does not understand).
    Other,
}

impl Trigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Other => "other",
        }
    }
}

fn label(key: &'static str, value: impl Into<SharedString>) -> Label {
    Label::new(key, value)
}

/// An HTTP request began (`+1`) or ended (`-1`).
pub(crate) fn active_requests(method: &str, route: Option<&str>, delta: f64) {
    let mut labels = vec![label(HTTP_REQUEST_METHOD, method.to_string())];
    labels.extend(route.map(|route| label(HTTP_ROUTE, route.to_string())));
    metrics::gauge!(HTTP_SERVER_ACTIVE_REQUESTS, labels).increment(delta);
}

/// An HTTP request was answered with `status` (none if the handler never answered) after `duration`.
pub(crate) fn request_duration(
    method: &str,
    route: Option<&str>,
    status: Option<u16>,
    error_type: Option<&str>,
    duration: Duration,
) {
    let mut labels = vec![label(HTTP_REQUEST_METHOD, method.to_string())];
    labels.extend(route.map(|route| label(HTTP_ROUTE, route.to_string())));
    labels.extend(status.map(|status| label(HTTP_RESPONSE_STATUS_CODE, status.to_string())));
    labels.extend(error_type.map(|error| label(ERROR_TYPE, error.to_string())));
    metrics::histogram!(HTTP_SERVER_REQUEST_DURATION, labels).record(duration.as_secs_f64());
}

/// An invocation ended: counted in `faas.invocations` if it succeeded, in `faas.errors` with its `error.type` if not.
pub(crate) fn invocation(trigger: Trigger, method: Option<&str>, error_type: Option<&str>) {
    let mut labels = vec![label(FAAS_TRIGGER, trigger.as_str())];
    labels.extend(method.map(|method| label(HTTP_REQUEST_METHOD, method.to_string())));
    match error_type {
        None => metrics::counter!(FAAS_INVOCATIONS, labels).increment(1),
        Some(error) => {
            labels.push(label(ERROR_TYPE, error.to_string()));
            metrics::counter!(FAAS_ERRORS, labels).increment(1);
        }
    }
}

/// The execution environment's first invocation: one cold start, which took `init_duration` to get ready.
pub(crate) fn coldstart(trigger: Trigger, init_duration: Duration) {
    let labels = vec![label(FAAS_TRIGGER, trigger.as_str())];
    metrics::counter!(FAAS_COLDSTARTS, labels.clone()).increment(1);
    metrics::histogram!(FAAS_INIT_DURATION, labels).record(init_duration.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData};
    use std::collections::BTreeMap;

    fn collect(pipeline: &MetricsPipeline) -> ResourceMetrics {
        let mut batch = ResourceMetrics::default();
        pipeline.reader.collect(&mut batch).unwrap();
        batch
    }

    fn metrics_by_name(batch: &ResourceMetrics) -> BTreeMap<String, Vec<&Metric>> {
        let mut by_name: BTreeMap<String, Vec<&Metric>> = BTreeMap::new();
        for scope in batch.scope_metrics() {
            for metric in scope.metrics() {
                by_name.entry(metric.name().to_string()).or_default().push(metric);
            }
        }
        by_name
    }

    /// The attributes of each data point of `metric`, as sorted key-value lists.
    fn point_attributes(metric: &Metric) -> Vec<Vec<(String, Value)>> {
        fn sorted<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Vec<(String, Value)> {
            let mut list: Vec<_> = attributes.map(|kv| (kv.key.to_string(), kv.value.clone())).collect();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            list
        }
        let points: Vec<_> = match metric.data() {
            AggregatedMetrics::F64(MetricData::Histogram(data)) => {
                data.data_points().map(|point| sorted(point.attributes())).collect()
            }
            AggregatedMetrics::F64(MetricData::Sum(data)) => {
                data.data_points().map(|point| sorted(point.attributes())).collect()
            }
            AggregatedMetrics::U64(MetricData::Sum(data)) => {
                data.data_points().map(|point| sorted(point.attributes())).collect()
            }
            other => panic!("{}: unexpected data {other:?}", metric.name()),
        };
        sorted_points(points)
    }

    fn sorted_points(mut points: Vec<Vec<(String, Value)>>) -> Vec<Vec<(String, Value)>> {
        points.sort_by_key(|attributes| {
            attributes.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>()
        });
        points
    }

    fn kv(key: &str, value: impl Into<Value>) -> (String, Value) {
        (key.to_string(), value.into())
    }

    #[test]
    fn one_stream_per_metric_with_its_unit_description_and_attributes() {
        let pipeline = pipeline(Resource::builder_empty().build(), Temporality::Cumulative);
        metrics::with_local_recorder(&pipeline.recorder, || {
            coldstart(Trigger::Http, Duration::from_millis(20));
            for (method, status, error) in [("GET", 200, None), ("POST", 400, None), ("POST", 503, Some("503"))] {
                active_requests(method, Some("/helloworld"), 1.0);
                active_requests(method, Some("/helloworld"), -1.0);
                request_duration(method, Some("/helloworld"), Some(status), error, Duration::from_millis(3));
                invocation(Trigger::Http, Some(method), error);
            }
            invocation(Trigger::Other, None, Some("invalid_event"));
        });
        let batch = collect(&pipeline);
        let by_name = metrics_by_name(&batch);

        let names: Vec<&str> = by_name.keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = CATALOGUE.iter().map(|definition| definition.name).collect();
        expected.sort();
        assert_eq!(names, expected, "every metric of the catalogue, no other");
        for definition in &CATALOGUE {
            let streams = &by_name[definition.name];
            assert_eq!(streams.len(), 1, "{}: one stream", definition.name);
            assert_eq!(streams[0].unit(), definition.unit, "{}", definition.name);
            assert_eq!(streams[0].description(), definition.description, "{}", definition.name);
        }

        let duration = by_name[HTTP_SERVER_REQUEST_DURATION][0];
        let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = duration.data() else {
            panic!("{duration:?}");
        };
        assert!(histogram.data_points().all(|point| point.bounds().eq(DURATION_BUCKETS.iter().copied())));
        let route = kv("http.route", "/helloworld");
        assert_eq!(
            point_attributes(duration),
            sorted_points(vec![
                vec![kv("http.request.method", "GET"), kv("http.response.status_code", 200_i64), route.clone()],
                vec![kv("http.request.method", "POST"), kv("http.response.status_code", 400_i64), route.clone()],
                vec![
                    kv("error.type", "503"),
                    kv("http.request.method", "POST"),
                    kv("http.response.status_code", 503_i64),
                    route.clone(),
                ],
            ])
        );
        let active = by_name[HTTP_SERVER_ACTIVE_REQUESTS][0];
        let AggregatedMetrics::F64(MetricData::Sum(sum)) = active.data() else { panic!("{active:?}") };
        assert!(!sum.is_monotonic(), "an up-down counter");
        assert!(sum.data_points().all(|point| point.value() == 0.0), "every request ended");
        assert_eq!(
            point_attributes(active),
            sorted_points(vec![
                vec![kv("http.request.method", "GET"), route.clone()],
                vec![kv("http.request.method", "POST"), route]
            ])
        );
        let trigger = |value: &'static str| kv("faas.trigger", value);
        assert_eq!(
            point_attributes(by_name[FAAS_INVOCATIONS][0]),
            sorted_points(vec![
                vec![trigger("http"), kv("http.request.method", "GET")],
                vec![trigger("http"), kv("http.request.method", "POST")]
            ])
        );
        assert_eq!(
            point_attributes(by_name[FAAS_ERRORS][0]),
            sorted_points(vec![
                vec![kv("error.type", "503"), trigger("http"), kv("http.request.method", "POST")],
                vec![kv("error.type", "invalid_event"), trigger("other")],
            ])
        );
        assert_eq!(point_attributes(by_name[FAAS_COLDSTARTS][0]), [vec![trigger("http")]]);
        assert_eq!(point_attributes(by_name[FAAS_INIT_DURATION][0]), [vec![trigger("http")]]);
    }

    #[test]
    fn a_gauge_set_adds_the_difference_and_unknown_names_record_nothing() {
        let pipeline = pipeline(Resource::builder_empty().build(), Temporality::Cumulative);
        metrics::with_local_recorder(&pipeline.recorder, || {
            metrics::gauge!(HTTP_SERVER_ACTIVE_REQUESTS).set(3.0);
            metrics::gauge!(HTTP_SERVER_ACTIVE_REQUESTS).set(1.0);
            metrics::counter!("not.in.the.catalogue").increment(1);
            metrics::counter!(HTTP_SERVER_ACTIVE_REQUESTS).increment(1);
        });
        let batch = collect(&pipeline);
        let by_name = metrics_by_name(&batch);
        assert_eq!(by_name.keys().collect::<Vec<_>>(), [HTTP_SERVER_ACTIVE_REQUESTS]);
        let AggregatedMetrics::F64(MetricData::Sum(sum)) = by_name[HTTP_SERVER_ACTIVE_REQUESTS][0].data() else {
            panic!()
        };
        assert_eq!(sum.data_points().map(|point| point.value()).collect::<Vec<_>>(), [1.0]);
    }
}
