use std::collections::{BTreeMap, HashMap};

use metrics::Unit;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData};
use otlp_setup::DURATION_BOUNDARIES;

use super::*;

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
        AggregatedMetrics::U64(MetricData::Sum(data)) => {
            data.data_points().map(|point| sorted(point.attributes())).collect()
        }
        other => panic!("{}: unexpected data {other:?}", metric.name()),
    };
    sorted_points(points)
}

fn sorted_points(mut points: Vec<Vec<(String, Value)>>) -> Vec<Vec<(String, Value)>> {
    points.sort_by_key(|attributes| attributes.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>());
    points
}

fn kv(key: &str, value: impl Into<Value>) -> (String, Value) {
    (key.to_string(), value.into())
}

/// A pipeline and its recorder, the recorder this thread's.
fn started(boundaries: HashMap<String, Vec<f64>>) -> (MetricsPipeline, FacadeRecorder) {
    let recorder = FacadeRecorder::new(boundaries);
    let pipeline = pipeline(Resource::builder_empty().build(), Temporality::Cumulative, &recorder);
    (pipeline, recorder)
}

#[test]
fn one_stream_per_metric_with_its_unit_description_and_attributes() {
    let (pipeline, recorder) = started(HashMap::new());
    metrics::with_local_recorder(&recorder, || {
        coldstart(Trigger::Http, Duration::from_millis(20));
        for (method, status, error) in [("GET", 200, None), ("POST", 400, None), ("POST", 503, Some("503"))] {
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

    for name in [HTTP_SERVER_REQUEST_DURATION, FAAS_INIT_DURATION] {
        let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = by_name[name][0].data() else {
            panic!("{name}")
        };
        assert!(histogram.data_points().all(|point| point.bounds().eq(DURATION_BOUNDARIES.iter().copied())), "{name}");
    }
    let route = kv("http.route", "/helloworld");
    assert_eq!(
        point_attributes(by_name[HTTP_SERVER_REQUEST_DURATION][0]),
        sorted_points(vec![
            vec![kv("http.request.method", "GET"), kv("http.response.status_code", 200_i64), route.clone()],
            vec![kv("http.request.method", "POST"), kv("http.response.status_code", 400_i64), route.clone()],
            vec![
                kv("error.type", "503"),
                kv("http.request.method", "POST"),
                kv("http.response.status_code", 503_i64),
                route,
            ],
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
fn the_applications_own_metrics_are_exported_with_what_it_described() {
    let boundaries = HashMap::from([("greeting.length".to_string(), vec![10.0, 20.0, 40.0])]);
    let (pipeline, recorder) = started(boundaries);
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("greetings", Unit::Count, "Greetings written.");
        metrics::describe_histogram!("greeting.work", Unit::Seconds, "Time spent on a greeting.");
        metrics::counter!("greetings", "city" => "Seattle").increment(2);
        metrics::counter!("greetings", "city" => "Seattle").increment(1);
        metrics::histogram!("greeting.work").record(0.000_2);
        metrics::histogram!("greeting.length").record(33.0);
        metrics::histogram!("greeting.bytes").record(33.0);
        metrics::gauge!("queue.depth").increment(3.0);
        metrics::gauge!("queue.depth").decrement(1.0);
    });
    let batch = collect(&pipeline);
    let by_name = metrics_by_name(&batch);

    let greetings = by_name["greetings"][0];
    assert_eq!((greetings.unit(), greetings.description()), ("1", "Greetings written."));
    let AggregatedMetrics::U64(MetricData::Sum(sum)) = greetings.data() else { panic!("{greetings:?}") };
    assert!(sum.is_monotonic());
    assert_eq!(sum.data_points().map(|point| point.value()).collect::<Vec<_>>(), [3]);
    assert_eq!(point_attributes(greetings), [vec![kv("city", "Seattle")]]);

    let bounds = |name: &str| {
        let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = by_name[name][0].data() else {
            panic!("{name}")
        };
        histogram.data_points().next().unwrap().bounds().collect::<Vec<_>>()
    };
    assert_eq!(by_name["greeting.work"][0].unit(), "s");
    assert_eq!(bounds("greeting.work"), DURATION_BOUNDARIES, "seconds resolve 50 µs to 30 s");
    assert_eq!(bounds("greeting.length"), [10.0, 20.0, 40.0], "the boundaries the function gave");
    assert_ne!(bounds("greeting.bytes"), DURATION_BOUNDARIES, "not a duration: the SDK's defaults");

    let AggregatedMetrics::F64(MetricData::Gauge(gauge)) = by_name["queue.depth"][0].data() else { panic!() };
    assert_eq!(gauge.data_points().map(|point| point.value()).collect::<Vec<_>>(), [2.0], "a gauge that moves");
}

#[test]
fn what_is_recorded_before_the_pipeline_starts_is_kept_in_order() {
    let recorder = FacadeRecorder::default();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("early").increment(1);
        metrics::gauge!("level").set(5.0);
        metrics::gauge!("level").decrement(2.0);
    });
    let pipeline = pipeline(Resource::builder_empty().build(), Temporality::Cumulative, &recorder);
    metrics::with_local_recorder(&recorder, || metrics::counter!("early").increment(1));
    let batch = collect(&pipeline);
    let by_name = metrics_by_name(&batch);
    let AggregatedMetrics::U64(MetricData::Sum(early)) = by_name["early"][0].data() else { panic!() };
    assert_eq!(early.data_points().map(|point| point.value()).collect::<Vec<_>>(), [2]);
    let AggregatedMetrics::F64(MetricData::Gauge(level)) = by_name["level"][0].data() else { panic!() };
    assert_eq!(level.data_points().map(|point| point.value()).collect::<Vec<_>>(), [3.0]);
}

#[test]
fn a_name_records_as_one_kind_only() {
    let (pipeline, recorder) = started(HashMap::new());
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("jobs").increment(1);
        metrics::gauge!("jobs").set(7.0);
        metrics::histogram!(FAAS_INVOCATIONS).record(1.0);
    });
    let batch = collect(&pipeline);
    let by_name = metrics_by_name(&batch);
    assert_eq!(by_name.keys().collect::<Vec<_>>(), ["jobs"], "the catalogue's counter is not a histogram");
    assert_eq!(by_name["jobs"].len(), 1);
    assert!(matches!(by_name["jobs"][0].data(), AggregatedMetrics::U64(MetricData::Sum(_))));
}

#[test]
fn at_most_4096_recordings_wait_for_the_pipeline() {
    let recorder = FacadeRecorder::default();
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..4100 {
            metrics::counter!("early").increment(1);
        }
    });
    let pipeline = pipeline(Resource::builder_empty().build(), Temporality::Cumulative, &recorder);
    let batch = collect(&pipeline);
    let by_name = metrics_by_name(&batch);
    let AggregatedMetrics::U64(MetricData::Sum(early)) = by_name["early"][0].data() else { panic!() };
    assert_eq!(early.data_points().map(|point| point.value()).collect::<Vec<_>>(), [4096], "the rest dropped, counted");
}
