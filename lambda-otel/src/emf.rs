//! Per-method metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout: Lambda sends the function's stdout to
//! CloudWatch Logs, which extracts the metrics from the lines. No exporter, connection or API call: a line costs one
//! `write`.
//!
//! Invocations are grouped by method and status class. A group's line carries its requests, every duration (as an
//! array, so that CloudWatch computes percentiles from the values themselves), its errors and its cold starts:
//!
//! - directive A, dimensions `[Service, Method, StatusClass]`: `Requests` (Count), `Duration` (Milliseconds);
//! - directive B, dimensions `[Service, Method]`: `Errors` (Count), `ColdStarts` (Count), in every line, zeros
//!   included, so that an alarm on them sees data rather than a gap.
//!
//! A group is written on the metrics pacing schedule (after an invocation when the previous paced write is at least
//! `LAMBDA_OTEL_METRICS_INTERVAL_MS` old), at shutdown, when it holds [`MAX_VALUES`] durations (the specification's
//! bound on an array), and before a recording in a later minute than the group's first: `_aws.Timestamp` is the
//! group's first recording, and CloudWatch puts all of a line's values in that timestamp's minute.
//!
//! Recording costs a clock read, a lock and a push: the groups are a fixed table (every known method times five
//! classes), each group's buffer is allocated once for [`MAX_VALUES`] values, and the line is formatted into a buffer
//! that is reused. Writing is one `write_all` of one line, whose failure is ignored: metrics never fail an invocation.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::invocation::{KNOWN_METHODS, OTHER_METHOD};

/// The most durations one line carries: an EMF metric's array holds at most 100 values.
pub(crate) const MAX_VALUES: usize = 100;

/// The status classes, `StatusClass` values.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The groups: each known method and [`OTHER_METHOD`], times each status class.
const GROUPS: usize = (KNOWN_METHODS.len() + 1) * STATUS_CLASSES.len();

/// A metric directive of every line.
struct Directive {
    dimensions: &'static [&'static str],
    /// Names and units.
    metrics: &'static [(&'static str, &'static str)],
}

const DIRECTIVES: [Directive; 2] = [
    Directive {
        dimensions: &["Service", "Method", "StatusClass"],
        metrics: &[("Requests", "Count"), ("Duration", "Milliseconds")],
    },
    Directive { dimensions: &["Service", "Method"], metrics: &[("Errors", "Count"), ("ColdStarts", "Count")] },
];

/// One invocation of an HTTP request, as the EMF metrics count it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Invocation<'a> {
    /// `http.request.method`: a known method or [`OTHER_METHOD`].
    pub(crate) method: &'a str,
    /// The response's status; none when the handler never answered (API Gateway then answers 502, so the class is
    /// `5xx`).
    pub(crate) status: Option<u16>,
    /// Counted in `Errors`: a 5xx or a failed invocation, as `faas.errors` counts them.
    pub(crate) failed: bool,
    pub(crate) coldstart: bool,
    /// As recorded for `http.server.request.duration`.
    pub(crate) duration: Duration,
}

/// The EMF metrics of one process.
pub(crate) struct Emf {
    state: Mutex<State>,
}

struct State {
    groups: Vec<Group>,
    line: Line,
    /// When the groups were last written by [`Emf::write_paced`] (or at all, if it has not written yet).
    written_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct Group {
    /// `_aws.Timestamp`: ms since the epoch of the group's first recording.
    first_ms: u64,
    /// In microseconds: a u32 holds more than Lambda's 15-minute limit.
    durations: Vec<u32>,
    errors: u32,
    coldstarts: u32,
}

impl Group {
    fn is_empty(&self) -> bool {
        self.durations.is_empty()
    }

