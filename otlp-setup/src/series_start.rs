//! Cumulative series that start at zero where Prometheus can see it.
//!
//! A process exports a counter or histogram for the first time with whatever it counted before that export: an
//! execution environment's `faas.coldstarts` is born at 1, its `faas.invocations` at the first invocation's count.
//! Prometheus' `increase()` and `rate()` take a series' first sample as the baseline, so everything counted before
//! the first export vanishes: cold starts never show, and every new environment loses its first requests. (Prometheus 3
//! can instead insert a zero at the OTLP start time with its `created-timestamp-zero-ingestion` feature, but neither
//! remote write 1.0 nor the Prometheus of every user does.) So the first time a cumulative series is exported, a zero
//! point goes before it, stamped when the previous export went out (or at the process's start, before the first one):
//! the series was not there then, and a `rate()` window that holds the real point holds that moment too, which a zero
//! at the process's start, minutes earlier, would miss. It is at least a millisecond before the real point:
//! Prometheus keeps one sample per millisecond.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, HistogramDataPoint, NumberDataPoint};

const MILLISECOND: u64 = 1_000_000;

/// The cumulative series already exported, to add a zero point before each new one.
#[derive(Debug)]
pub struct SeriesStarts {
    seen: HashSet<(String, String)>,
    /// The process's start: every point's start time.
    since: u64,
    /// When the last export went out: a new series' zero point.
    last_export: u64,
}

/// The series a request starts, to be marked as exported once it was.
#[derive(Debug, Default)]
#[must_use = "pass it to SeriesStarts::exported once the request got through"]
pub struct NewSeries(Vec<(String, String)>);

impl SeriesStarts {
    /// Series whose counting began at `since` (the process's start).
    pub fn new(since: SystemTime) -> Self {
        let since = since.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_nanos();
        let since = u64::try_from(since).unwrap_or(u64::MAX);
        SeriesStarts { seen: HashSet::new(), since, last_export: since }
    }

    /// Puts a zero point before the first point of every cumulative sum and histogram series not yet exported in
    /// `request`, and makes every point of it start at the series' start. Returns the series it started, for
    /// [`exported`](Self::exported): a request that fails is sent again, zeros included.
    pub fn add_zero_points(&self, request: &mut ExportMetricsServiceRequest) -> NewSeries {
        let mut new = NewSeries::default();
        let cumulative = AggregationTemporality::Cumulative as i32;
        let metrics = request.resource_metrics.iter_mut().flat_map(|resource| &mut resource.scope_metrics);
        for metric in metrics.flat_map(|scope| &mut scope.metrics) {
            match &mut metric.data {
                Some(Data::Sum(sum)) if sum.aggregation_temporality == cumulative => {
                    let points = std::mem::take(&mut sum.data_points);
                    sum.data_points = self.with_zeros(&metric.name, points, number_zero, &mut new);
                }
                Some(Data::Histogram(histogram)) if histogram.aggregation_temporality == cumulative => {
                    let points = std::mem::take(&mut histogram.data_points);
                    histogram.data_points = self.with_zeros(&metric.name, points, histogram_zero, &mut new);
                }
                _ => {}
            }
        }
        new
    }

    /// Marks the series `new` started as exported, in a request sent at `at`: no more zeros for them, and a series
    /// that first appears later starts at `at`.
    pub fn exported(&mut self, new: NewSeries, at: SystemTime) {
        self.seen.extend(new.0);
        let at = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_nanos();
        self.last_export = self.last_export.max(u64::try_from(at).unwrap_or(u64::MAX));
    }

    fn with_zeros<P: Point>(&self, name: &str, points: Vec<P>, zero: fn(&P) -> P, new: &mut NewSeries) -> Vec<P> {
        let mut with_zeros = Vec::with_capacity(points.len());
        for mut point in points {
            let a_millisecond_before = point.time().saturating_sub(MILLISECOND);
            point.set_start(self.since.min(a_millisecond_before));
            let series = (name.to_string(), series_key(point.attributes()));
            if !self.seen.contains(&series) && !new.0.contains(&series) {
                new.0.push(series);
                let mut first = zero(&point);
                first.set_time(self.last_export.min(a_millisecond_before));
                with_zeros.push(first);
            }
            with_zeros.push(point);
        }
        with_zeros
    }
}

/// A data point's times and attributes, whatever its kind.
trait Point {
    fn time(&self) -> u64;
    fn set_time(&mut self, time: u64);
    fn set_start(&mut self, start: u64);
    fn attributes(&self) -> &[KeyValue];
}

/// The two kinds of point carry their times and attributes in fields of the same names.
macro_rules! point {
    ($kind:ty) => {
        impl Point for $kind {
            fn time(&self) -> u64 {
                self.time_unix_nano
            }

            fn set_time(&mut self, time: u64) {
                self.time_unix_nano = time;
            }

            fn set_start(&mut self, start: u64) {
                self.start_time_unix_nano = start;
            }

            fn attributes(&self) -> &[KeyValue] {
                &self.attributes
            }
        }
    };
}

point!(NumberDataPoint);
point!(HistogramDataPoint);

fn number_zero(point: &NumberDataPoint) -> NumberDataPoint {
    let value = match point.value {
        Some(Value::AsInt(_)) => Value::AsInt(0),
        _ => Value::AsDouble(0.0),
    };
    NumberDataPoint { value: Some(value), exemplars: Vec::new(), ..point.clone() }
}

fn histogram_zero(point: &HistogramDataPoint) -> HistogramDataPoint {
    HistogramDataPoint {
        count: 0,
        sum: point.sum.map(|_| 0.0),
        bucket_counts: vec![0; point.bucket_counts.len()],
        exemplars: Vec::new(),
        min: None,
        max: None,
        ..point.clone()
    }
}

/// The attributes of a data point as one text, the same whatever their order: a series' identity within a metric.
pub fn series_key(attributes: &[KeyValue]) -> String {
    let mut pairs: Vec<String> =
        attributes.iter().map(|pair| format!("{}={}", pair.key, any_value(pair.value.as_ref()))).collect();
    pairs.sort();
    pairs.join(",")
}

fn any_value(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
