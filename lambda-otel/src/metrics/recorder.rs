//! The `metrics` facade's recorder: every name the function records becomes an OpenTelemetry instrument.
//!
//! The recorder is installed when the telemetry is set up, so that the application's own metrics are kept from its
//! first line of code on; the OpenTelemetry instruments exist only once the metrics pipeline starts, after the first
//! invocation's response (the resource needs the account of the invoked ARN). Until then recordings wait, in order and
//! within a bound, and are replayed into the instruments when the pipeline starts.
//!
//! Kinds: a facade counter is a monotonic counter, a gauge a gauge (its last value; increments and decrements move
//! it), a histogram a histogram. A name the [catalogue](super::CATALOGUE) defines gets the catalogue's instrument, unit
//! and description; any other name is built on first use from what `metrics::describe_*!` said about it (unit,
//! description) and from the boundaries given to [`Builder::histogram_boundaries`](crate::Builder); histograms in
//! seconds get [`DURATION_BOUNDARIES`], others the SDK's defaults. A name recorded as two kinds records only as the
//! first: an instrument has one kind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, SharedString, Unit};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use otlp_setup::DURATION_BOUNDARIES;

use super::{CATALOGUE, INT_ATTRIBUTES, Kind};

/// Recordings kept while the pipeline has not started; the first invocation makes a handful, so this only bounds a
/// function that records in a loop during init.
const MAX_PENDING: usize = 4096;

/// The recorder; cheap to clone, every clone the same.
#[derive(Clone, Default)]
pub(crate) struct FacadeRecorder(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// The instruments, once the pipeline started.
    instruments: OnceLock<Instruments>,
    pending: Mutex<Pending>,
    described: Mutex<HashMap<String, (Option<Unit>, String)>>,
    boundaries: HashMap<String, Vec<f64>>,
    /// One binding per key and kind, so that a gauge's value and a counter's total outlive the handles the
    /// `metrics` macros make on each call.
    bindings: [Mutex<HashMap<Key, Arc<Binding>>>; 3],
}

#[derive(Default)]
struct Pending {
    recordings: Vec<(Arc<Binding>, Op)>,
    dropped: u64,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Increment(f64),
    Absolute(u64),
    Set(f64),
    Record(f64),
}

impl FacadeRecorder {
    /// A recorder whose histograms named in `boundaries` get those bucket boundaries.
    pub(crate) fn new(boundaries: HashMap<String, Vec<f64>>) -> Self {
        FacadeRecorder(Arc::new(Shared { boundaries, ..Shared::default() }))
    }

    /// Builds the instruments on `meter` and replays what was recorded before. Only the first call counts.
    pub(crate) fn start(&self, meter: Meter) {
        if self.0.instruments.set(Instruments { meter, built: Mutex::default() }).is_err() {
            return;
        }
        let pending = std::mem::take(&mut *self.0.pending.lock().unwrap_or_else(PoisonError::into_inner));
        for (handle, op) in pending.recordings {
            handle.apply(op);
        }
        if pending.dropped > 0 {
            tracing::warn!(dropped = pending.dropped, "metric recordings before the first invocation were dropped");
        }
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        let mut described = self.0.described.lock().unwrap_or_else(PoisonError::into_inner);
        described.insert(key.as_str().to_string(), (unit, description.to_string()));
    }

    fn handle(&self, key: &Key, kind: Kind) -> Arc<Handle> {
        let mut bindings = self.0.bindings[kind as usize].lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up before `entry`, which would copy the key (its labels) on every recording to find what is there.
        if let Some(binding) = bindings.get(key) {
            return Arc::new(Handle(binding.clone()));
        }
        let binding = Arc::new(Binding {
            shared: self.0.clone(),
            name: key.name().to_string(),
            kind,
            attributes: attributes(key),
            bound: OnceLock::new(),
            value: Mutex::new(0.0),
        });
        bindings.insert(key.clone(), binding.clone());
        Arc::new(Handle(binding))
    }
}

impl metrics::Recorder for FacadeRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &metrics::Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key, Kind::Counter))
    }

    fn register_gauge(&self, key: &Key, _metadata: &metrics::Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key, Kind::Gauge))
    }

    fn register_histogram(&self, key: &Key, _metadata: &metrics::Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key, Kind::Histogram))
    }
}

/// The facade labels as attributes, the semantic conventions' int attributes as ints.
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

/// The OpenTelemetry instruments, built on first use of each name.
struct Instruments {
    meter: Meter,
    built: Mutex<HashMap<String, Instrument>>,
}

#[derive(Clone)]
enum Instrument {
    Counter(opentelemetry::metrics::Counter<u64>),
    Gauge(opentelemetry::metrics::Gauge<f64>),
    Histogram(opentelemetry::metrics::Histogram<f64>),
}

impl Instrument {
    fn kind(&self) -> Kind {
        match self {
            Instrument::Counter(_) => Kind::Counter,
            Instrument::Gauge(_) => Kind::Gauge,
            Instrument::Histogram(_) => Kind::Histogram,
        }
    }
}

impl Instruments {
    /// The instrument `name` of `kind`; `None` if the name is already an instrument of another kind.
    fn get(&self, shared: &Shared, name: &str, kind: Kind) -> Option<Instrument> {
        let catalogued = CATALOGUE.iter().find(|definition| definition.name == name);
        if catalogued.is_some_and(|definition| definition.kind != kind) {
            return None;
        }
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(instrument) = built.get(name) {
            return (instrument.kind() == kind).then(|| instrument.clone());
        }
        let instrument = self.build(shared, name, kind);
        built.insert(name.to_string(), instrument.clone());
        Some(instrument)
    }

