//! What one log line costs the function: the invocation's `request answered` line (INFO; method, route, status and
//! `duration_ms`) inside the invocation's span, which has its OpenTelemetry ids and its `faas.invocation_id`, written
//! by the function's own subscriber (`lambda_otel::log_subscriber`: logs.rs's hand-written formatter) and by the
//! same stack with a maintained JSON formatter instead: json-subscriber writing the line docs/telemetry.md specifies
//! (the ids copied into span extensions by a layer like logs.rs's `Correlation`), json-subscriber with its own
//! OpenTelemetry ids (`openTelemetry: {traceId, spanId}`, no request id), and tracing-subscriber's `json` format
//! (no ids at all); and, as the floor they are all measured over, the same subscriber without a log output. Every
//! line goes to an in-memory buffer, so only the formatting is measured, not stdout.
//!
//! Two scenarios: the line alone (the span created and entered once), and the invocation around it (the span created
//! with the invocation's fields, entered, its status recorded, the line, the span closed), where a formatter's work
//! on span fields shows. Two measures of each:
//!
//! - time per line: `LOG_LINE_ROUNDS` (default 101) rounds of `LOG_LINE_BATCH` (default 1000) lines per formatter,
//!   the formatters interleaved in a rotating order, so that the machine's other load falls on all alike; the median
//!   and the 90th percentile of the rounds;
//! - instructions per line, which do not depend on that load: this binary runs itself under
//!   `valgrind --tool=callgrind` (`VALGRIND` overrides where it is found) once with 1 line and once with
//!   1 + `CALLGRIND_LINES` (default 5000) lines, and the difference is divided by `CALLGRIND_LINES`, so start-up,
//!   the first line's one-time work (callsite registration, buffers) and the exit cancel out.
//!
//! Prints a markdown `##` section on stdout (`make bench` appends it to BENCHMARKS.md), progress on stderr. The bench
//! profile is the release profile, the one `bootstrap` is built with (fat LTO, one codegen unit).

#[path = "../../apigw-local/benches/common/machine.rs"]
mod machine;

