//! Everything apigw-local writes to stdout and stderr, on a path that never blocks the gateway.
//!
//! The gateway serves every connection and the Runtime API on one thread. A write to a pipe whose reader has stopped
//! reading (a terminal paused with Ctrl-S, `make run | less` left open, a log driver that falls behind) blocks once the
//! pipe is full, and on that thread it would stop every request and the handling of SIGTERM. So lines are only queued
//! here: each stream has a bounded queue (`QUEUE_BYTES`, 1 MiB) drained by a thread of its own that does the blocking
//! writes. A line that does not fit is dropped and counted, and once the writer gets through again the count is said
//! on stderr (`apigw-local: N lines dropped: stdout was not being read`) rather than on stdout, whose lines programs
//! parse. A request never waits for its access log line; a stalled reader costs lines, never answers.
//!
//! What goes through here:
//! - the access log, one JSON line per request on stdout (`Stream::write_line`);
//! - the gateway's own messages on stderr ([`message!`](crate::message));
//! - the output of the functions the Runtime API host runs. They are spawned with stdout and stderr piped, and
//!   `forward_lines` passes their lines on, stdout to stdout and stderr to stderr, byte for byte, so that their JSON
//!   log lines with trace ids read as if the function had written them itself. A function therefore never blocks on
//!   its own logging either (as it would on a shared, full pipe, in the middle of an invocation). Lines keep their
//!   order per source; the sources interleave line by line, a function's log line sometimes after the access log line
//!   of the same request. A line over `MAX_LINE` (256 KiB) is passed on in pieces of that size, each ended by a newline
//!   (as Docker's log drivers split long lines), so that a function writing without newlines cannot grow it for ever.
//!
//! At exit, [`flush`] waits a bounded time for the queues to be written and gives up on a reader that does not read.
//!
//! To move an `eprintln!("apigw-local: …")` here, write `crate::message!("…")` with the same arguments, without the
//! `apigw-local: ` prefix, which the macro adds; outside this crate, `apigw_local::message!`.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};

/// What each stream may hold unwritten: a few thousand access log lines, enough for a reader that pauses briefly
/// (a terminal redrawing, a pager's first screen); past it the reader is not keeping up, and lines are dropped.
pub(crate) const QUEUE_BYTES: usize = 1024 * 1024;

/// How often a writer that wrote recently looks for lines...
const POLL: Duration = Duration::from_millis(5);
/// ...and how many times it finds none before it sleeps until woken.
const POLLS_BEFORE_SLEEP: u32 = 20;

/// The longest line [`forward_lines`] passes on whole.
pub(crate) const MAX_LINE: usize = 256 * 1024;

/// The streams apigw-local writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The access log and the functions' stdout.
    Stdout,
    /// The gateway's messages and the functions' stderr.
    Stderr,
}

impl Stream {
    /// Queues one line, which ends in a newline, for this stream. `false` when it was dropped because the queue is
    /// full. Never blocks for longer than it takes to copy the line.
    pub(crate) fn write_line(self, line: &[u8]) -> bool {
        self.queue().push(line)
    }

    fn queue(self) -> &'static Queue {
        static STDOUT: OnceLock<Arc<Queue>> = OnceLock::new();
        static STDERR: OnceLock<Arc<Queue>> = OnceLock::new();
        let queue = match self {
            Self::Stdout => &STDOUT,
            Self::Stderr => &STDERR,
        };
        queue.get_or_init(|| {
            // `Stdout` and `Stderr` lock the stream for each write: a stray `println!` cannot split a line.
            let (name, sink): (_, Box<dyn Write + Send>) = match self {
                Self::Stdout => ("stdout", Box::new(io::stdout())),
                Self::Stderr => ("stderr", Box::new(io::stderr())),
            };
            // The drop count goes to stderr, with the gateway's messages, for both streams.
            let report = Box::new(|notice: &[u8]| Stream::Stderr.queue().try_push(notice));
            Queue::start(name, QUEUE_BYTES, sink, report).expect("the gateway can start its output threads")
        })
    }
}