    fn build(&self, shared: &Shared, name: &str, kind: Kind) -> Instrument {
        let (unit, description) = describe(shared, name);
        let name = name.to_string();
        match kind {
            Kind::Counter => {
                Instrument::Counter(self.meter.u64_counter(name).with_unit(unit).with_description(description).build())
            }
            Kind::Gauge => {
                Instrument::Gauge(self.meter.f64_gauge(name).with_unit(unit).with_description(description).build())
            }
            Kind::Histogram => {
                let boundaries = shared.boundaries.get(&name).cloned().or_else(|| match unit.as_str() {
                    "s" => Some(DURATION_BOUNDARIES.to_vec()),
                    "ms" => Some(DURATION_BOUNDARIES.iter().map(|seconds| seconds * 1e3).collect()),
                    _ => None,
                });
                let builder = self.meter.f64_histogram(name).with_unit(unit).with_description(description);
                let builder = match boundaries {
                    Some(boundaries) => builder.with_boundaries(boundaries),
                    None => builder,
                };
                Instrument::Histogram(builder.build())
            }
        }
    }
}

/// The unit (UCUM, as OpenTelemetry writes it) and description of `name`: the catalogue's, else what the application
/// described, else none.
fn describe(shared: &Shared, name: &str) -> (String, String) {
    if let Some(definition) = CATALOGUE.iter().find(|definition| definition.name == name) {
        return (definition.unit.to_string(), definition.description.to_string());
    }
    let described = shared.described.lock().unwrap_or_else(PoisonError::into_inner);
    let Some((unit, description)) = described.get(name) else { return (String::new(), String::new()) };
    (unit.map(ucum).unwrap_or_default().to_string(), description.clone())
}

/// The facade's unit in the UCUM notation OpenTelemetry uses.
fn ucum(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "1",
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Tebibytes => "TiBy",
        Unit::Gibibytes => "GiBy",
        Unit::Mebibytes => "MiBy",
        Unit::Kibibytes => "KiBy",
        Unit::Bytes => "By",
        Unit::TerabitsPerSecond => "Tbit/s",
        Unit::GigabitsPerSecond => "Gbit/s",
        Unit::MegabitsPerSecond => "Mbit/s",
        Unit::KilobitsPerSecond => "kbit/s",
        Unit::BitsPerSecond => "bit/s",
        Unit::CountPerSecond => "1/s",
    }
}

/// One facade handle: what the application holds.
struct Handle(Arc<Binding>);

/// A name, a kind and attributes, bound to its instrument once there is one.
struct Binding {
    shared: Arc<Shared>,
    name: String,
    kind: Kind,
    attributes: Vec<KeyValue>,
    /// The instrument, or `None` when the name is an instrument of another kind.
    bound: OnceLock<Option<Instrument>>,
    /// A counter's total or a gauge's value: what `absolute` and `increment` start from.
    value: Mutex<f64>,
}

impl Handle {
    /// Applies `op` now if the instruments exist, else keeps it for [`FacadeRecorder::start`].
    fn record(&self, op: Op) {
        let shared = &self.0.shared;
        if shared.instruments.get().is_some() {
            self.0.apply(op);
            return;
        }
        let mut pending = shared.pending.lock().unwrap_or_else(PoisonError::into_inner);
        // The pipeline may have started while this waited for the lock; then nobody would replay the recording.
        if shared.instruments.get().is_some() {
            drop(pending);
            self.0.apply(op);
        } else if pending.recordings.len() < MAX_PENDING {
            pending.recordings.push((self.0.clone(), op));
        } else {
            pending.dropped += 1;
        }
    }
}

impl Binding {
    fn apply(&self, op: Op) {
        let Some(instruments) = self.shared.instruments.get() else { return };
        let bound = self.bound.get_or_init(|| instruments.get(&self.shared, &self.name, self.kind));
        let Some(instrument) = bound else { return };
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        match (instrument, op) {
            (Instrument::Counter(counter), Op::Increment(delta)) => {
                *value += delta;
                counter.add(delta as u64, &self.attributes);
            }
            // A monotonic counter cannot go down: a lower absolute value is ignored.
            (Instrument::Counter(counter), Op::Absolute(total)) if total as f64 > *value => {
                counter.add(total - *value as u64, &self.attributes);
                *value = total as f64;
            }
            (Instrument::Gauge(gauge), Op::Increment(delta)) => {
                *value += delta;
                gauge.record(*value, &self.attributes);
            }
            (Instrument::Gauge(gauge), Op::Set(new)) => {
                *value = new;
                gauge.record(new, &self.attributes);
            }
            (Instrument::Histogram(histogram), Op::Record(sample)) => histogram.record(sample, &self.attributes),
            _ => {}
        }
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.record(Op::Increment(value as f64));
    }

    fn absolute(&self, value: u64) {
        self.record(Op::Absolute(value));
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        self.record(Op::Increment(value));
    }

    fn decrement(&self, value: f64) {
        self.record(Op::Increment(-value));
    }

    fn set(&self, value: f64) {
        self.record(Op::Set(value));
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        Handle::record(self, Op::Record(value));
    }
}
