//! The view's thread: spans arrive in its inbox from both sources, are assembled into traces, and each trace is
//! written to stdout once complete (or once it waited long enough), through the gateway's bounded output.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use opentelemetry_sdk::trace::SpanData;
use tokio::sync::mpsc;

use super::Format;
use super::assembly::{Assembly, Trace};
use super::model::{Source, Span};
use super::{json, text};
use crate::output::Stream;

/// Messages the inbox holds: a burst of thousands of requests fits, past it spans are dropped (and counted).
const INBOX_CAPACITY: usize = 4096;

/// What arrives at the view.
#[derive(Debug)]
pub(super) enum Incoming {
    /// A span the gateway ended, and the gateway's service name.
    Gateway(Box<SpanData>, Arc<str>),
    /// The spans of one OTLP export.
    Exported(Vec<Span>),
    /// The gateway is stopping: show every trace that waits, then say so on the channel.
    Finish(std::sync::mpsc::Sender<()>),
}

/// Where spans are handed to the view. Never blocks: when the view falls behind, spans are dropped and counted.
#[derive(Debug, Clone)]
pub(super) struct Inbox {
    sender: mpsc::Sender<Incoming>,
    dropped: Arc<AtomicU64>,
}

impl Inbox {
    /// An inbox and what its messages come out of.
    pub(super) fn new() -> (Self, Outbox) {
        let (sender, receiver) = mpsc::channel(INBOX_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        (Self { sender, dropped: dropped.clone() }, Outbox { receiver, dropped })
    }

    pub(super) fn gateway(&self, span: SpanData, service: Arc<str>) {
        self.send(Incoming::Gateway(Box::new(span), service), 1);
    }

    pub(super) fn spans(&self, spans: Vec<Span>) {
        let count = spans.len() as u64;
        if count > 0 {
            self.send(Incoming::Exported(spans), count);
        }
    }

    /// Asks the view to show what waits, and waits up to `within` for it to be queued for stdout.
    pub(super) fn finish(&self, within: Duration) {
        let (done, finished) = std::sync::mpsc::channel();
        if self.sender.try_send(Incoming::Finish(done)).is_ok() {
            let _ = finished.recv_timeout(within);
        }
    }

    fn send(&self, incoming: Incoming, spans: u64) {
        if self.sender.try_send(incoming).is_err() {
            self.dropped.fetch_add(spans, Ordering::Relaxed);
        }
    }
}

/// The receiving end of an [`Inbox`].
#[derive(Debug)]
pub(super) struct Outbox {
    receiver: mpsc::Receiver<Incoming>,
    dropped: Arc<AtomicU64>,
}

#[cfg(test)]
impl Outbox {
    /// The next message, if one is waiting.
    pub(super) fn try_recv(&mut self) -> Option<Incoming> {
        self.receiver.try_recv().ok()
    }
}

/// Assembles what arrives into traces and writes each, until every inbox is gone.
pub(super) async fn run(mut outbox: Outbox, mut assembly: Assembly, format: Format) {
    loop {
        let deadline = assembly.next_deadline();
        let incoming = tokio::select! {
            incoming = outbox.receiver.recv() => match incoming {
                Some(incoming) => Some(incoming),
                None => return,
            },
            () = sleep_until(deadline) => None,
        };
        let now = Instant::now();
        let mut shown = match incoming {
            Some(Incoming::Gateway(span, service)) => {
                let span = Span::from_proto(ProtoSpan::from(*span), &service, Source::Gateway);
                assembly.add(span, now)
            }
            Some(Incoming::Exported(spans)) => assembly.add(spans, now),
            Some(Incoming::Finish(done)) => {
                write(&assembly.drain(), format);
                let _ = done.send(());
                continue;
            }
            None => Vec::new(),
        };
        shown.extend(assembly.due(now));
        write(&shown, format);
        let dropped = outbox.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            crate::message!("trace view: {dropped} spans dropped, more arrived than it could take");
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

fn write(traces: &[Trace], format: Format) {
    for trace in traces {
        let rendered = match format {
            Format::Text { colour } => text::render(trace, colour),
            Format::Json => json::render(trace),
        };
        // One write for the whole tree: the functions' log lines cannot come between its lines.
        Stream::Stdout.write_line(rendered.as_bytes());
    }
}