/// Writes one message line on stderr: `apigw-local: ` and the text. Use [`message!`](crate::message).
pub fn message(text: fmt::Arguments<'_>) {
    Stream::Stderr.write_line(format!("apigw-local: {text}\n").as_bytes());
}

/// Writes a message of the gateway on stderr, formatted as `format!` does and prefixed with `apigw-local: `, without
/// ever blocking (see [`output`](crate::output)).
///
/// ```no_run
/// let environment = 1;
/// apigw_local::message!("environment {environment}: process exited");
/// ```
#[macro_export]
macro_rules! message {
    ($($arg:tt)*) => {
        $crate::output::message(::std::format_args!($($arg)*))
    };
}

/// Waits up to `within` for what was queued to be written, stdout first, then stderr; `false` if some of it was not.
/// Lines stdout dropped and has not reported yet (its reader never came back) are reported on stderr first.
pub fn flush(within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let stdout = Stream::Stdout.queue();
    stdout.report_dropped();
    let stdout_written = stdout.wait_written(deadline);
    Stream::Stderr.queue().wait_written(deadline) && stdout_written
}

/// Passes what `reader` (a function's stdout or stderr) writes on to `to`, line by line, until its end.
pub(crate) async fn forward_lines(reader: impl AsyncRead + Unpin, to: Stream) {
    forward_lines_to(reader, |line| to.write_line(line)).await;
}

async fn forward_lines_to(reader: impl AsyncRead + Unpin, mut write_line: impl FnMut(&[u8]) -> bool) {
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    // The start of a line that a read cut off: most reads end on a line's end and leave it empty.
    let mut partial = Vec::new();
    loop {
        let read = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(read) => read,
        };
        let room = MAX_LINE - partial.len();
        let used = match read[..read.len().min(room)].iter().position(|&byte| byte == b'\n') {
            // A whole line in the buffer is passed on from there, without a copy.
            Some(end) if partial.is_empty() => {
                write_line(&read[..=end]);
                end + 1
            }
            Some(end) => {
                partial.extend_from_slice(&read[..=end]);
                write_line(&partial);
                partial.clear();
                end + 1
            }
            None if read.len() >= room => {
                partial.extend_from_slice(&read[..room]);
                partial.push(b'\n');
                write_line(&partial);
                partial.clear();
                room
            }
            None => {
                partial.extend_from_slice(read);
                read.len()
            }
        };
        reader.consume(used);
    }
    // A last line without a newline still ends as a line, not glued to the next source's.
    if !partial.is_empty() {
        partial.push(b'\n');
        write_line(&partial);
    }
}

/// A bounded queue of lines and the thread that writes them to their sink.
struct Queue {
    /// The stream's name, for the drop report.
    name: &'static str,
    /// The most bytes queued or being written at once.
    bound: usize,
    state: Mutex<State>,
    /// Wakes the writer: lines arrived.
    arrived: Condvar,
    /// Wakes [`Queue::wait_written`]: the writer has finished a batch.
    written: Condvar,
    /// Where a drop report goes; `false` if it could not be queued there.
    report: Report,
}

/// Queues a drop report; `false` if it did not fit.
type Report = Box<dyn Fn(&[u8]) -> bool + Send + Sync>;

#[derive(Default)]
struct State {
    /// Lines queued and not yet taken by the writer, back to back.
    queued: Vec<u8>,
    /// Bytes the writer took and has not written yet: they count against the bound too.
    writing: usize,
    /// Between taking a batch and having reported what was dropped meanwhile.
    busy: bool,
    /// The writer sleeps until woken: it found no lines for a while.
    idle: bool,
    /// Lines refused since the last report.
    dropped: u64,
}

