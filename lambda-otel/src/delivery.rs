//! Delivery shaped for Lambda: nothing is exported in the background, everything in [`Delivery::flush`].
//!
//! Lambda freezes the process between invocations, so a background exporter thread would be frozen mid-export and
//! wake up to timeouts; the SDK's batch processor and periodic reader also run exporters on threads without a tokio
//! reactor. Instead, ended spans wait in a bounded in-memory [`SpanBuffer`], metrics wait in the
//! SDK's aggregation (read with a `ManualReader`), and the invocation layer calls [`Delivery::flush`] on the function's
//! own tokio runtime after each response is posted and before the next event is fetched.
//!
//! What a flush may cost is bounded three ways: the whole flush runs under a deadline (the flush timeout), the
//! exporters do not retry (what failed stays buffered and goes with the next flush), and after a failure that
//! signal's exports are skipped with an exponential [`Backoff`], so a dead or hanging collector costs nearly nothing
//! per invocation while spans keep buffering up to the bound. Traces and metrics each have their own backoff: one
//! signal's dead endpoint does not hold back the other's data.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use opentelemetry::Context;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{ManualReader, Temporality};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use otlp_setup::opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlp_setup::{ExporterConfig, MetricsClient, SeriesStarts};
use tokio::time::{Instant, timeout_at};

use crate::exemplars::Exemplars;
use crate::settings::Settings;
use crate::xray::XRay;

/// The most ended spans kept while they cannot be exported; beyond it the oldest are dropped (and counted). At a few
/// spans per invocation this is hundreds of invocations, well beyond the longest backoff at any realistic rate of
/// requests for one execution environment, in a few MB at most.
pub(crate) const SPAN_BUFFER_CAPACITY: usize = 2048;

/// The time the last flush, at shutdown, may take: Lambda gives a runtime with an internal extension 500 ms after
/// SIGTERM before it kills the process.
pub(crate) const FINAL_FLUSH_LIMIT: Duration = Duration::from_millis(400);

/// The first pause after a failed flush; each further failure doubles it up to [`MAX_BACKOFF`]. Short, because one
/// failure is often one late answer: at a thousand invocations a second, a 1 s first pause filled the span buffer and
/// dropped spans after a single missed deadline on a loaded machine. A dead collector costs a few more deadlines in its
/// first seconds for it (at 0.1, 0.3, 0.7, 1.5 s, ...), then the pauses are as long.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between two attempts at a collector that keeps failing.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Delta metric batches kept while they cannot be exported. Each failure keeps one and backoff makes failures rare,
/// so this covers minutes of a collector outage (the 12th failure comes about 3 minutes into one).
const DELTA_BATCHES_KEPT: usize = 12;

/// Ended spans waiting for the next flush, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct SpanBuffer {
    capacity: usize,
    state: Mutex<Buffered>,
}

#[derive(Debug, Default)]
struct Buffered {
    spans: VecDeque<SpanData>,
    dropped: u64,
}

impl SpanBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        SpanBuffer { capacity, state: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Buffered> {
        // A panic elsewhere while the lock was held leaves a consistent queue: spans are pushed or popped whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `span` for the next flush, dropping the oldest span if the buffer is full: the newest spans describe the
    /// state the collector will want to see when it is back.
    pub(crate) fn push(&self, span: SpanData) {
        let mut state = self.lock();
        if state.spans.len() >= self.capacity {
            state.spans.pop_front();
            state.dropped += 1;
        }
        state.spans.push_back(span);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().spans.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many spans were dropped since the last call.
    pub(crate) fn take_dropped(&self) -> u64 {
        std::mem::take(&mut self.lock().dropped)
    }

    pub(crate) fn take(&self) -> Vec<SpanData> {
        self.lock().spans.drain(..).collect()
    }

    /// Puts back a batch that could not be exported, ahead of the spans that ended since (it is older), within the
    /// bound.
    fn restore(&self, batch: Vec<SpanData>) {
        let mut state = self.lock();
        // At most `batch.len()`: the buffer itself never holds more than `capacity`.
        let excess = (batch.len() + state.spans.len()).saturating_sub(self.capacity);
        state.dropped += excess as u64;
        for span in batch.into_iter().skip(excess).rev() {
            state.spans.push_front(span);
        }
    }
}

/// The tracer provider's only span processor: keeps sampled spans until [`Delivery::flush`], in a [`SpanBuffer`] for
/// each trace exporter `OTEL_TRACES_EXPORTER` lists (OTLP's is paced, X-Ray's is emptied at every flush).
#[derive(Debug)]
pub(crate) struct BufferingProcessor {
    pub(crate) otlp: Option<Arc<SpanBuffer>>,
    pub(crate) xray: Option<Arc<SpanBuffer>>,
}

impl SpanProcessor for BufferingProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // Spans the sampler only records (RecordOnly) are not for export, as in the SDK's own processors.
        if !span.span_context.is_sampled() {
            return;
        }
        match (&self.otlp, &self.xray) {
            (Some(otlp), Some(xray)) => {
                xray.push(span.clone());
                otlp.push(span);
            }
            (Some(buffer), None) | (None, Some(buffer)) => buffer.push(span),
            (None, None) => {}
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Delivery is `Delivery::flush`'s job, on the function's runtime: the SDK's threads must never export.
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// When the next export may be attempted, after failures.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// Whether an export may be attempted at `now`.
    pub(crate) fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|retry_at| now >= retry_at)
    }

