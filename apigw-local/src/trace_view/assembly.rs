//! Spans gathered by trace into requests ready to be shown.
//!
//! The gateway's spans end in this process when it answers; the function's arrive over OTLP right after its response
//! (the function exports before it asks for its next event), so a few milliseconds before or after the gateway's. A
//! trace is complete once the gateway's SERVER span has ended and each `Lambda.Invoke` span that ran the function has
//! a child from the function. A trace that is not complete [`GRACE`] after its last span arrived is shown with what it
//! has, saying what is missing: a function that crashed or timed out exports nothing, and spans of a request shown
//! already (a function whose exports were held back) arrive on their own.
//!
//! Bounded: at most [`MAX_PENDING`] traces wait (a new one shows the oldest as it is), none longer than [`MAX_WAIT`],
//! each with at most [`MAX_SPANS`] spans (the rest are counted).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry::trace::TraceId;

use super::model::{Kind, Source, Span};

/// How long a trace waits for more spans after its last one arrived.
pub(crate) const GRACE: Duration = Duration::from_millis(500);

/// The longest a trace waits, however its spans keep coming (a client that sends the same trace id with every request).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(10);

/// The most traces that wait at once: about a second of requests at the rate one function process serves.
pub(crate) const MAX_PENDING: usize = 1024;

/// The most spans kept of one trace.
pub(crate) const MAX_SPANS: usize = 512;

/// The gateway's CLIENT span around an invocation (docs/telemetry.md): the function's SERVER span is its child.
const INVOKE_SPAN: &str = "Lambda.Invoke";

/// A `Lambda.Invoke` span's `error.type` when the function cannot have exported anything for it: it was never run,
/// or its process was replaced for overrunning the timeout.
const NOTHING_EXPORTED: [&str; 2] = ["service_error", "timeout"];

/// What a trace shown before it was complete lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// The gateway's request ended, the function's spans did not arrive.
    Function,
    /// Spans without the gateway's request: they arrived after it was shown, or it was never traced here.
    Gateway,
}

/// A trace to show.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trace {
    pub(crate) trace_id: TraceId,
    /// In arrival order.
    pub(crate) spans: Vec<Span>,
    pub(crate) missing: Option<Missing>,
    /// Spans over [`MAX_SPANS`], not kept.
    pub(crate) dropped_spans: usize,
}

/// The traces waiting to be complete.
#[derive(Debug)]
pub(crate) struct Assembly {
    pending: HashMap<TraceId, Pending>,
    /// Whether the gateway runs the function itself: with `--invoke-url` its spans go wherever its own configuration
    /// says, and a request is complete once the gateway's spans have ended.
    expect_function_spans: bool,
}

#[derive(Debug)]
struct Pending {
    spans: Vec<Span>,
    dropped_spans: usize,
    first_seen: Instant,
    deadline: Instant,
}

impl Assembly {
    pub(crate) fn new(expect_function_spans: bool) -> Self {
        Self { pending: HashMap::new(), expect_function_spans }
    }

    /// Adds spans that arrived at `now`. Returns the traces they completed, and any shown early to make room.
    pub(crate) fn add(&mut self, spans: impl IntoIterator<Item = Span>, now: Instant) -> Vec<Trace> {
        let mut shown = Vec::new();
        let mut touched = Vec::new();
        for span in spans {
            let trace_id = span.trace_id;
            if !self.pending.contains_key(&trace_id) && self.pending.len() >= MAX_PENDING {
                shown.extend(self.oldest().and_then(|oldest| self.take(oldest)));
            }
            let pending = self.pending.entry(trace_id).or_insert_with(|| Pending {
                spans: Vec::new(),
                dropped_spans: 0,
                first_seen: now,
                deadline: now,
            });
            if pending.spans.len() < MAX_SPANS {
                pending.spans.push(span);
            } else {
                pending.dropped_spans += 1;
            }
            pending.deadline = (now + GRACE).min(pending.first_seen + MAX_WAIT);
            if !touched.contains(&trace_id) {
                touched.push(trace_id);
            }
        }
        for trace_id in touched {
            let complete = self.pending.get(&trace_id).is_some_and(|pending| self.missing(pending).is_none());
            if complete {
                shown.extend(self.take(trace_id));
            }
        }
        shown
    }

    /// The traces whose wait is over at `now`, as they are.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Trace> {
        let mut due: Vec<(Instant, TraceId)> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.deadline <= now)
            .map(|(trace_id, pending)| (pending.first_seen, *trace_id))
            .collect();
        due.sort_by_key(|(first_seen, _)| *first_seen);
        due.into_iter().filter_map(|(_, trace_id)| self.take(trace_id)).collect()
    }

    /// Every trace still waiting, oldest first (when the gateway stops).
    pub(crate) fn drain(&mut self) -> Vec<Trace> {
        let mut all: Vec<(Instant, TraceId)> =
            self.pending.iter().map(|(trace_id, pending)| (pending.first_seen, *trace_id)).collect();
        all.sort_by_key(|(first_seen, _)| *first_seen);
        all.into_iter().filter_map(|(_, trace_id)| self.take(trace_id)).collect()
    }

    /// When the next wait is over, if a trace is waiting.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|pending| pending.deadline).min()
    }

    fn oldest(&self) -> Option<TraceId> {
        self.pending.iter().min_by_key(|(_, pending)| pending.first_seen).map(|(trace_id, _)| *trace_id)
    }

    fn take(&mut self, trace_id: TraceId) -> Option<Trace> {
        let pending = self.pending.remove(&trace_id)?;
        let missing = self.missing(&pending);
        Some(Trace { trace_id, spans: pending.spans, missing, dropped_spans: pending.dropped_spans })
    }

    /// What the trace still waits for; `None` when it is complete.
    fn missing(&self, pending: &Pending) -> Option<Missing> {
        let from_gateway = |span: &&Span| span.source == Source::Gateway;
        if !pending.spans.iter().filter(from_gateway).any(|span| span.kind == Kind::Server) {
            return Some(Missing::Gateway);
        }
        if !self.expect_function_spans {
            return None;
        }
        let answered = |invoke: &Span| {
            pending.spans.iter().any(|span| span.source == Source::Function && span.parent_id == Some(invoke.span_id))
        };
        let mut awaited = pending.spans.iter().filter(from_gateway).filter(|span| {
            let error_type = span.attribute("error.type").and_then(|value| value.as_str());
            span.name == INVOKE_SPAN && !error_type.is_some_and(|error_type| NOTHING_EXPORTED.contains(&error_type))
        });
        if awaited.all(answered) { None } else { Some(Missing::Function) }
    }
}