impl Queue {
    fn start(
        name: &'static str,
        bound: usize,
        mut sink: Box<dyn Write + Send>,
        report: Report,
    ) -> io::Result<Arc<Self>> {
        let queue = Arc::new(Self {
            name,
            bound,
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            written: Condvar::new(),
            report,
        });
        let writer = queue.clone();
        std::thread::Builder::new().name(format!("{name} writer")).spawn(move || writer.write_all(&mut *sink))?;
        Ok(queue)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between any two statements: a panic elsewhere cannot have left it half updated.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `line` if it fits; counts it as dropped if not.
    fn push(&self, line: &[u8]) -> bool {
        self.try_push(line) || {
            self.lock().dropped += 1;
            false
        }
    }

    /// Queues `line` if it fits.
    fn try_push(&self, line: &[u8]) -> bool {
        let mut state = self.lock();
        if state.queued.len() + state.writing + line.len() > self.bound {
            return false;
        }
        state.queued.extend_from_slice(line);
        // Only a sleeping writer needs the wake-up, which is a system call; one that wrote recently looks by itself.
        if std::mem::take(&mut state.idle) {
            self.arrived.notify_one();
        }
        true
    }

    /// The writer thread: takes everything queued at once and writes it with one `write_all`, for ever.
    fn write_all(&self, sink: &mut dyn Write) {
        let mut batch = Vec::new();
        loop {
            let mut state = self.lock();
            let mut looked = 0;
            while state.queued.is_empty() {
                // While lines keep coming, the writer looks for them every POLL instead of being woken for each,
                // which would cost the serving thread a system call per line.
                state = if looked < POLLS_BEFORE_SLEEP {
                    looked += 1;
                    self.arrived.wait_timeout(state, POLL).unwrap_or_else(|poisoned| poisoned.into_inner()).0
                } else {
                    state.idle = true;
                    self.arrived.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner())
                };
            }
            std::mem::swap(&mut state.queued, &mut batch);
            state.writing = batch.len();
            state.busy = true;
            drop(state);
            // An error (the reader closed the pipe) loses the batch: there is nobody left to tell.
            let _ = sink.write_all(&batch).and_then(|()| sink.flush());
            batch.clear();
            self.lock().writing = 0;
            self.report_dropped();
            self.lock().busy = false;
            self.written.notify_all();
        }
    }

    /// Reports the lines dropped since the last report, if any; keeps the count if the report does not fit either.
    fn report_dropped(&self) {
        let dropped = std::mem::take(&mut self.lock().dropped);
        if dropped == 0 {
            return;
        }
        let notice = format!("apigw-local: {dropped} lines dropped: {} was not being read\n", self.name);
        if !(self.report)(notice.as_bytes()) {
            self.lock().dropped += dropped;
        }
    }