    /// Records a failure at `now`; returns the pause before the next attempt.
    pub(crate) fn failed(&mut self, now: Instant) -> Duration {
        let pause = INITIAL_BACKOFF.saturating_mul(1 << self.failures.min(16)).min(MAX_BACKOFF);
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(now + pause);
        pause
    }

    pub(crate) fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

/// What exporting one batch returns; boxed because the SDK's exporter traits return `impl Future`.
pub(crate) type ExportFuture<'a> = Pin<Box<dyn Future<Output = OTelSdkResult> + Send + 'a>>;

/// The OTLP exporters behind one object-safe face, so that tests can stand in for a collector.
pub(crate) trait Exporters: Send + Sync {
    fn export_spans(&self, batch: Vec<SpanData>) -> ExportFuture<'_>;
    fn export_metrics<'a>(&'a self, batch: &'a ResourceMetrics) -> ExportFuture<'a>;
    /// The resource of the exported spans (a metrics batch carries its own, from the meter provider).
    fn set_resource(&mut self, resource: &Resource);
}

/// The span exporter, and the metrics client whose requests carry exemplars and start each series at zero.
pub(crate) struct Otlp<S> {
    spans: S,
    metrics: MetricsClient,
    exemplars: Arc<Exemplars>,
    starts: Mutex<SeriesStarts>,
}

impl<S> Exporters for Otlp<S>
where
    S: opentelemetry_sdk::trace::SpanExporter,
{
    fn export_spans(&self, batch: Vec<SpanData>) -> ExportFuture<'_> {
        Box::pin(self.spans.export(batch))
    }

    fn export_metrics<'a>(&'a self, batch: &'a ResourceMetrics) -> ExportFuture<'a> {
        let mut request = ExportMetricsServiceRequest::from(batch);
        self.exemplars.attach(&mut request);
        let new = self.starts.lock().unwrap_or_else(PoisonError::into_inner).add_zero_points(&mut request);
        Box::pin(async move {
            self.metrics.export(request).await.map_err(|error| OTelSdkError::InternalFailure(error.to_string()))?;
            self.starts.lock().unwrap_or_else(PoisonError::into_inner).exported(new, SystemTime::now());
            Ok(())
        })
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.spans.set_resource(resource);
    }
}

/// The OTLP exporters `settings` describe.
///
/// They never retry (a failed batch waits for the next flush instead) and give up on one export after the longest
/// time a flush may take; `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT` may shorten that. HTTP goes through hyper on the
/// function's tokio runtime (already in the binary for the Lambda runtime: no second HTTP stack). Must be called on a
/// tokio runtime: tonic's channel starts a task there.
/// `exemplars` are attached to the metrics; `since` is when the process started, each cumulative series' start.
pub(crate) fn otlp(
    settings: &Settings,
    exemplars: Arc<Exemplars>,
    since: SystemTime,
) -> Result<Otlp<SpanExporter>, otlp_setup::Error> {
    let longest_flush = settings.flush_timeout.max(FINAL_FLUSH_LIMIT);
    let timeout = |exporter: &ExporterConfig| exporter.timeout.map_or(longest_flush, |t| t.min(longest_flush));
    let otlp = &settings.otlp;
    let spans = otlp_setup::span_exporter(&otlp.traces, timeout(&otlp.traces))?;
    let metrics = MetricsClient::new(&otlp.metrics, timeout(&otlp.metrics))?;
    Ok(Otlp { spans, metrics, exemplars, starts: Mutex::new(SeriesStarts::new(since)) })
}

/// Whether a flush respects the [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// After an invocation: skipped while backing off, so a failing collector costs nothing.
    Invocation,
    /// At shutdown: the last chance to deliver what is buffered, whatever happened before.
    Final,
}