    fn clear(&mut self) {
        self.durations.clear();
        self.errors = 0;
        self.coldstarts = 0;
    }
}

/// Formats and writes lines.
struct Line {
    /// What follows the timestamp up to the method: the directives and the service, the same in every line.
    directives: String,
    buffer: String,
    output: Box<dyn Write + Send>,
}

impl Emf {
    /// EMF lines in `namespace`, with `service` as the `Service` dimension, written to `output` (stdout, except in
    /// tests), which must not buffer across lines.
    pub(crate) fn new(namespace: &str, service: &str, output: Box<dyn Write + Send>) -> Self {
        let text = |value: &str| serde_json::Value::from(value).to_string();
        let mut directives = String::from(r#","CloudWatchMetrics":["#);
        for (index, Directive { dimensions, metrics }) in DIRECTIVES.iter().enumerate() {
            let dimensions: Vec<String> = dimensions.iter().map(|name| text(name)).collect();
            let metrics: Vec<String> = metrics
                .iter()
                .map(|(name, unit)| format!(r#"{{"Name":{},"Unit":{}}}"#, text(name), text(unit)))
                .collect();
            let separator = if index > 0 { "," } else { "" };
            let _ = write!(
                directives,
                r#"{separator}{{"Namespace":{},"Dimensions":[[{}]],"Metrics":[{}]}}"#,
                text(namespace),
                dimensions.join(","),
                metrics.join(",")
            );
        }
        let _ = write!(directives, r#"]}},"Service":{}"#, text(service));
        let line = Line { directives, buffer: String::new(), output };
        let groups = (0..GROUPS).map(|_| Group::default()).collect();
        Emf { state: Mutex::new(State { groups, line, written_at: None }) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves at worst a group's counts off by one invocation.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `invocation` to its group, now.
    pub(crate) fn record(&self, invocation: &Invocation<'_>) {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
        self.record_at(invocation, now_ms);
    }

    /// Adds `invocation` to its group at `now_ms` (since the epoch), writing the group first if it began in an earlier
    /// minute, and after if it is full.
    fn record_at(&self, invocation: &Invocation<'_>, now_ms: u64) {
        let index = group_index(invocation.method, invocation.status);
        let mut state = self.lock();
        let State { groups, line, .. } = &mut *state;
        let group = &mut groups[index];
        if !group.is_empty() && group.first_ms / 60_000 != now_ms / 60_000 {
            line.write(index, group);
        }
        if group.is_empty() {
            group.first_ms = now_ms;
            // Once per group for the life of the process: pushes never reallocate.
            group.durations.reserve_exact(MAX_VALUES);
        }
        let micros = invocation.duration.as_micros().min(u128::from(u32::MAX)) as u32;
        group.durations.push(micros);
        group.errors += u32::from(invocation.failed);
        group.coldstarts += u32::from(invocation.coldstart);
        if group.durations.len() >= MAX_VALUES {
            line.write(index, group);
        }
    }

    /// Writes every group that holds values if the previous paced write is at least `interval` older than `now`.
    pub(crate) fn write_paced(&self, now: Instant, interval: Duration) {
        let mut state = self.lock();
        if state.written_at.is_some_and(|at| now.saturating_duration_since(at) < interval) {
            return;
        }
        if state.write_groups() {
            state.written_at = Some(now);
        }
    }

    /// Writes every group that holds values, whatever the pacing: at shutdown.
    pub(crate) fn write_all(&self) {
        self.lock().write_groups();
    }
}

impl State {
    /// Writes every group that holds values; returns whether there was one.
    fn write_groups(&mut self) -> bool {
        let mut wrote = false;
        for (index, group) in self.groups.iter_mut().enumerate() {
            if !group.is_empty() {
                self.line.write(index, group);
                wrote = true;
            }
        }
        wrote
    }
}

impl Line {
    /// Writes the line of the group at `index` and empties the group.
    fn write(&mut self, index: usize, group: &mut Group) {
        let (method, class) = group_key(index);
        let line = &mut self.buffer;
        line.clear();
        // Writing to a String cannot fail.
        let _ = write!(line, r#"{{"_aws":{{"Timestamp":{}"#, group.first_ms);
        line.push_str(&self.directives);
        // The method and class are ASCII names of this module's tables: nothing to escape.
        let _ = write!(
            line,
            r#","Method":"{method}","StatusClass":"{class}","Requests":{},"Duration":["#,
            group.durations.len()
        );
        for (position, micros) in group.durations.iter().enumerate() {
            let separator = if position > 0 { "," } else { "" };
            let _ = write!(line, "{separator}{}.{:03}", micros / 1000, micros % 1000);
        }
        let _ = writeln!(line, r#"],"Errors":{},"ColdStarts":{}}}"#, group.errors, group.coldstarts);
        // One write of the whole line, so that it reaches the log as one event, never interleaved with a log line
        // (both are below PIPE_BUF). A failed write loses the group's counts, never the invocation.
        let _ = self.output.write_all(line.as_bytes());
        group.clear();
    }
}

/// The group of an invocation of `method` answered with `status`.
fn group_index(method: &str, status: Option<u16>) -> usize {
    let method = KNOWN_METHODS.iter().position(|known| *known == method).unwrap_or(KNOWN_METHODS.len());
    // No answer, or a status outside 100-599 (API Gateway answers 502 for both): 5xx.
    let class = match status {
        Some(status @ 100..=599) => usize::from(status / 100) - 1,
        _ => STATUS_CLASSES.len() - 1,
    };
    method * STATUS_CLASSES.len() + class
}

/// The method and status class of the group at `index`.
fn group_key(index: usize) -> (&'static str, &'static str) {
    let method = KNOWN_METHODS.get(index / STATUS_CLASSES.len()).copied().unwrap_or(OTHER_METHOD);
    (method, STATUS_CLASSES[index % STATUS_CLASSES.len()])
}

#[cfg(test)]
mod tests;