    /// Waits until everything queued is written, or `deadline`.
    fn wait_written(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        while !state.queued.is_empty() || state.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.written.wait_timeout(state, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// A sink whose writes wait until the test opens it, as a pipe that nobody reads: it says when a write begins,
    /// and keeps what was written.
    #[derive(Clone)]
    struct Stalled {
        open: Arc<(Mutex<bool>, Condvar)>,
        began: mpsc::SyncSender<()>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Stalled {
        fn new() -> (Self, mpsc::Receiver<()>) {
            let (began, beginning) = mpsc::sync_channel(100);
            let sink = Self { open: Arc::default(), began, written: Arc::default() };
            (sink, beginning)
        }

        fn open(&self) {
            *self.open.0.lock().unwrap() = true;
            self.open.1.notify_all();
        }

        fn written(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Stalled {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let _ = self.began.try_send(());
            let (open, opened) = &*self.open;
            let _open = opened.wait_while(open.lock().unwrap(), |open| !*open).unwrap();
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A queue of `bound` bytes writing to `sink`, whose drop reports are kept in the returned list.
    fn queue(bound: usize, sink: &Stalled) -> (Arc<Queue>, Arc<Mutex<Vec<String>>>) {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let kept = reports.clone();
        let report: Report = Box::new(move |notice| {
            kept.lock().unwrap().push(String::from_utf8_lossy(notice).into_owned());
            true
        });
        (Queue::start("test", bound, Box::new(sink.clone()), report).unwrap(), reports)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn lines_past_the_bound_are_dropped_counted_and_reported_once_the_writer_gets_through() {
        let (sink, beginning) = Stalled::new();
        let (queue, reports) = queue(100, &sink);
        assert!(queue.push(b"first\n"));
        beginning.recv_timeout(Duration::from_secs(10)).expect("the writer took the first line");

        // The 6 bytes being written count too: 11 lines of 8 bytes fit beside them, the other 9 do not.
        let queued: Vec<bool> = (10..30).map(|n| queue.push(format!("line {n}\n").as_bytes())).collect();
        assert_eq!(queued, [[true; 11].as_slice(), &[false; 9]].concat());
        assert!(reports.lock().unwrap().is_empty(), "nothing is reported while the reader is away");

        sink.open();
        assert!(queue.wait_written(soon()));
        let expected: String =
            ["first\n".to_string()].into_iter().chain((10..21).map(|n| format!("line {n}\n"))).collect();
        assert_eq!(sink.written(), expected, "the lines that fit, whole and in order");
        assert_eq!(*reports.lock().unwrap(), ["apigw-local: 9 lines dropped: test was not being read\n"]);

        assert!(queue.push(b"after\n"));
        assert!(queue.wait_written(soon()));
        assert!(sink.written().ends_with("line 20\nafter\n"));
        assert_eq!(reports.lock().unwrap().len(), 1, "the count starts again from zero");
    }

    #[test]
    fn a_report_that_does_not_fit_keeps_its_count_for_the_next_one() {
        let (sink, _beginning) = Stalled::new();
        sink.open();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let kept = reports.clone();
        // The report's destination is full the first time.
        let report: Report = Box::new(move |notice| {
            let mut reports = kept.lock().unwrap();
            reports.push(String::from_utf8_lossy(notice).into_owned());
            reports.len() > 1
        });
        let queue = Queue::start("test", 10, Box::new(sink.clone()), report).unwrap();
        queue.lock().dropped = 2;
        queue.report_dropped();
        assert_eq!(queue.lock().dropped, 2);
        queue.lock().dropped += 1;
        queue.report_dropped();
        assert_eq!(queue.lock().dropped, 0);
        assert_eq!(reports.lock().unwrap().last().unwrap(), "apigw-local: 3 lines dropped: test was not being read\n");
    }

    #[test]
    fn waiting_for_a_reader_that_never_reads_ends_at_the_deadline() {
        let (sink, beginning) = Stalled::new();
        let (queue, _) = queue(100, &sink);
        assert!(queue.push(b"never read\n"));
        beginning.recv_timeout(Duration::from_secs(10)).unwrap();
        let waiting = Instant::now();
        assert!(!queue.wait_written(waiting + Duration::from_millis(100)));
        let waited = waiting.elapsed();
        assert!((Duration::from_millis(100)..Duration::from_secs(5)).contains(&waited), "{waited:?}");
        sink.open();
    }

    async fn forwarded(input: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        forward_lines_to(input, |line| {
            lines.push(line.to_vec());
            true
        })
        .await;
        lines
    }

    #[tokio::test]
    async fn lines_are_forwarded_byte_for_byte_and_a_last_one_without_newline_gets_one() {
        let input =
            "{\"level\":\"INFO\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}\r\n\nplain \u{e9}\n\u{ff}tail";
        let lines = forwarded(input.as_bytes()).await;
        let expected =
            ["{\"level\":\"INFO\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}\r\n", "\n", "plain \u{e9}\n"];
        let mut expected: Vec<Vec<u8>> = expected.iter().map(|line| line.as_bytes().to_vec()).collect();
        expected.push("\u{ff}tail\n".as_bytes().to_vec());
        assert_eq!(lines, expected);
    }

    #[tokio::test]
    async fn a_line_longer_than_the_maximum_is_passed_on_in_pieces() {
        // Longer than the read buffer too, so that the pieces are put together across reads.
        let mut input = vec![b'a'; 2 * MAX_LINE + 10];
        input.extend_from_slice(b"\nnext\n");
        let lines = forwarded(&input).await;
        let lengths: Vec<usize> = lines.iter().map(Vec::len).collect();
        assert_eq!(lengths, [MAX_LINE + 1, MAX_LINE + 1, 11, 5]);
        assert!(lines.iter().all(|line| line.ends_with(b"\n")));
        assert_eq!(lines.concat().iter().filter(|&&byte| byte == b'a').count(), 2 * MAX_LINE + 10, "no byte lost");
    }
}