use std::fmt::Write as _;
use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use machine::{command_output, cpu_model};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use serde_json::Value;
use tracing::dispatcher::{self, WeakDispatch};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Dispatch, Level, Metadata, Span, Subscriber, span};
use tracing_subscriber::filter::{Targets, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

/// The target of the function's line (it is logged in lambda-otel's invocation module): lambda-otel's spans are
/// the ones the OpenTelemetry layer takes.
const TARGET: &str = "lambda_otel::invocation";
const REQUEST_ID: &str = "8f5d5c38-8e3b-4b4b-9d9f-3c3a6f0f6a51";
/// The keys docs/telemetry.md gives the JSON line, and the fields of `request answered`.
const CONTRACT_KEYS: [&str; 11] = [
    "timestamp",
    "level",
    "message",
    "target",
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "duration_ms",
    "trace_id",
    "span_id",
    "request_id",
];

/// The function's invocation span, with the fields lambda-otel's `server_span` gives it.
fn invocation_span() -> Span {
    tracing::info_span!(
        target: TARGET,
        "invocation",
        "otel.name" = "POST /helloworld",
        "otel.kind" = "server",
        "otel.status_code" = tracing::field::Empty,
        "http.request.method" = "POST",
        "http.route" = "/helloworld",
        "url.path" = "/test/helloworld",
        "url.scheme" = "https",
        "user_agent.original" = "curl/8.5.0",
        "client.address" = "198.51.100.7",
        "faas.trigger" = "http",
        "faas.invocation_id" = REQUEST_ID,
        "faas.coldstart" = false,
        "http.response.status_code" = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
    )
}

/// The line lambda-otel's `finish` logs after each response, with the same field types.
fn request_answered() {
    let (method, route, error_type): (&str, Option<&str>, Option<&str>) = ("POST", Some("/helloworld"), None);
    tracing::event!(
        target: TARGET,
        Level::INFO,
        http.request.method = %method,
        http.route = route,
        http.response.status_code = 200u16,
        error.type = error_type,
        duration_ms = 0.187,
        "request answered"
    );
}

/// One invocation as lambda-otel's service sees it: the span made, entered for the handler, the status recorded, the
/// line logged inside it, the span closed.
fn invocation() {
    let span = invocation_span();
    span.in_scope(|| {});
    span.record("http.response.status_code", 200i64);
    span.in_scope(request_answered);
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Line,
    Invocation,
}

impl Scenario {
    const ALL: [Scenario; 2] = [Scenario::Line, Scenario::Invocation];

    fn name(self) -> &'static str {
        match self {
            Scenario::Line => "line",
            Scenario::Invocation => "invocation",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Formatter {
    /// No log output at all: the floor every formatter is measured over (the dispatch, the OpenTelemetry layer).
    NoOutput,
    /// logs.rs, as the function runs it (the default JSON format).
    HandWritten,
    /// logs.rs with `AWS_LAMBDA_LOG_FORMAT=Text`.
    HandWrittenText,
    /// json-subscriber, configured to write the contract's line.
    JsonSubscriber,
    /// json-subscriber with its own OpenTelemetry ids.
    JsonSubscriberOwnIds,
    /// tracing-subscriber's `json` format.
    TracingSubscriberJson,
}

impl Formatter {
    const ALL: [Formatter; 6] = [
        Formatter::NoOutput,
        Formatter::HandWritten,
        Formatter::JsonSubscriber,
        Formatter::JsonSubscriberOwnIds,
        Formatter::TracingSubscriberJson,
        Formatter::HandWrittenText,
    ];

    fn name(self) -> &'static str {
        match self {
            Formatter::NoOutput => "no-output",
            Formatter::HandWritten => "hand-written",
            Formatter::HandWrittenText => "hand-written-text",
            Formatter::JsonSubscriber => "json-subscriber",
            Formatter::JsonSubscriberOwnIds => "json-subscriber-own-ids",
            Formatter::TracingSubscriberJson => "tracing-subscriber-json",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Formatter::NoOutput => "no log output (the OpenTelemetry layer alone: the floor)",
            Formatter::HandWritten => "hand-written (logs.rs, JSON)",
            Formatter::HandWrittenText => "hand-written (logs.rs, `AWS_LAMBDA_LOG_FORMAT=Text`)",
            Formatter::JsonSubscriber => "json-subscriber 0.3, the contract's keys (ids from span extensions)",
            Formatter::JsonSubscriberOwnIds => "json-subscriber 0.3, `with_opentelemetry_ids`",
            Formatter::TracingSubscriberJson => "tracing-subscriber 0.3 `json()`, flattened, no span fields",
        }
    }

    fn from_name(name: &str) -> Option<Formatter> {
        Formatter::ALL.into_iter().find(|formatter| formatter.name() == name)
    }

    /// The whole subscriber with this formatter writing to `sink`: the function's, or the same layers (the
    /// OpenTelemetry layer and its filter, the output's filter) around another formatter.
    fn dispatch(self, sink: Sink) -> Dispatch {
        let tracer = tracer();
        match self {
            Formatter::NoOutput => Dispatch::new(Registry::default().with(opentelemetry_layer(tracer))),
            Formatter::HandWritten => Dispatch::new(lambda_otel::log_subscriber(&[], tracer, sink)),
            Formatter::HandWrittenText => {
                Dispatch::new(lambda_otel::log_subscriber(&[("AWS_LAMBDA_LOG_FORMAT", "Text")], tracer, sink))
            }
            Formatter::JsonSubscriber => {
                let mut output = json_subscriber::JsonLayer::new(sink);
                output.with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime);
                output.with_level("level");
                output.with_target("target");
                output.with_flattened_event();
                output.add_multiple_dynamic_fields(|event, context, fields| {
                    // As logs.rs does: the innermost span that has each id.
                    let (mut ids, mut request_id) = (None, None);
                    for span in context.event_scope(event).into_iter().flatten() {
                        let extensions = span.extensions();
                        ids = ids.or_else(|| extensions.get::<TraceIds>().copied());
                        request_id = request_id.or_else(|| extensions.get::<RequestId>().map(|id| id.0.clone()));
                    }
                    if let Some(ids) = ids {
                        let _ = fields.write_field("trace_id", format_args!("{}", ids.trace_id));
                        let _ = fields.write_field("span_id", format_args!("{}", ids.span_id));
                    }
                    if let Some(request_id) = request_id {
                        let _ = fields.write_field("request_id", request_id);
                    }
                });
                let subscriber = Registry::default()
                    .with(opentelemetry_layer(tracer))
                    .with(Correlation::default())
                    .with(output.with_filter(output_filter()));
                Dispatch::new(subscriber)
            }
            Formatter::JsonSubscriberOwnIds => {
                let mut output = json_subscriber::JsonLayer::new(sink);
                output.with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime);
                output.with_level("level");
                output.with_target("target");
                output.with_flattened_event();
                output.with_opentelemetry_ids(true);
                let subscriber =
                    Registry::default().with(opentelemetry_layer(tracer)).with(output.with_filter(output_filter()));
                Dispatch::new(subscriber)
            }
            Formatter::TracingSubscriberJson => {
                let output = tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(sink);
                let subscriber =
                    Registry::default().with(opentelemetry_layer(tracer)).with(output.with_filter(output_filter()));
                Dispatch::new(subscriber)
            }
        }
    }
}