/// What a flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// There was nothing to export.
    Nothing,
    /// Everything buffered was exported.
    Delivered,
    /// Skipped: an earlier flush failed and the backoff pause of what waits is not over.
    BackingOff,
    /// Skipped: another flush held the exporters until the deadline.
    Busy,
    /// Skipped: what waits goes with a later flush (see [`Pacing`]).
    Waiting,
    /// An export failed or missed the deadline; what it carried is buffered again (the other signal's export may
    /// have gone through).
    Failed,
}

/// The exporters, the buffered telemetry and the backoff, flushed on demand.
pub(crate) struct Delivery {
    buffer: Arc<SpanBuffer>,
    pacing: Pacing,
    state: tokio::sync::Mutex<State>,
    metrics: OnceLock<Arc<ManualReader>>,
    /// A resource for the exporters to take at the next flush (they are only reachable inside a flush).
    resource: Mutex<Option<Resource>>,
    metric_batches_kept: usize,
    /// Spans for X-Ray, sent before the OTLP exports, paced as the OTLP spans but whatever their collector does.
    xray: Option<XRay>,
}

/// How often exports go out while invocations come densely. Exporting after every invocation costs an HTTP round trip
/// per signal, billed at the function's CPU share; a dense stream of invocations can share one. When traffic is sparse
/// (the previous export is older than the interval) an invocation's telemetry still leaves right after it. What waits
/// in a frozen environment leaves with the next invocation's flush, or with the last one at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pacing {
    /// Spans go out when the previous span export is at least this old...
    pub(crate) spans_interval: Duration,
    /// ...or when this many wait.
    pub(crate) spans_batch: usize,
    /// Metrics go out when the previous metrics export is at least this old. A cumulative export carries everything
    /// before it, so one skipped loses nothing.
    pub(crate) metrics_interval: Duration,
}

impl Pacing {
    /// An export after every invocation.
    #[cfg(test)]
    pub(crate) const EVERY_INVOCATION: Pacing =
        Pacing { spans_interval: Duration::ZERO, spans_batch: 1, metrics_interval: Duration::ZERO };
}

struct State {
    exporters: Box<dyn Exporters>,
    /// When each signal was last exported (or tried).
    spans_exported_at: Option<Instant>,
    metrics_exported_at: Option<Instant>,
    /// Each signal's own: a dead trace endpoint must not hold back the metrics, nor the reverse.
    spans_backoff: Backoff,
    metrics_backoff: Backoff,
    /// Collected metrics not yet exported, oldest first.
    metrics: VecDeque<ResourceMetrics>,
}

/// How one signal's export went.
#[derive(Debug)]
enum Outcome {
    /// Nothing of the signal waited.
    Idle,
    /// Skipped: its last export failed and its pause is not over.
    Paused,
    /// Left for a later flush, by the [`Pacing`].
    Waiting,
    Delivered,
    Failed(String),
}

impl Outcome {
    fn of(result: Result<OTelSdkResult, tokio::time::error::Elapsed>) -> Self {
        match result {
            Ok(Ok(())) => Outcome::Delivered,
            Ok(Err(error)) => Outcome::Failed(error.to_string()),
            Err(_) => Outcome::Failed("no answer before the flush's deadline".to_string()),
        }
    }

    /// What a flush whose signals went as `outcomes` did: any failure is a failure, else any delivery a delivery.
    fn flushed(outcomes: &[Outcome]) -> Flushed {
        let any = |wanted: fn(&Outcome) -> bool| outcomes.iter().any(wanted);
        if any(|outcome| matches!(outcome, Outcome::Failed(_))) {
            Flushed::Failed
        } else if any(|outcome| matches!(outcome, Outcome::Delivered)) {
            Flushed::Delivered
        } else if any(|outcome| matches!(outcome, Outcome::Paused)) {
            Flushed::BackingOff
        } else if any(|outcome| matches!(outcome, Outcome::Waiting)) {
            Flushed::Waiting
        } else {
            Flushed::Nothing
        }
    }
}

impl Delivery {
    /// Delivers what `buffer` collects through `exporters`, as often as `pacing` says; `temporality` is the metrics
    /// reader's.
    pub(crate) fn new(
        exporters: Box<dyn Exporters>,
        buffer: Arc<SpanBuffer>,
        temporality: Temporality,
        pacing: Pacing,
    ) -> Self {
        let state = State {
            exporters,
            spans_exported_at: None,
            metrics_exported_at: None,
            spans_backoff: Backoff::default(),
            metrics_backoff: Backoff::default(),
            metrics: VecDeque::new(),
        };
        Delivery {
            buffer,
            pacing,
            state: tokio::sync::Mutex::new(state),
            metrics: OnceLock::new(),
            resource: Mutex::new(None),
            // A cumulative batch contains everything before it, so the newest one replaces any that failed; a delta
            // batch is lost if dropped.
            metric_batches_kept: if temporality == Temporality::Cumulative { 1 } else { DELTA_BATCHES_KEPT },
            xray: None,
        }
    }

