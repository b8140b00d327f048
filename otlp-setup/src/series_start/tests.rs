use opentelemetry_proto::tonic::metrics::v1::{Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum};

use super::*;

const SINCE: u64 = 1_800_000_000_000_000_000;

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }),
        ..KeyValue::default()
    }
}

fn count(method: &str, value: i64, time: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![attribute("http.request.method", method)],
        time_unix_nano: time,
        start_time_unix_nano: time - 100,
        value: Some(Value::AsInt(value)),
        ..NumberDataPoint::default()
    }
}

fn request(time: u64, temporality: AggregationTemporality) -> ExportMetricsServiceRequest {
    let sum = Metric {
        name: "faas.invocations".into(),
        data: Some(Data::Sum(Sum {
            data_points: vec![count("GET", 3, time), count("POST", 1, time)],
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Metric::default()
    };
    let histogram = Metric {
        name: "http.server.request.duration".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![attribute("http.request.method", "GET")],
                time_unix_nano: time,
                count: 3,
                sum: Some(0.0006),
                bucket_counts: vec![1, 2, 0],
                explicit_bounds: vec![0.0001, 0.0002],
                min: Some(0.0001),
                max: Some(0.0002),
                ..HistogramDataPoint::default()
            }],
            aggregation_temporality: temporality as i32,
        })),
        ..Metric::default()
    };
    let gauge = Metric {
        name: "queue.depth".into(),
        data: Some(Data::Gauge(Gauge { data_points: vec![count("GET", 2, time)] })),
        ..Metric::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics: vec![sum, histogram, gauge], ..ScopeMetrics::default() }],
            ..ResourceMetrics::default()
        }],
    }
}

fn metrics(request: &ExportMetricsServiceRequest) -> &[Metric] {
    &request.resource_metrics[0].scope_metrics[0].metrics
}

#[test]
fn the_first_export_of_each_cumulative_series_starts_with_a_zero_at_the_series_start() {
    let since = UNIX_EPOCH + Duration::from_nanos(SINCE);
    let mut starts = SeriesStarts::new(since);
    let time = SINCE + 3 * MILLISECOND;
    let mut first = request(time, AggregationTemporality::Cumulative);
    let new = starts.add_zero_points(&mut first);
    let mut again = request(time, AggregationTemporality::Cumulative);
    let _ = starts.add_zero_points(&mut again);
    assert_eq!(again, first, "until the first request got through, the zeros go with every retry");
    starts.exported(new, UNIX_EPOCH + Duration::from_nanos(time));

    let Some(Data::Sum(sum)) = &metrics(&first)[0].data else { panic!() };
    let values: Vec<_> = sum.data_points.iter().map(|point| (point.time_unix_nano, point.value)).collect();
    assert_eq!(
        values,
        [
            (SINCE, Some(Value::AsInt(0))),
            (time, Some(Value::AsInt(3))),
            (SINCE, Some(Value::AsInt(0))),
            (time, Some(Value::AsInt(1)))
        ]
    );
    assert!(sum.data_points.iter().all(|point| point.start_time_unix_nano == SINCE));
    let Some(Data::Histogram(histogram)) = &metrics(&first)[1].data else { panic!() };
    let zero = &histogram.data_points[0];
    assert_eq!(
        (zero.count, zero.sum, zero.bucket_counts.as_slice(), zero.time_unix_nano),
        (0, Some(0.0), &[0, 0, 0][..], SINCE)
    );
    assert_eq!((zero.min, zero.max), (None, None));
    assert_eq!(histogram.data_points[1].count, 3);
    let Some(Data::Gauge(gauge)) = &metrics(&first)[2].data else { panic!() };
    assert_eq!(gauge.data_points.len(), 1, "a gauge has no baseline to miss");

    let mut second = request(time + 1000 * MILLISECOND, AggregationTemporality::Cumulative);
    let new = starts.add_zero_points(&mut second);
    starts.exported(new, UNIX_EPOCH + Duration::from_nanos(time + 1000 * MILLISECOND));
    let Some(Data::Sum(sum)) = &metrics(&second)[0].data else { panic!() };
    assert_eq!(sum.data_points.len(), 2, "a zero only before a series' first point");
    assert!(sum.data_points.iter().all(|point| point.start_time_unix_nano == SINCE), "the series' start stays");

    // A series that first appears later starts when the previous export went out, not at the process's start.
    let later = time + 5000 * MILLISECOND;
    let mut third = request(later, AggregationTemporality::Cumulative);
    if let Some(Data::Sum(sum)) = &mut third.resource_metrics[0].scope_metrics[0].metrics[0].data {
        sum.data_points.push(count("PATCH", 1, later));
    }
    let _ = starts.add_zero_points(&mut third);
    let Some(Data::Sum(sum)) = &metrics(&third)[0].data else { panic!() };
    let patch: Vec<_> =
        sum.data_points.iter().filter(|point| series_key(&point.attributes).contains("PATCH")).collect();
    let times: Vec<u64> = patch.iter().map(|point| point.time_unix_nano).collect();
    assert_eq!(times, [time + 1000 * MILLISECOND, later], "zero at the previous export, then the point");
}

#[test]
fn the_zero_is_a_millisecond_before_a_point_that_comes_sooner_and_delta_series_are_left_alone() {
    let starts = SeriesStarts::new(UNIX_EPOCH + Duration::from_nanos(SINCE));
    let time = SINCE + 10;
    let mut soon = request(time, AggregationTemporality::Cumulative);
    let _ = starts.add_zero_points(&mut soon);
    let Some(Data::Sum(sum)) = &metrics(&soon)[0].data else { panic!() };
    assert_eq!(sum.data_points[0].time_unix_nano, time - MILLISECOND, "Prometheus keeps one sample per millisecond");

    let mut delta = request(time, AggregationTemporality::Delta);
    let _ = SeriesStarts::new(UNIX_EPOCH).add_zero_points(&mut delta);
    assert_eq!(delta, request(time, AggregationTemporality::Delta));
}