/// A tracer that samples every span, as the function's does, and sends ended spans nowhere: what happens to them is
/// the same whatever formats the logs.
fn tracer() -> SdkTracer {
    SdkTracerProvider::builder().build().tracer("log_line")
}

/// lambda-otel's OpenTelemetry layer: the same options, and lambda-otel's spans (and warnings) only.
fn opentelemetry_layer<S>(tracer: SdkTracer) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(filter_fn(|metadata| traced(metadata) && (metadata.is_span() || *metadata.level() <= Level::WARN)))
}

fn traced(metadata: &Metadata<'_>) -> bool {
    metadata.target().strip_prefix("lambda_otel").is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// lambda-otel's output filter: the traced spans, and what the log level (INFO by default) lets through.
fn output_filter() -> tracing_subscriber::filter::FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    let levels = Targets::new().with_default(LevelFilter::INFO);
    filter_fn(move |metadata| {
        (metadata.is_span() && traced(metadata)) || levels.would_enable(metadata.target(), metadata.level())
    })
}

#[derive(Debug, Clone, Copy)]
struct TraceIds {
    trace_id: opentelemetry::trace::TraceId,
    span_id: opentelemetry::trace::SpanId,
}

#[derive(Debug, Clone)]
struct RequestId(String);

/// What logs.rs's `Correlation` (private to lambda-otel) does, for the json-subscriber that writes the contract's
/// line: the request id of the span that has one, and each span's OpenTelemetry ids once it is entered.
#[derive(Default)]
struct Correlation {
    dispatch: OnceLock<WeakDispatch>,
}

struct FieldValue {
    name: &'static str,
    value: Option<String>,
}