    /// Sends the spans `xray` collects at every flush, whatever the OTLP pacing and backoff say.
    pub(crate) fn with_xray(mut self, xray: Option<XRay>) -> Self {
        self.xray = xray;
        self
    }

    /// The resource of the spans exported from the next flush on.
    pub(crate) fn set_resource(&self, resource: Resource) {
        *self.resource.lock().unwrap_or_else(PoisonError::into_inner) = Some(resource);
    }

    /// The reader the metrics are collected from at each flush; only the first call counts.
    pub(crate) fn collect_metrics_from(&self, reader: Arc<ManualReader>) {
        let _ = self.metrics.set(reader);
    }

    /// Exports the buffered spans and the metrics, traces and metrics in parallel, all before `deadline`. Each signal
    /// has its own backoff: one that is pausing after a failure is left buffered while the other goes out.
    ///
    /// Never fails: a failure is logged, what was not exported stays buffered, and that signal's backoff starts.
    pub(crate) async fn flush(&self, deadline: Instant, policy: Policy) -> Flushed {
        // First, and outside the OTLP exports' lock: a few system calls that wait for nothing, so an OTLP export in
        // progress or its backoff never holds the X-Ray segments back. They keep the same pacing as the OTLP spans.
        if let Some(xray) = &self.xray {
            xray.send_waiting(Instant::now(), policy == Policy::Final);
        }
        let Ok(mut state) = timeout_at(deadline, self.state.lock()).await else {
            return Flushed::Busy;
        };
        let state = &mut *state;
        let now = Instant::now();
        let final_flush = policy == Policy::Final;
        let spans_ready = final_flush || state.spans_backoff.ready(now);
        let metrics_ready = final_flush || state.metrics_backoff.ready(now);
        let since = |last: Option<Instant>| last.map_or(Duration::MAX, |last| now.saturating_duration_since(last));
        let spans_paced = final_flush
            || since(state.spans_exported_at) >= self.pacing.spans_interval
            || self.buffer.len() >= self.pacing.spans_batch;
        let metrics_paced = final_flush || since(state.metrics_exported_at) >= self.pacing.metrics_interval;
        let (spans_due, metrics_due) = (spans_ready && spans_paced, metrics_ready && metrics_paced);
        if let Some(resource) = self.resource.lock().unwrap_or_else(PoisonError::into_inner).take() {
            state.exporters.set_resource(&resource);
        }
        let dropped = self.buffer.take_dropped();
        if dropped > 0 {
            tracing::warn!(dropped, capacity = SPAN_BUFFER_CAPACITY, "spans dropped: the export buffer was full");
        }
        // A signal that is pausing is neither taken nor collected: its spans wait in the buffer, its metrics in the
        // SDK's aggregation (a cumulative collection later carries everything; a delta one, everything since).
        let spans = if spans_due { self.buffer.take() } else { Vec::new() };
        if metrics_due {
            self.collect_metrics(&mut state.metrics);
        }

        let spans_taken = !spans.is_empty();
        let metrics_taken = metrics_due && !state.metrics.is_empty();
        if spans_taken {
            state.spans_exported_at = Some(now);
        }
        if metrics_taken {
            state.metrics_exported_at = Some(now);
        }

        // What got through, known even when the deadline cuts the exports short.
        let spans_exported = AtomicBool::new(!spans_taken);
        let metric_batches_exported = AtomicUsize::new(0);
        let exporters = &*state.exporters;
        let metric_batches = &state.metrics;
        let spans_export = async {
            if spans_taken {
                exporters.export_spans(spans.clone()).await?;
                spans_exported.store(true, Ordering::Relaxed);
            }
            OTelSdkResult::Ok(())
        };
        let metrics_export = async {
            if metrics_taken {
                for batch in metric_batches {
                    exporters.export_metrics(batch).await?;
                    metric_batches_exported.fetch_add(1, Ordering::Relaxed);
                }
            }
            OTelSdkResult::Ok(())
        };
        let (spans_result, metrics_result) =
            tokio::join!(timeout_at(deadline, spans_export), timeout_at(deadline, metrics_export));

        state.metrics.drain(..metric_batches_exported.load(Ordering::Relaxed));
        if !spans_exported.load(Ordering::Relaxed) {
            self.buffer.restore(spans);
        }
        let spans = match (spans_ready, spans_due, spans_taken) {
            (false, _, _) if !self.buffer.is_empty() => Outcome::Paused,
            (true, false, _) if !self.buffer.is_empty() => Outcome::Waiting,
            (_, true, true) => Outcome::of(spans_result),
            _ => Outcome::Idle,
        };
        let metrics = match (metrics_ready, metrics_due, metrics_taken) {
            (false, _, _) if self.metrics.get().is_some() => Outcome::Paused,
            (true, false, _) if self.metrics.get().is_some() => Outcome::Waiting,
            (_, true, true) => Outcome::of(metrics_result),
            _ => Outcome::Idle,
        };
        let spans = self.settle("spans", spans, &mut state.spans_backoff);
        let metrics = self.settle("metrics", metrics, &mut state.metrics_backoff);
        Outcome::flushed(&[spans, metrics])
    }