impl Visit for FieldValue {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.name {
            self.value = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.name {
            self.value = Some(format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for Correlation
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    fn on_new_span(&self, attributes: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut request_id = FieldValue { name: "faas.invocation_id", value: None };
        attributes.record(&mut request_id);
        if let (Some(value), Some(span)) = (request_id.value, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(value));
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if span.extensions().get::<TraceIds>().is_some() {
            return;
        }
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        let Some(context) = dispatch.and_then(|dispatch| tracing_opentelemetry::get_otel_context(id, &dispatch)) else {
            return;
        };
        let otel_span = context.span();
        let span_context = otel_span.span_context();
        if span_context.is_valid() {
            let ids = TraceIds { trace_id: span_context.trace_id(), span_id: span_context.span_id() };
            span.extensions_mut().insert(ids);
        }
    }
}

/// An in-memory log: the lines are copied into a buffer, emptied when it holds 64 KiB, as a buffered stdout would be
/// flushed; the last line is kept for checking.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Buffer>>);

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    last_line: usize,
}

/// Bytes written over the whole run, so that no write can be optimized away.
static WRITTEN: AtomicU64 = AtomicU64::new(0);

impl Sink {
    fn last_line(&self) -> String {
        let buffer = self.0.lock().unwrap();
        String::from_utf8_lossy(&buffer.bytes[buffer.last_line..]).trim_end().to_string()
    }
}

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut buffer = self.0.lock().unwrap();
        if buffer.bytes.len() + bytes.len() > 64 * 1024 {
            buffer.bytes.clear();
        }
        buffer.last_line = buffer.bytes.len();
        buffer.bytes.extend_from_slice(bytes);
        WRITTEN.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'writer> MakeWriter<'writer> for Sink {
    type Writer = Sink;

    fn make_writer(&'writer self) -> Sink {
        self.clone()
    }
}

/// A formatter's subscriber, ready to log: the span of the line scenario made and entered once.
struct Subject {
    formatter: Formatter,
    dispatch: Dispatch,
    span: Span,
    sink: Sink,
}

impl Subject {
    fn new(formatter: Formatter) -> Self {
        let sink = Sink::default();
        let dispatch = formatter.dispatch(sink.clone());
        let span = dispatcher::with_default(&dispatch, || {
            let span = invocation_span();
            // Entered once before any line, as the handler's future is: the ids are assigned then.
            span.in_scope(|| {});
            span
        });
        Subject { formatter, dispatch, span, sink }
    }

    fn run(&self, scenario: Scenario, lines: usize) {
        dispatcher::with_default(&self.dispatch, || match scenario {
            Scenario::Line => self.span.in_scope(|| (0..lines).for_each(|_| request_answered())),
            Scenario::Invocation => (0..lines).for_each(|_| invocation()),
        });
    }