    /// Moves `signal`'s backoff on by its `outcome`, and logs a failure.
    fn settle(&self, signal: &'static str, outcome: Outcome, backoff: &mut Backoff) -> Outcome {
        match &outcome {
            Outcome::Delivered => backoff.succeeded(),
            Outcome::Failed(error) => {
                let pause = backoff.failed(Instant::now());
                tracing::warn!(
                    signal,
                    %error,
                    buffered_spans = self.buffer.len(),
                    pause_ms = pause.as_millis() as u64,
                    "telemetry export failed; kept for the next flush after the pause"
                );
            }
            Outcome::Idle | Outcome::Paused | Outcome::Waiting => {}
        }
        outcome
    }

    fn collect_metrics(&self, batches: &mut VecDeque<ResourceMetrics>) {
        let Some(reader) = self.metrics.get() else { return };
        let mut batch = ResourceMetrics::default();
        if let Err(error) = reader.collect(&mut batch) {
            tracing::warn!(%error, "collecting metrics failed");
            return;
        }
        if batch.scope_metrics().next().is_none() {
            return;
        }
        batches.push_back(batch);
        let excess = batches.len().saturating_sub(self.metric_batches_kept);
        if excess > 0 && self.metric_batches_kept > 1 {
            tracing::warn!(batches = excess, "metric batches dropped: the collector was unreachable for too long");
        }
        batches.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SharedReader;
    use opentelemetry::KeyValue;
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use std::time::SystemTime;

    fn span(name: &str, sampled: bool) -> SpanData {
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        SpanData {
            span_context: SpanContext::new(TraceId::from(1), SpanId::from(1), flags, false, TraceState::default()),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: name.to_string().into(),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    fn names(spans: &[SpanData]) -> Vec<String> {
        spans.iter().map(|span| span.name.to_string()).collect()
    }

    #[test]
    fn the_buffer_keeps_the_newest_spans_and_counts_the_dropped() {
        let buffer = SpanBuffer::new(3);
        for index in 0..5 {
            buffer.push(span(&index.to_string(), true));
        }
        assert_eq!(buffer.take_dropped(), 2);
        assert_eq!(buffer.take_dropped(), 0, "counted once");
        assert_eq!(names(&buffer.take()), ["2", "3", "4"]);
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_restored_batch_goes_before_newer_spans_within_the_bound() {
        let buffer = SpanBuffer::new(4);
        buffer.push(span("new1", true));
        buffer.push(span("new2", true));
        buffer.restore(vec![span("old1", true), span("old2", true), span("old3", true)]);
        assert_eq!(buffer.take_dropped(), 1);
        assert_eq!(names(&buffer.take()), ["old2", "old3", "new1", "new2"]);
    }

    #[test]
    fn the_default_capacity_holds() {
        let buffer = SpanBuffer::new(SPAN_BUFFER_CAPACITY);
        for _ in 0..SPAN_BUFFER_CAPACITY + 10 {
            buffer.push(span("s", true));
        }
        assert_eq!(buffer.len(), SPAN_BUFFER_CAPACITY);
        assert_eq!(buffer.take_dropped(), 10);
    }

    #[test]
    fn only_sampled_spans_are_buffered() {
        let buffer = Arc::new(SpanBuffer::new(8));
        let processor = BufferingProcessor { otlp: Some(buffer.clone()), xray: None };
        processor.on_end(span("sampled", true));
        processor.on_end(span("recorded only", false));
        assert_eq!(names(&buffer.take()), ["sampled"]);
    }

    #[test]
    fn backoff_doubles_from_a_tenth_of_a_second_to_a_minute_and_resets() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        assert!(backoff.ready(start));
        let pauses: Vec<u128> = (0..13).map(|_| backoff.failed(start).as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000]);
        assert!(!backoff.ready(start + Duration::from_secs(59)));
        assert!(backoff.ready(start + Duration::from_secs(60)));
        for _ in 0..100 {
            backoff.failed(start);
        }
        assert!(backoff.ready(start + MAX_BACKOFF), "no overflow after many failures");
        backoff.succeeded();
        assert!(backoff.ready(start));
        assert_eq!(backoff.failed(start), INITIAL_BACKOFF);
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Collector {
        Up,
        Refusing,
        Hanging,
    }

    /// A collector that answers as told and remembers what it received.
    #[derive(Default)]
    struct Fake {
        collector: Mutex<Option<Collector>>,
        /// How the trace endpoint answers, when it differs from the metrics one.
        traces: Mutex<Option<Collector>>,
        spans: Mutex<Vec<SpanData>>,
        metric_batches: AtomicUsize,
        attempts: AtomicUsize,
    }

    impl Fake {
        fn set(&self, collector: Collector) {
            *self.collector.lock().unwrap() = Some(collector);
        }

        async fn answer(&self) -> OTelSdkResult {
            let collector = self.collector.lock().unwrap().unwrap_or(Collector::Up);
            self.respond(collector).await
        }

        async fn respond(&self, collector: Collector) -> OTelSdkResult {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            match collector {
                Collector::Up => Ok(()),
                Collector::Refusing => Err(OTelSdkError::InternalFailure("refused".into())),
                Collector::Hanging => std::future::pending().await,
            }
        }
    }

    impl Exporters for Arc<Fake> {
        fn export_spans(&self, batch: Vec<SpanData>) -> ExportFuture<'_> {
            Box::pin(async move {
                let traces = *self.traces.lock().unwrap();
                match traces {
                    Some(traces) => self.respond(traces).await?,
                    None => self.answer().await?,
                }
                self.spans.lock().unwrap().extend(batch);
                Ok(())
            })
        }

        fn export_metrics<'a>(&'a self, _batch: &'a ResourceMetrics) -> ExportFuture<'a> {
            Box::pin(async move {
                self.answer().await?;
                self.metric_batches.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        }

        fn set_resource(&mut self, _resource: &Resource) {}
    }

    fn delivery(temporality: Temporality) -> (Arc<Fake>, Arc<SpanBuffer>, Delivery) {
        let fake = Arc::new(Fake::default());
        let buffer = Arc::new(SpanBuffer::new(16));
        let delivery = Delivery::new(Box::new(fake.clone()), buffer.clone(), temporality, Pacing::EVERY_INVOCATION);
        (fake, buffer, delivery)
    }

    const LIMIT: Duration = Duration::from_millis(100);

    #[tokio::test(start_paused = true)]
    async fn a_failed_flush_keeps_the_spans_and_backs_off_then_a_later_one_delivers_them() {
        let (fake, buffer, delivery) = delivery(Temporality::Cumulative);
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, Flushed::Nothing);

        fake.set(Collector::Refusing);
        buffer.push(span("a", true));
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, Flushed::Failed);
        assert_eq!(buffer.len(), 1, "kept for the next flush");

        buffer.push(span("b", true));
        let attempts = fake.attempts.load(Ordering::Relaxed);
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, Flushed::BackingOff);
        assert_eq!(fake.attempts.load(Ordering::Relaxed), attempts, "no attempt while backing off");

        fake.set(Collector::Up);
        tokio::time::advance(INITIAL_BACKOFF).await;
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, Flushed::Delivered);
        assert_eq!(names(&fake.spans.lock().unwrap()), ["a", "b"]);
        assert!(buffer.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_collector_costs_the_limit_once_then_nothing_until_the_pause_is_over() {
        let (fake, buffer, delivery) = delivery(Temporality::Cumulative);
        fake.set(Collector::Hanging);
        buffer.push(span("a", true));
        let started = Instant::now();
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, Flushed::Failed);
        assert_eq!(started.elapsed(), LIMIT);
        assert_eq!(buffer.len(), 1);

        let started = Instant::now();
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, Flushed::BackingOff);
        assert_eq!(started.elapsed(), Duration::ZERO);

        // The final flush ignores the backoff.
        fake.set(Collector::Up);
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Final).await, Flushed::Delivered);
        assert_eq!(names(&fake.spans.lock().unwrap()), ["a"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_waits_for_another_only_until_its_deadline() {
        let (fake, buffer, delivery) = delivery(Temporality::Cumulative);
        fake.set(Collector::Hanging);
        buffer.push(span("a", true));
        let (first, second) = tokio::join!(delivery.flush(Instant::now() + LIMIT * 2, Policy::Invocation), async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            delivery.flush(Instant::now() + LIMIT, Policy::Final).await
        });
        assert_eq!((first, second), (Flushed::Failed, Flushed::Busy));
    }

    fn meter_provider(temporality: Temporality) -> (SdkMeterProvider, Arc<ManualReader>) {
        let reader = Arc::new(ManualReader::builder().with_temporality(temporality).build());
        (SdkMeterProvider::builder().with_reader(SharedReader(reader.clone())).build(), reader)
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_are_collected_at_each_flush_and_delta_batches_kept_across_failures() {
        let (fake, _buffer, delivery) = delivery(Temporality::Delta);
        let (provider, reader) = meter_provider(Temporality::Delta);
        delivery.collect_metrics_from(reader);
        let counter = provider.meter("test").u64_counter("c").build();

        fake.set(Collector::Refusing);
        counter.add(1, &[KeyValue::new("k", "v")]);
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, Flushed::Failed);
        counter.add(1, &[KeyValue::new("k", "v")]);
        fake.set(Collector::Up);
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Final).await, Flushed::Delivered);
        assert_eq!(fake.metric_batches.load(Ordering::Relaxed), 2, "the failed delta batch, then the new one");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_cumulative_batch_is_replaced_by_the_next() {
        let (fake, _buffer, delivery) = delivery(Temporality::Cumulative);
        let (provider, reader) = meter_provider(Temporality::Cumulative);
        delivery.collect_metrics_from(reader);
        provider.meter("test").u64_counter("c").build().add(1, &[]);

        fake.set(Collector::Refusing);
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, Flushed::Failed);
        fake.set(Collector::Up);
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Final).await, Flushed::Delivered);
        assert_eq!(fake.metric_batches.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_trace_endpoint_does_not_hold_back_the_metrics() {
        let (fake, buffer, delivery) = delivery(Temporality::Cumulative);
        let (provider, reader) = meter_provider(Temporality::Cumulative);
        delivery.collect_metrics_from(reader);
        let counter = provider.meter("test").u64_counter("c").build();
        *fake.traces.lock().unwrap() = Some(Collector::Refusing);

        let mut flushes = Vec::new();
        for invocation in 0..10 {
            buffer.push(span(&invocation.to_string(), true));
            counter.add(1, &[]);
            flushes.push(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await);
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        assert_eq!(flushes[0], Flushed::Failed, "the spans failed; the metrics went out");
        assert_eq!(fake.metric_batches.load(Ordering::Relaxed), 10, "every invocation's metrics, while spans pause");
        assert_eq!(buffer.len(), 10, "every span kept for later");

        *fake.traces.lock().unwrap() = None;
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Final).await, Flushed::Delivered);
        assert_eq!(fake.spans.lock().unwrap().len(), 10, "and delivered once the endpoint is back");
    }

    #[tokio::test(start_paused = true)]
    async fn xray_goes_whatever_the_otlp_collector_does() {
        // Spans paced to go after every invocation, for X-Ray as for OTLP.
        let (daemon, xray) = xray_daemon("0");
        let fake = Arc::new(Fake::default());
        let buffer = Arc::new(SpanBuffer::new(16));
        let processor = BufferingProcessor { otlp: Some(buffer.clone()), xray: Some(xray.queue()) };
        let pacing = Pacing { spans_interval: Duration::ZERO, spans_batch: 1, metrics_interval: Duration::ZERO };
        let delivery = Delivery::new(Box::new(fake.clone()), buffer.clone(), Temporality::Cumulative, pacing)
            .with_xray(Some(xray));

        // The collector hangs: OTLP misses its deadline, then backs off; every invocation's spans still reach X-Ray at
        // its own flush.
        fake.set(Collector::Hanging);
        let outcomes = [(Flushed::Failed, Duration::ZERO), (Flushed::BackingOff, Duration::ZERO)];
        for (invocation, (expected, then)) in outcomes.into_iter().enumerate() {
            processor.on_end(span(&invocation.to_string(), true));
            processor.on_end(span("unsampled", false));
            assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await, expected);
            assert_eq!(received(&daemon)["start_time"], 0.0, "invocation {invocation}: sent at once");
            tokio::time::advance(then).await;
        }
        assert_eq!(buffer.len(), 2, "OTLP keeps its copies");

        // At shutdown OTLP gets everything; X-Ray had it already, and nothing is sent twice.
        fake.set(Collector::Up);
        assert_eq!(delivery.flush(Instant::now() + LIMIT, Policy::Final).await, Flushed::Delivered);
        assert_eq!(names(&fake.spans.lock().unwrap()), ["0", "1"]);
        daemon.set_nonblocking(true).unwrap();
        assert!(daemon.recv(&mut [0; 2048]).is_err(), "no datagram left");
    }

    #[tokio::test(start_paused = true)]
    async fn xray_datagrams_are_paced_as_the_spans_are() {
        // The default pacing: a second between sends while invocations come densely.
        let (daemon, xray) = xray_daemon("1000");
        let processor = BufferingProcessor { otlp: None, xray: Some(xray.queue()) };
        let buffer = Arc::new(SpanBuffer::new(16));
        let pacing =
            Pacing { spans_interval: Duration::from_secs(1), spans_batch: 100, metrics_interval: Duration::ZERO };
        let delivery = Delivery::new(Box::new(Arc::new(Fake::default())), buffer, Temporality::Cumulative, pacing)
            .with_xray(Some(xray));
        // Each invocation's span is a trace of its own, so a datagram of its own.
        let trace = |n: u64| {
            let mut span = span(&n.to_string(), true);
            let ids = (TraceId::from(u128::from(n)), SpanId::from(n));
            span.span_context = SpanContext::new(ids.0, ids.1, TraceFlags::SAMPLED, false, TraceState::default());
            span
        };
        daemon.set_nonblocking(true).unwrap();
        let waiting = || {
            let mut count = 0;
            while daemon.recv(&mut [0; 2048]).is_ok() {
                count += 1;
            }
            count
        };

        processor.on_end(trace(1));
        delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await;
        assert_eq!(waiting(), 1, "the first invocation's datagram goes at once");
        for invocation in 2..5 {
            tokio::time::advance(Duration::from_millis(100)).await;
            processor.on_end(trace(invocation));
            delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await;
        }
        assert_eq!(waiting(), 0, "dense invocations wait for the interval");
        tokio::time::advance(Duration::from_millis(700)).await;
        processor.on_end(trace(5));
        delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await;
        assert_eq!(waiting(), 4, "a second after the last send, every waiting tree goes, one datagram each");
        tokio::time::advance(Duration::from_millis(10)).await;
        processor.on_end(trace(6));
        delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await;
        assert_eq!(waiting(), 0);
        // However dense the invocations, no more than a burst waits: a UDP receiver drops what its buffer cannot hold.
        for n in 7..70 {
            processor.on_end(trace(n));
        }
        delivery.flush(Instant::now() + LIMIT, Policy::Invocation).await;
        assert_eq!(waiting(), 64, "64 spans wait at most, whatever the interval");
        processor.on_end(trace(70));
        delivery.flush(Instant::now() + LIMIT, Policy::Final).await;
        assert_eq!(waiting(), 1, "at shutdown, whatever waits");
    }

    /// A UDP socket standing in for the X-Ray daemon, and X-Ray delivery to it with the spans' export interval
    /// `interval_ms`.
    fn xray_daemon(interval_ms: &str) -> (std::net::UdpSocket, XRay) {
        let daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        daemon.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let address = daemon.local_addr().unwrap().to_string();
        let settings = Settings::parse(|name| match name {
            "AWS_XRAY_DAEMON_ADDRESS" => Some(address.clone()),
            "OTEL_TRACES_EXPORTER" => Some("otlp,xray".to_string()),
            "LAMBDA_OTEL_EXPORT_INTERVAL_MS" => Some(interval_ms.to_string()),
            _ => None,
        });
        (daemon, XRay::new(&settings).expect("a socket"))
    }

    fn received(daemon: &std::net::UdpSocket) -> serde_json::Value {
        let mut datagram = [0; 2048];
        let length = daemon.recv(&mut datagram).expect("a datagram");
        let document = datagram[..length].strip_prefix(crate::xray::HEADER).expect("the header");
        serde_json::from_slice(document).unwrap()
    }

    #[test]
    fn each_exporter_gets_the_sampled_spans_it_is_listed_for() {
        let (otlp, xray) = (Arc::new(SpanBuffer::new(8)), Arc::new(SpanBuffer::new(8)));
        for (processor, in_otlp, in_xray) in [
            (BufferingProcessor { otlp: Some(otlp.clone()), xray: None }, 1, 0),
            (BufferingProcessor { otlp: None, xray: Some(xray.clone()) }, 0, 1),
            (BufferingProcessor { otlp: Some(otlp.clone()), xray: Some(xray.clone()) }, 1, 1),
            (BufferingProcessor { otlp: None, xray: None }, 0, 0),
        ] {
            processor.on_end(span("sampled", true));
            processor.on_end(span("recorded only", false));
            assert_eq!((otlp.take().len(), xray.take().len()), (in_otlp, in_xray), "{processor:?}");
        }
    }
}