    /// The line of `scenario`, as written.
    fn line(&self, scenario: Scenario) -> String {
        self.run(scenario, 1);
        self.sink.last_line()
    }
}

/// Whether `line` has what docs/telemetry.md says a line has; what it lacks if not.
fn meets_contract(formatter: Formatter, line: &str) -> Result<(), String> {
    if formatter == Formatter::HandWrittenText {
        let expected =
            [" INFO ", ": request answered ", " trace_id=", " span_id=", &format!(" request_id={REQUEST_ID}")];
        let missing: Vec<&str> = expected.iter().copied().filter(|part| !line.contains(part)).collect();
        return if missing.is_empty() { Ok(()) } else { Err(format!("lacks {missing:?}")) };
    }
    let value: Value = serde_json::from_str(line).map_err(|error| format!("not JSON: {error}"))?;
    let mut missing: Vec<String> =
        CONTRACT_KEYS.iter().filter(|key| value.get(**key).is_none()).map(|key| format!("`{key}`")).collect();
    let hex = |key: &str, len: usize| {
        value
            .get(key)
            .is_none_or(|id| id.as_str().is_some_and(|id| id.len() == len && id.bytes().all(|b| b.is_ascii_hexdigit())))
    };
    if !hex("trace_id", 32) || !hex("span_id", 16) {
        missing.push("hex ids".to_string());
    }
    let expected = [
        ("level", Value::from("INFO")),
        ("message", Value::from("request answered")),
        ("target", Value::from(TARGET)),
        ("http.response.status_code", Value::from(200)),
        ("request_id", Value::from(REQUEST_ID)),
    ];
    for (key, expected) in expected {
        if value.get(key).is_some_and(|value| *value != expected) {
            missing.push(format!("`{key}` = {expected}"));
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(format!("lacks {}", missing.join(", "))) }
}

// ---------------------------------------------------------------------------------------------------------------
// Measures.

/// Nanoseconds per line of each round, for each formatter.
fn time(subjects: &[Subject], scenario: Scenario, rounds: usize, batch: usize) -> Vec<Vec<f64>> {
    let mut per_line = vec![Vec::with_capacity(rounds); subjects.len()];
    // One unmeasured round: caches, allocator pools and the buffers of each formatter settle.
    for subject in subjects {
        subject.run(scenario, batch);
    }
    for round in 0..rounds {
        for offset in 0..subjects.len() {
            let index = (round + offset) % subjects.len();
            let started = Instant::now();
            subjects[index].run(scenario, batch);
            per_line[index].push(started.elapsed().as_nanos() as f64 / batch as f64);
        }
    }
    per_line
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied().unwrap_or(0.0)
}

fn valgrind() -> String {
    std::env::var("VALGRIND").unwrap_or_else(|_| "valgrind".to_string())
}

/// Instructions this binary executes for `lines` lines of `scenario` (after the first), as callgrind counts them.
fn instructions(formatter: Formatter, scenario: Scenario, lines: usize) -> Result<u64, String> {
    let output = Command::new(valgrind())
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(std::env::current_exe().map_err(|error| error.to_string())?)
        .args(["--count", formatter.name(), scenario.name(), &lines.to_string()])
        .output()
        .map_err(|error| format!("{} cannot run: {error}", valgrind()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("callgrind failed: {}", stderr.lines().last().unwrap_or_default()));
    }
    // `==PID== Collected : 123456789`
    stderr
        .lines()
        .find_map(|line| line.split_once("Collected :").and_then(|(_, count)| count.trim().parse().ok()))
        .ok_or_else(|| format!("no instruction count in callgrind's output: {stderr}"))
}

/// Instructions per line: the difference between 1 + `lines` lines and 1 line, over `lines`.
fn instructions_per_line(formatter: Formatter, scenario: Scenario, lines: usize) -> Result<f64, String> {
    let base = instructions(formatter, scenario, 0)?;
    let counted = instructions(formatter, scenario, lines)?;
    Ok(counted.saturating_sub(base) as f64 / lines as f64)
}

/// `--count FORMATTER SCENARIO N`: one line, then N more, and nothing else, for callgrind.
fn count(args: &[String]) {
    let [formatter, scenario, lines] = args else { panic!("--count FORMATTER SCENARIO LINES") };
    let formatter = Formatter::from_name(formatter).expect("a formatter");
    let scenario = Scenario::ALL.into_iter().find(|known| known.name() == scenario).expect("a scenario");
    let subject = Subject::new(formatter);
    subject.run(scenario, 1);
    subject.run(scenario, lines.parse().expect("a number of lines"));
}

// ---------------------------------------------------------------------------------------------------------------
// Report.

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).filter(|n| *n >= 1).unwrap_or(default)
}

struct Measured {
    formatter: Formatter,
    nanos: Vec<f64>,
    instructions: Result<f64, String>,
}

fn relative(value: f64, base: f64) -> String {
    if base <= 0.0 { "–".to_string() } else { format!("{:+.0}%", (value / base - 1.0) * 100.0) }
}

fn table(text: &mut String, scenario: Scenario, measured: &[Measured]) {
    let row_of = |formatter| measured.iter().find(|row| row.formatter == formatter).expect("measured");
    let instructions = |row: &Measured| row.instructions.as_ref().ok().copied();
    let (floor, base) = (row_of(Formatter::NoOutput), row_of(Formatter::HandWritten));
    let base_ns = percentile(&base.nanos, 50.0);
    let unit = scenario.name();
    let _ = writeln!(
        text,
        "| formatter | ns/{unit} p50 | p90 | instructions/{unit} | the output's own (− no output) | vs hand-written: \
         ns p50 | instructions |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for row in measured {
        let p50 = percentile(&row.nanos, 50.0);
        let (count, own, versus) = match (instructions(row), instructions(floor), instructions(base)) {
            (Some(count), Some(floor), Some(base)) => (
                format!("{count:.0}"),
                format!("{:.0}", count - floor),
                format!("{:+.0} ({})", count - base, relative(count, base)),
            ),
            _ => (row.instructions.clone().err().unwrap_or_default(), "–".to_string(), "–".to_string()),
        };
        let _ = writeln!(
            text,
            "| {} | {p50:.0} | {:.0} | {count} | {own} | {:+.0} ({}) | {versus} |",
            row.formatter.describe(),
            percentile(&row.nanos, 90.0),
            p50 - base_ns,
            relative(p50, base_ns),
        );
    }
    text.push('\n');
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(position) = args.iter().position(|arg| arg == "--count") {
        return count(&args[position + 1..]);
    }
    let rounds = env_number("LOG_LINE_ROUNDS", 101);
    let batch = env_number("LOG_LINE_BATCH", 1000);
    let callgrind_lines = env_number("CALLGRIND_LINES", 5000);
    let subjects: Vec<Subject> = Formatter::ALL.into_iter().map(Subject::new).collect();

    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n## Log line: the hand-written formatter and maintained ones\n\n\
         What writing the invocation's `request answered` line costs `bootstrap` (`lambda-otel/benches/log_line.rs`): \
         the INFO event with method, route, status and `duration_ms` that lambda-otel logs after every response, \
         inside the invocation span (its OpenTelemetry ids assigned, `faas.invocation_id` set), through the \
         function's subscriber (OpenTelemetry layer, per-layer filters) with each formatter, into an in-memory buffer \
         (so stdout's write is not counted; it is the same for all). **line**: the span made and entered once, one line \
         after another. **invocation**: per line, the span made with the invocation's 14 fields, entered, its status \
         recorded, the line, the span closed: a formatter that stores span fields does that work before the response. \
         Time per line: {rounds} rounds of {batch} lines per formatter, interleaved, p50 and p90 of the rounds; \
         instructions per line: callgrind, 1 + {callgrind_lines} lines minus 1 line, over {callgrind_lines}. The \
         release profile (fat LTO). A 128 MB function has 7.2% of a vCPU: 1 µs of CPU here is about 14 µs billed \
         there.\n"
    );
    let _ = writeln!(
        text,
        "- date: {}\n- machine: {} ({} cores), {}\n- toolchain: {}\n- commit: {}\n- command: `cargo bench --locked -p \
         lambda-otel --bench log_line` (from `make bench`; LOG_LINE_ROUNDS={rounds} LOG_LINE_BATCH={batch} \
         CALLGRIND_LINES={callgrind_lines})\n- {}\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu_model(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        command_output("uname", &["-sr"]),
        command_output("rustc", &["--version"]),
        command_output("git", &["describe", "--always", "--dirty", "--abbrev=7"]),
        command_output(valgrind(), &["--version"]),
    );

    let _ = writeln!(text, "The line each formatter writes, and whether it is the one docs/telemetry.md specifies:\n");
    let _ = writeln!(text, "| formatter | bytes | the contract's line? |\n|---|---:|---|");
    let mut samples = Vec::new();
    for subject in &subjects {
        let line = subject.line(Scenario::Line);
        if subject.formatter == Formatter::NoOutput {
            continue;
        }
        let verdict = match meets_contract(subject.formatter, &line) {
            Ok(()) => "yes".to_string(),
            Err(why) => format!("**no**: {why}"),
        };
        let _ = writeln!(text, "| {} | {} | {verdict} |", subject.formatter.describe(), line.len() + 1);
        samples.push((subject.formatter, line));
    }
    text.push('\n');
    for (formatter, line) in &samples {
        let _ = writeln!(text, "- {}:\n  ```\n  {line}\n  ```", formatter.describe());
    }
    text.push('\n');

    for scenario in Scenario::ALL {
        eprintln!("{}: {rounds} rounds of {batch} per formatter", scenario.name());
        let nanos = time(&subjects, scenario, rounds, batch);
        let measured: Vec<Measured> = subjects
            .iter()
            .zip(nanos)
            .map(|(subject, nanos)| {
                eprintln!("{}: callgrind, {} {callgrind_lines} lines", scenario.name(), subject.formatter.name());
                let instructions = instructions_per_line(subject.formatter, scenario, callgrind_lines);
                Measured { formatter: subject.formatter, nanos, instructions }
            })
            .collect();
        let _ = writeln!(text, "### {}\n", scenario.name());
        table(&mut text, scenario, &measured);
    }
    eprintln!("{} bytes logged", WRITTEN.load(Ordering::Relaxed));
    print!("{text}");
}
