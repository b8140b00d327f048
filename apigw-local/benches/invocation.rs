//! What the release `bootstrap` costs to start, to invoke and to keep, under a Runtime API served here
//! (tests/common/runtime_host.rs), with telemetry off (`OTEL_SDK_DISABLED=true`) and on (tests/common/otlp.rs: a
//! healthy, refusing, hanging or slow collector), side by side with a peer (the project's Python port of the tutorial's
//! handler, run locally under AWS's Runtime Interface Client, benches/peer/tutorial.py) and a null function (examples/null_function.rs, the host's own
//! share). Prints the top of BENCHMARKS.md (markdown) on stdout, progress on stderr: `make bench`.
//!
//! - cold start: process spawned → first `GET /next`, and → first response (the event is queued before the spawn);
//!   `COLD_STARTS` spawns of each function (default 50), interleaved so that drift hits every function alike;
//! - latency: event handed out → response posted (what the caller waits for), `INVOCATIONS` in a row (default 2000);
//! - flush: response posted → next event asked for (what Lambda bills after the response: telemetry's flush);
//! - Runtime API connections: the TCP connections a process opened to the Runtime API over a run;
//! - footprint: the size of `bootstrap` and of the image layer it makes, and its memory after
//!   `FOOTPRINT_INVOCATIONS` invocations (default 10,000).
//!
//! Each target of the issue is checked here, and the report says by how much a missed one is missed.

#[path = "common/machine.rs"]
mod machine;
#[path = "../tests/common/otlp.rs"]
mod otlp;
#[path = "../tests/common/runtime_host.rs"]
mod runtime_host;
#[path = "common/stats.rs"]
mod stats;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use machine::{command_output, cpu_model};
use otlp::{Mode, Protocol, Receiver, refusing_endpoint};
use runtime_host::{Event, Function, RuntimeHost, apigw_event};
use serde_json::Value;
use stats::{ms, percentile};

/// A scenario stops after this long and reports what it measured (a collector that is not bounded would otherwise
/// take hours).
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);
/// `LAMBDA_OTEL_FLUSH_TIMEOUT_MS`: the deadline a hanging or slow collector must not push the flush past.
const FLUSH_TIMEOUT_MS: u64 = 100;
const SLOW_COLLECTOR: Duration = Duration::from_millis(20);
/// What every function must answer to the benchmark's event (the seed's POST).
const GREETING: &str = "Good evening, John of Seattle. Happy Thursday!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collector {
    Off,
    Healthy(Protocol),
    Refusing,
    Hanging,
    Slow,
}

/// What is started against the Runtime API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Bootstrap(Collector),
    Null,
    Peer,
}

impl Subject {
    const ON: Subject = Subject::Bootstrap(Collector::Healthy(Protocol::HttpProtobuf));
    const OFF: Subject = Subject::Bootstrap(Collector::Off);

    fn describe(self) -> &'static str {
        match self {
            Subject::Bootstrap(Collector::Off) => "off (`OTEL_SDK_DISABLED=true`)",
            Subject::Bootstrap(Collector::Healthy(Protocol::HttpProtobuf)) => "on, healthy collector (HTTP/protobuf)",
            Subject::Bootstrap(Collector::Healthy(Protocol::Grpc)) => "on, healthy collector (gRPC)",
            Subject::Bootstrap(Collector::Refusing) => "on, collector refusing connections",
            Subject::Bootstrap(Collector::Hanging) => "on, collector accepting and never answering",
            Subject::Bootstrap(Collector::Slow) => "on, collector answering after 20 ms",
            Subject::Null => "null function",
            Subject::Peer => "Python peer",
        }
    }
}

/// Where the functions are.
struct Setup {
    bootstrap: PathBuf,
    null_function: PathBuf,
    python: PathBuf,
    /// The directory of `tutorial.py`.
    peer_dir: PathBuf,
    /// "Python 3.11.7 + awslambdaric 4.2.2".
    peer: String,
}

impl Setup {
    fn from_env() -> Self {
        let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let path = |variable: &str, default: &str| {
            std::env::var_os(variable).map(PathBuf::from).unwrap_or_else(|| manifest_dir.join(default))
        };
        let bootstrap = path("BOOTSTRAP", "../target/release/bootstrap");
        let null_function = path("NULL_FUNCTION", "../target/release/examples/null_function");
        let python = path("PEER_PYTHON", "../.tools/venv/bin/python");
        for (file, how) in [
            (&bootstrap, "cargo build --release --workspace"),
            (&null_function, "cargo build --release -p apigw-local --example null_function"),
            (&python, "make bench-tools"),
        ] {
            assert!(file.exists(), "{} is missing: {how}", file.display());
        }
        let version = command_output(
            &python,
            &[
                "-c",
                "import importlib.metadata as m, platform; print(platform.python_version(), m.version('awslambdaric'))",
            ],
        );
        let Some((python_version, ric_version)) = version.split_once(' ') else {
            panic!("{} has no awslambdaric: make bench-tools", python.display());
        };
        let peer = format!("Python {python_version} + awslambdaric {ric_version}");
        Self { bootstrap, null_function, python, peer_dir: manifest_dir.join("benches/peer"), peer }
    }

    /// The collector a subject runs against, if it needs one served here.
    async fn receiver(subject: Subject) -> Option<Receiver> {
        match subject {
            Subject::Bootstrap(Collector::Healthy(protocol)) => Some(Receiver::start(protocol, Mode::Normal).await),
            Subject::Bootstrap(Collector::Hanging) => Some(Receiver::start(Protocol::HttpProtobuf, Mode::Hang).await),
            Subject::Bootstrap(Collector::Slow) => {
                Some(Receiver::start(Protocol::HttpProtobuf, Mode::Slow(SLOW_COLLECTOR)).await)
            }
            _ => None,
        }
    }

    /// The name of a function in the cold start, peer and footprint tables.
    fn name(&self, subject: Subject) -> String {
        match subject {
            Subject::Bootstrap(Collector::Off) => "`bootstrap`, telemetry off".to_string(),
            Subject::Bootstrap(_) => "`bootstrap`, telemetry on (healthy collector)".to_string(),
            Subject::Null => "null function (`examples/null_function.rs`: host and spawn alone)".to_string(),
            Subject::Peer => format!("{}, the tutorial's handler", self.peer),
        }
    }

    fn function(&self, subject: Subject, receiver: Option<&Receiver>) -> Function {
        let function = match subject {
            Subject::Bootstrap(collector) => {
                let function =
                    Function::new(&self.bootstrap).env("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", &FLUSH_TIMEOUT_MS.to_string());
                match collector {
                    Collector::Off => function.env("OTEL_SDK_DISABLED", "true"),
                    Collector::Refusing => function.env("OTEL_EXPORTER_OTLP_ENDPOINT", &refusing_endpoint()),
                    _ => function.envs(receiver.expect("a collector is served for this subject").env()),
                }
            }
            Subject::Null => Function::new(&self.null_function),
            // How a Lambda Python runtime starts the handler. No bytecode is written, as on Lambda's read-only /var/task
            // (and so nothing lands in the source tree).
            Subject::Peer => Function::new(&self.python)
                .arg("-m")
                .arg("awslambdaric")
                .arg("tutorial.handler")
                .env("PYTHONPATH", self.peer_dir.to_str().expect("a UTF-8 path"))
                .env("PYTHONDONTWRITEBYTECODE", "1"),
        };
        function.quiet()
    }
}

/// The function's own memory, from /proc/PID/status.
#[derive(Debug, Clone, Copy)]
struct Memory {
    /// VmRSS, bytes: resident now.
    rss: u64,
    /// VmHWM, bytes: the most ever resident.
    hwm: u64,
}

fn memory(host: &RuntimeHost) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", host.pid()?)).ok()?;
    let field = |name: &str| {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    };
    Some(Memory { rss: field("VmRSS:")?, hwm: field("VmHWM:")? })
}

/// Checks that a function answered the benchmark's event with the tutorial's greeting.
fn assert_greeting(subject: Subject, response: &Value) {
    assert_eq!(response["statusCode"], 200, "{subject:?} answered {response}");
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|error| panic!("{subject:?} answered a body that is not JSON ({error}): {response}"));
    assert_eq!(body["greeting"], GREETING, "{subject:?} answered {response}");
}

/// One process invoked many times in a row.
struct Run {
    subject: Subject,
    cold_latency: Duration,
    cold_flush: Duration,
    /// Warm invocations (all but the first), sorted.
    latencies: Vec<Duration>,
    flushes: Vec<Duration>,
    /// The longest flush, the cold one included.
    max_flush: Duration,
    runtime_connections: usize,
    exported_spans: Option<usize>,
    memory: Option<Memory>,
}

async fn run(setup: &Setup, subject: Subject, invocations: usize, template: &Value) -> Run {
    let receiver = Setup::receiver(subject).await;
    let host = setup.function(subject, receiver.as_ref()).start().await;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(invocations);
    let mut flushes = Vec::with_capacity(invocations);
    for done in 0..invocations {
        if started.elapsed() > SCENARIO_LIMIT {
            eprintln!("  stopped after {done} invocations ({SCENARIO_LIMIT:?})");
            break;
        }
        let invocation = host.invoke_and_wait_for_next(Event::apigw(template.clone()), Duration::from_secs(60)).await;
        if done == 0 {
            assert_greeting(subject, &invocation.response_json());
        }
        latencies.push(invocation.latency().unwrap());
        flushes.push(invocation.flush_gap().unwrap());
        if done % 2000 == 0 {
            eprintln!("  {done}/{invocations}");
        }
    }
    let memory = memory(&host);
    let runtime_connections = host.log().runtime_connections();
    let exported_spans = match (subject, &receiver) {
        (Subject::Bootstrap(Collector::Healthy(_)), Some(receiver)) => Some(receiver.received().spans.len()),
        _ => None,
    };
    let max_flush = flushes.iter().copied().max().unwrap_or_default();
    let (cold_latency, cold_flush) = (latencies.remove(0), flushes.remove(0));
    latencies.sort();
    flushes.sort();
    Run {
        subject,
        cold_latency,
        cold_flush,
        latencies,
        flushes,
        max_flush,
        runtime_connections,
        exported_spans,
        memory,
    }
}

/// Spawn → first `GET /next` and spawn → first response, each sorted.
struct ColdStarts {
    subject: Subject,
    to_next: Vec<Duration>,
    to_response: Vec<Duration>,
}

#[derive(Clone, Copy)]
enum ColdMetric {
    ToNext,
    ToResponse,
}

impl ColdMetric {
    fn describe(self) -> &'static str {
        match self {
            ColdMetric::ToNext => "spawn → first `GET /next`",
            ColdMetric::ToResponse => "spawn → first response",
        }
    }
}

impl ColdStarts {
    fn at(&self, metric: ColdMetric, p: f64) -> Duration {
        match metric {
            ColdMetric::ToNext => percentile(&self.to_next, p),
            ColdMetric::ToResponse => percentile(&self.to_response, p),
        }
    }

    fn count(&self) -> String {
        self.to_next.len().to_string()
    }
}

/// `rounds` cold starts of each subject; every round starts each once, in an order that rotates from round to round,
/// so that drift and whatever one start leaves behind (page cache, CPU frequency) hit them all alike.
async fn cold_starts(setup: &Setup, subjects: &[Subject], rounds: usize, template: &Value) -> Vec<ColdStarts> {
    let receiver = Setup::receiver(Subject::ON).await;
    let mut measured: Vec<ColdStarts> =
        subjects.iter().map(|&subject| ColdStarts { subject, to_next: Vec::new(), to_response: Vec::new() }).collect();
    for round in 0..rounds {
        for offset in 0..measured.len() {
            let starts = &mut measured[(round + offset) % subjects.len()];
            let function = setup.function(starts.subject, receiver.as_ref());
            let mut host = function.start_with_queued(vec![Event::apigw(template.clone())]).await;
            let (first_next, invocation) = host
                .wait_for("the first response", Duration::from_secs(30), |log| {
                    let first = log.invocations.first().filter(|invocation| invocation.outcome.is_some())?;
                    Some((log.next_requests[0], first.clone()))
                })
                .await;
            if round == 0 {
                assert_greeting(starts.subject, &invocation.response_json());
            }
            starts.to_next.push(first_next - host.spawned());
            starts.to_response.push(invocation.posted.unwrap() - host.spawned());
            host.kill().await;
        }
        if round % 10 == 0 {
            eprintln!("  round {round}/{rounds}");
        }
    }
    for starts in &mut measured {
        starts.to_next.sort();
        starts.to_response.sort();
    }
    measured
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn ratio(numerator: Duration, denominator: Duration) -> f64 {
    numerator.as_secs_f64() / denominator.as_secs_f64()
}

/// Megabytes of 10^6 bytes, as the targets are stated.
fn mb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1e6)
}

/// Signed difference in microseconds: `+62 µs`.
fn added_micros(value: Duration, base: Duration) -> String {
    format!("{:+.0} µs", (value.as_secs_f64() - base.as_secs_f64()) * 1e6)
}

/// `value − null`: a function's own share of a time that the Runtime API host and spawning also take.
fn own_share(value: Duration, null: Duration) -> String {
    format!("{:.2}", millis(value) - millis(null))
}

/// How a target bounds what is measured.
#[derive(Clone, Copy)]
enum Bound {
    /// measured < target
    Below,
    /// measured ≤ target
    AtMost,
    /// measured ≥ target
    AtLeast,
}

/// One target of the issue, checked.
struct Verdict {
    target: String,
    measured: String,
    met: String,
}

/// "yes", or by how much `value` misses `limit` (both shown by `show`).
fn judge(value: f64, bound: Bound, limit: f64, show: impl Fn(f64) -> String) -> String {
    let met = match bound {
        Bound::Below => value < limit,
        Bound::AtMost => value <= limit,
        Bound::AtLeast => value >= limit,
    };
    if met {
        "yes".to_string()
    } else if let Bound::AtLeast = bound {
        format!("**no**: {} short ({:.0} % of the target)", show(limit - value), 100.0 * value / limit)
    } else {
        format!("**no**: {} over ({:.2}× the target)", show(value - limit), value / limit)
    }
}

impl Verdict {
    fn check(target: String, value: f64, bound: Bound, limit: f64, show: impl Fn(f64) -> String) -> Self {
        Self { target, measured: show(value), met: judge(value, bound, limit, &show) }
    }

    /// [`Self::check`], with `measured` shown as given instead.
    fn with_measured(mut self, measured: String) -> Self {
        self.measured = measured;
        self
    }
}

fn show_ms(value: f64) -> String {
    format!("{value:.2} ms")
}

fn show_micros(value: f64) -> String {
    format!("{value:.0} µs")
}

fn show_times(value: f64) -> String {
    format!("{value:.2}×")
}

fn show_mb(value: f64) -> String {
    format!("{:.2} MB", value / 1e6)
}

fn show_count(value: f64) -> String {
    format!("{value:.0}")
}

fn verdicts(text: &mut String, verdicts: &[Verdict]) {
    let _ = writeln!(text, "| target | measured | met? |\n|---|---:|---|");
    for verdict in verdicts {
        let _ = writeln!(text, "| {} | {} | {} |", verdict.target, verdict.measured, verdict.met);
    }
    text.push('\n');
}

/// Names of an ELF64 little-endian file's sections; `None` if it is not one.
fn elf_sections(file: &[u8]) -> Option<Vec<String>> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(file.get(at..at + 2)?.try_into().ok()?) as usize);
    let u64_at = |at: usize| Some(u64::from_le_bytes(file.get(at..at + 8)?.try_into().ok()?) as usize);
    if file.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (offset, entry_size, count, names_index) = (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
    let header = |index: usize| offset + index * entry_size;
    let names = u64_at(header(names_index) + 0x18)?;
    (0..count)
        .map(|index| {
            let start =
                names + u32::from_le_bytes(file.get(header(index)..header(index) + 4)?.try_into().ok()?) as usize;
            let end = start + file.get(start..)?.iter().position(|&byte| byte == 0)?;
            Some(String::from_utf8_lossy(&file[start..end]).into_owned())
        })
        .collect()
}

/// "yes" when the binary carries no symbol table and no debug info.
fn stripped(path: &Path) -> String {
    let Some(sections) = std::fs::read(path).ok().and_then(|file| elf_sections(&file)) else {
        return "unknown (not an ELF64 file)".to_string();
    };
    let kept: Vec<&str> =
        sections.iter().map(String::as_str).filter(|name| *name == ".symtab" || name.starts_with(".debug")).collect();
    if kept.is_empty() {
        "yes (no `.symtab`, no `.debug_*`)".to_string()
    } else {
        format!("**no**: {}", kept.join(", "))
    }
}

/// The layer `COPY --from=build-bootstrap /out/bootstrap /var/runtime/bootstrap` adds: a tar of the file and its two
/// parent directories (a 512-byte header each, the content padded to 512, two 512-byte blocks at the end), and the
/// file gzipped, which is within a few hundred bytes of the gzipped layer a registry stores and Lambda pulls.
fn layer_sizes(binary: &Path) -> (u64, Option<u64>) {
    let size = std::fs::metadata(binary).map(|metadata| metadata.len()).unwrap_or(0);
    let tar = 3 * 512 + size.div_ceil(512) * 512 + 1024;
    let gzip = Command::new("gzip")
        .args(["-6", "-c"])
        .arg(binary)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| output.stdout.len() as u64);
    (tar, gzip)
}

struct Sizes {
    invocations: usize,
    cold_starts: usize,
    footprint_invocations: usize,
}

struct Results {
    cold: Vec<ColdStarts>,
    telemetry: Vec<Run>,
    peers: Vec<Run>,
    footprint: Vec<Run>,
}

impl Results {
    fn cold(&self, subject: Subject) -> &ColdStarts {
        self.cold.iter().find(|starts| starts.subject == subject).expect("measured")
    }

    fn run(&self, subject: Subject) -> &Run {
        self.telemetry.iter().chain(&self.peers).find(|run| run.subject == subject).expect("measured")
    }
}

fn header(text: &mut String, sizes: &Sizes) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(
        text,
        "# Benchmarks\n\n\
         Written by `make bench`. The sections from Cold start to Footprint come from \
         `apigw-local/benches/invocation.rs`: what the release `bootstrap` costs to start, to invoke and to keep, with \
         telemetry off (`OTEL_SDK_DISABLED=true`) and on, side by side with the project's Python port of the tutorial's \
         handler, run locally under AWS's Runtime Interface Client, and with a null function. Every function runs as a \
         process of its own against a Lambda Runtime API served by the benchmark, which hands it the seed's POST event \
         and checks the tutorial's greeting in its answer. Each target of the benchmark issue is checked in its \
         section's table, and a missed one says by how much. Times in milliseconds unless marked; MB = 10⁶ bytes; \
         percentiles are nearest-rank.\n"
    );
    let _ = writeln!(
        text,
        "- date: {}\n- machine: {} ({cores} cores), {}\n- toolchain: {}\n- commit: {}\n- command: `make bench` \
         (INVOCATIONS={} COLD_STARTS={} FOOTPRINT_INVOCATIONS={})\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu_model(),
        command_output("uname", &["-sr"]),
        command_output("rustc", &["--version"]),
        command_output("git", &["describe", "--always", "--dirty", "--abbrev=7"]),
        sizes.invocations,
        sizes.cold_starts,
        sizes.footprint_invocations,
    );
}

fn cold_start_section(text: &mut String, results: &Results, setup: &Setup, rounds: usize) {
    let (off, on, null, peer) = (
        results.cold(Subject::OFF),
        results.cold(Subject::ON),
        results.cold(Subject::Null),
        results.cold(Subject::Peer),
    );
    let _ = writeln!(
        text,
        "## Cold start\n\n\
         Process spawned → its first `GET /next` (init), and → its first response posted (the event was queued before \
         the spawn). {rounds} spawns of each function, interleaved round by round in a rotating order. Telemetry on \
         exports to a healthy collector (HTTP/protobuf). The null function is the floor that spawning a process and \
         this Runtime API host set; \"own share\" is a function's time minus the null function's.\n"
    );
    let _ = writeln!(
        text,
        "| function | n | spawn → first `GET /next` p50 | p95 | spawn → first response p50 | p95 |\n\
         |---|---:|---:|---:|---:|---:|"
    );
    // Each row: its four cells from one function's (or two functions') percentile at each cold start metric.
    let cells = |cell: &dyn Fn(ColdMetric, f64) -> String| {
        [
            (ColdMetric::ToNext, 50.0),
            (ColdMetric::ToNext, 95.0),
            (ColdMetric::ToResponse, 50.0),
            (ColdMetric::ToResponse, 95.0),
        ]
        .map(|(metric, p)| cell(metric, p))
        .join(" | ")
    };
    let mut row = |name: String, n: String, cell: &dyn Fn(ColdMetric, f64) -> String| {
        let _ = writeln!(text, "| {name} | {n} | {} |", cells(cell));
    };
    for (subject, starts) in [(Subject::OFF, off), (Subject::ON, on)] {
        row(setup.name(subject), starts.count(), &|metric, p| ms(starts.at(metric, p)));
    }
    row("telemetry on ÷ off".into(), String::new(), &|metric, p| {
        show_times(ratio(on.at(metric, p), off.at(metric, p)))
    });
    row(setup.name(Subject::Null), null.count(), &|metric, p| ms(null.at(metric, p)));
    row("`bootstrap` on, own share (− null)".into(), String::new(), &|metric, p| {
        own_share(on.at(metric, p), null.at(metric, p))
    });
    row(setup.name(Subject::Peer), peer.count(), &|metric, p| ms(peer.at(metric, p)));
    row("Python peer, own share (− null)".into(), String::new(), &|metric, p| {
        own_share(peer.at(metric, p), null.at(metric, p))
    });
    row("Python peer ÷ `bootstrap` on".into(), String::new(), &|metric, p| {
        show_times(ratio(peer.at(metric, p), on.at(metric, p)))
    });
    text.push('\n');

    let mut checks = Vec::new();
    for metric in [ColdMetric::ToNext, ColdMetric::ToResponse] {
        checks.push(Verdict::check(
            format!("telemetry on ≤ 1.2× off ({}, p50)", metric.describe()),
            ratio(on.at(metric, 50.0), off.at(metric, 50.0)),
            Bound::AtMost,
            1.2,
            show_times,
        ));
    }
    for metric in [ColdMetric::ToNext, ColdMetric::ToResponse] {
        checks.push(Verdict::check(
            format!("telemetry on < 5 ms ({}, p50)", metric.describe()),
            millis(on.at(metric, 50.0)),
            Bound::Below,
            5.0,
            show_ms,
        ));
    }
    verdicts(text, &checks);
}

fn telemetry_section(text: &mut String, results: &Results, invocations: usize) {
    let off = results.run(Subject::OFF);
    let _ = writeln!(
        text,
        "## Invocation latency and flush\n\n\
         One `bootstrap` process per row, invoked {invocations} times in a row. **Latency** is event handed out → \
         response posted (what the caller waits for); **flush** is response posted → next event asked for (billed time \
         after the response, where telemetry is flushed; `LAMBDA_OTEL_FLUSH_TIMEOUT_MS={FLUSH_TIMEOUT_MS}`). \
         Percentiles leave out the first (cold) invocation, shown on its own; the flush max includes it. \
         **Connections** are the TCP connections the process opened to the Runtime API over the run (the Extensions \
         API's are not counted).\n"
    );
    let _ = writeln!(
        text,
        "| telemetry | n | latency p50 | p95 | p99 | p50 vs off | flush p50 | p95 | p99 | max | cold latency | \
         cold flush | connections | spans exported |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for run in &results.telemetry {
        let (latency, flush) = (&run.latencies, &run.flushes);
        let versus_off = if run.subject == Subject::OFF {
            "–".to_string()
        } else {
            let (p50, off_p50) = (percentile(latency, 50.0), percentile(&off.latencies, 50.0));
            format!("{} ({})", added_micros(p50, off_p50), show_times(ratio(p50, off_p50)))
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {versus_off} | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.subject.describe(),
            latency.len(),
            ms(percentile(latency, 50.0)),
            ms(percentile(latency, 95.0)),
            ms(percentile(latency, 99.0)),
            ms(percentile(flush, 50.0)),
            ms(percentile(flush, 95.0)),
            ms(percentile(flush, 99.0)),
            ms(run.max_flush),
            ms(run.cold_latency),
            ms(run.cold_flush),
            run.runtime_connections,
            run.exported_spans.map_or("–".to_string(), |spans| spans.to_string()),
        );
    }
    text.push('\n');

    let mut checks = Vec::new();
    let off_p50 = percentile(&off.latencies, 50.0);
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let on = results.run(Subject::Bootstrap(Collector::Healthy(protocol)));
        checks.push(Verdict::check(
            format!("telemetry adds < 50 µs at p50 ({})", on.subject.describe()),
            (percentile(&on.latencies, 50.0).as_secs_f64() - off_p50.as_secs_f64()) * 1e6,
            Bound::Below,
            50.0,
            show_micros,
        ));
    }
    let worst_p99 =
        results.telemetry.iter().max_by_key(|run| percentile(&run.latencies, 99.0)).expect("at least one scenario");
    let on = results.run(Subject::ON);
    checks.push(Verdict::check(
        format!("warm latency p99 < 0.3 ms ({})", on.subject.describe()),
        millis(percentile(&on.latencies, 99.0)),
        Bound::Below,
        0.3,
        show_ms,
    ));
    checks.push(
        Verdict::check(
            "warm latency p99 < 0.3 ms (every scenario)".to_string(),
            millis(percentile(&worst_p99.latencies, 99.0)),
            Bound::Below,
            0.3,
            show_ms,
        )
        .with_measured(format!(
            "worst: {} ({})",
            show_ms(millis(percentile(&worst_p99.latencies, 99.0))),
            worst_p99.subject.describe()
        )),
    );
    let flush_p99 = |run: &Run, limit: f64| {
        let (p50, p99) = (millis(percentile(&run.flushes, 50.0)), millis(percentile(&run.flushes, 99.0)));
        Verdict::check(
            format!("flush p99 < {limit} ms ({})", run.subject.describe()),
            p99,
            Bound::Below,
            limit,
            show_ms,
        )
        .with_measured(format!("{} (p50 {})", show_ms(p99), show_ms(p50)))
    };
    checks.push(flush_p99(results.run(Subject::ON), 2.0));
    checks.push(flush_p99(results.run(Subject::Bootstrap(Collector::Healthy(Protocol::Grpc))), 2.0));
    checks.push(flush_p99(results.run(Subject::Bootstrap(Collector::Refusing)), 5.0));
    for collector in [Collector::Hanging, Collector::Slow] {
        let run = results.run(Subject::Bootstrap(collector));
        checks.push(
            Verdict::check(
                format!(
                    "every flush ≤ the {FLUSH_TIMEOUT_MS} ms deadline, cold one included ({})",
                    run.subject.describe()
                ),
                millis(run.max_flush),
                Bound::AtMost,
                FLUSH_TIMEOUT_MS as f64,
                show_ms,
            )
            .with_measured(format!(
                "max {} (p99 {})",
                show_ms(millis(run.max_flush)),
                show_ms(millis(percentile(&run.flushes, 99.0)))
            )),
        );
    }
    checks.push(connections_verdict(&results.telemetry));
    verdicts(text, &checks);
}

/// One Runtime API connection per process, kept alive, in every run.
fn connections_verdict(runs: &[Run]) -> Verdict {
    let worst = runs.iter().max_by_key(|run| run.runtime_connections).expect("at least one run");
    let every = runs.iter().all(|run| run.runtime_connections == worst.runtime_connections);
    let measured = if every {
        format!("{} in every run", worst.runtime_connections)
    } else {
        format!("worst: {} ({})", worst.runtime_connections, worst.subject.describe())
    };
    Verdict::check(
        "one Runtime API connection per process, kept alive".to_string(),
        worst.runtime_connections as f64,
        Bound::AtMost,
        1.0,
        show_count,
    )
    .with_measured(measured)
}

fn peer_section(text: &mut String, results: &Results, setup: &Setup, invocations: usize) {
    let (on, off, null, peer) =
        (results.run(Subject::ON), results.run(Subject::OFF), results.run(Subject::Null), results.run(Subject::Peer));
    let (cold_on, cold_null, cold_peer) =
        (results.cold(Subject::ON), results.cold(Subject::Null), results.cold(Subject::Peer));
    let _ = writeln!(
        text,
        "## Peer: the tutorial's handler ported to Python, under AWS's Runtime Interface Client\n\n\
         The project's port of the tutorial's Node.js handler: the same steps in Python (`apigw-local/benches/peer/tutorial.py`: the same \
         greeting, logging and proxy response), run by AWS's Runtime Interface Client as `python -m awslambdaric \
         tutorial.handler` ({}), against the same Runtime API host as `bootstrap`, with the same event. Cold start from \
         the section above; latency, flush and connections over {invocations} invocations of one process; memory of \
         that process after them (VmRSS: resident; VmHWM: the peak). The peer has no telemetry, so `bootstrap` is \
         compared with telemetry on.\n",
        setup.peer
    );
    let _ = writeln!(
        text,
        "| function | cold start p50 | p95 | latency p50 | p99 | flush p50 | p99 | connections | VmRSS (MB) | VmHWM (MB) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let row = |text: &mut String, run: &Run| {
        let starts = results.cold(run.subject);
        let (rss, hwm) =
            run.memory.map_or(("?".to_string(), "?".to_string()), |memory| (mb(memory.rss), mb(memory.hwm)));
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {rss} | {hwm} |",
            setup.name(run.subject),
            ms(starts.at(ColdMetric::ToResponse, 50.0)),
            ms(starts.at(ColdMetric::ToResponse, 95.0)),
            ms(percentile(&run.latencies, 50.0)),
            ms(percentile(&run.latencies, 99.0)),
            ms(percentile(&run.flushes, 50.0)),
            ms(percentile(&run.flushes, 99.0)),
            run.runtime_connections,
        );
    };
    let share = |text: &mut String, name: &str, run: &Run| {
        let starts = results.cold(run.subject);
        let _ = writeln!(
            text,
            "| {name} | {} | {} | {} | {} | {} | {} | | | |",
            own_share(starts.at(ColdMetric::ToResponse, 50.0), cold_null.at(ColdMetric::ToResponse, 50.0)),
            own_share(starts.at(ColdMetric::ToResponse, 95.0), cold_null.at(ColdMetric::ToResponse, 95.0)),
            own_share(percentile(&run.latencies, 50.0), percentile(&null.latencies, 50.0)),
            own_share(percentile(&run.latencies, 99.0), percentile(&null.latencies, 99.0)),
            own_share(percentile(&run.flushes, 50.0), percentile(&null.flushes, 50.0)),
            own_share(percentile(&run.flushes, 99.0), percentile(&null.flushes, 99.0)),
        );
    };
    row(text, on);
    row(text, off);
    row(text, peer);
    row(text, null);
    share(text, "`bootstrap` on, own share (− null)", on);
    share(text, "Python peer, own share (− null)", peer);
    let memory_ratio = |field: fn(Memory) -> u64| match (peer.memory, on.memory) {
        (Some(theirs), Some(ours)) => show_times(field(theirs) as f64 / field(ours) as f64),
        _ => "?".to_string(),
    };
    let _ = writeln!(
        text,
        "| Python peer ÷ `bootstrap` on | {} | {} | {} | {} | {} | {} | | {} | {} |",
        show_times(ratio(cold_peer.at(ColdMetric::ToResponse, 50.0), cold_on.at(ColdMetric::ToResponse, 50.0))),
        show_times(ratio(cold_peer.at(ColdMetric::ToResponse, 95.0), cold_on.at(ColdMetric::ToResponse, 95.0))),
        show_times(ratio(percentile(&peer.latencies, 50.0), percentile(&on.latencies, 50.0))),
        show_times(ratio(percentile(&peer.latencies, 99.0), percentile(&on.latencies, 99.0))),
        show_times(ratio(percentile(&peer.flushes, 50.0), percentile(&on.flushes, 50.0))),
        show_times(ratio(percentile(&peer.flushes, 99.0), percentile(&on.flushes, 99.0))),
        memory_ratio(|memory| memory.rss),
        memory_ratio(|memory| memory.hwm),
    );
    text.push('\n');

    let mut checks = vec![Verdict::check(
        "cold start ≥ 10× better than the peer's (spawn → first response, p50)".to_string(),
        ratio(cold_peer.at(ColdMetric::ToResponse, 50.0), cold_on.at(ColdMetric::ToResponse, 50.0)),
        Bound::AtLeast,
        10.0,
        show_times,
    )];
    for p in [50.0, 99.0] {
        checks.push(
            Verdict::check(
                format!("latency p{p} lower than the peer's"),
                millis(percentile(&on.latencies, p)),
                Bound::Below,
                millis(percentile(&peer.latencies, p)),
                show_ms,
            )
            .with_measured(format!(
                "{} vs {}",
                show_ms(millis(percentile(&on.latencies, p))),
                show_ms(millis(percentile(&peer.latencies, p)))
            )),
        );
    }
    if let (Some(ours), Some(theirs)) = (on.memory, peer.memory) {
        for (name, field) in
            [("VmRSS", (|memory: Memory| memory.rss) as fn(Memory) -> u64), ("VmHWM", |memory| memory.hwm)]
        {
            checks.push(
                Verdict::check(
                    format!("{name} lower than the peer's"),
                    field(ours) as f64,
                    Bound::Below,
                    field(theirs) as f64,
                    show_mb,
                )
                .with_measured(format!(
                    "{} vs {}",
                    show_mb(field(ours) as f64),
                    show_mb(field(theirs) as f64)
                )),
            );
        }
    }
    checks.push(connections_verdict(std::slice::from_ref(peer)));
    verdicts(text, &checks);
}

fn footprint_section(text: &mut String, results: &Results, setup: &Setup, invocations: usize) {
    let _ = writeln!(
        text,
        "## Footprint\n\n\
         The release `bootstrap` as `make build` makes it (whether it is stripped is read from the ELF file); its memory \
         after \
         {invocations} invocations of one process; and the layer the Dockerfile's final stage adds to \
         `provided:al2023` (`COPY` of the static musl `bootstrap` that `scripts/build-static.sh` makes to \
         `/var/runtime/bootstrap`), computed without a Docker engine: a tar of that one file (and its two parent \
         directories), and its gzip size as a registry stores and Lambda pulls it (`gzip -6` of the file; the tar \
         headers add well under 1 kB).\n"
    );
    let _ = writeln!(text, "| what | measured | target | met? |\n|---|---:|---|---|");
    let size = std::fs::metadata(&setup.bootstrap).map(|metadata| metadata.len()).unwrap_or(0);
    let _ = writeln!(
        text,
        "| `target/release/bootstrap`, stripped: {} | {} ({size} bytes) | < 6 MB | {} |",
        stripped(&setup.bootstrap),
        show_mb(size as f64),
        judge(size as f64, Bound::Below, 6e6, show_mb),
    );
    for run in &results.footprint {
        let Some(memory) = run.memory else { continue };
        let name = setup.name(run.subject);
        let _ = writeln!(
            text,
            "| {name}: VmRSS after {invocations} invocations | {} | < 12 MB | {} |",
            show_mb(memory.rss as f64),
            judge(memory.rss as f64, Bound::Below, 12e6, show_mb),
        );
        let _ = writeln!(text, "| {name}: VmHWM (peak) over them | {} | – | – |", show_mb(memory.hwm as f64));
    }
    let static_binary =
        setup.bootstrap.parent().and_then(Path::parent).map(|target| target.join("static/amd64/bootstrap"));
    let (binary, which) = match static_binary.filter(|path| path.exists()) {
        Some(path) => {
            let stale = modified(&path) < modified(&setup.bootstrap);
            let note =
                if stale { ", older than `target/release/bootstrap`: rerun `scripts/build-static.sh`" } else { "" };
            let which = format!("static musl `target/static/amd64/bootstrap` ({} bytes{note})", file_size(&path));
            (path, which)
        }
        None => (
            setup.bootstrap.clone(),
            "`target/release/bootstrap` (the static musl build is not there: `scripts/build-static.sh` makes it)"
                .to_string(),
        ),
    };
    let (tar, gzip) = layer_sizes(&binary);
    let _ = writeln!(
        text,
        "| layer added to `provided:al2023`, from the {which} | tar {}, gzip {} | – | – |",
        show_mb(tar as f64),
        gzip.map_or("unknown (no gzip)".to_string(), |gzip| show_mb(gzip as f64)),
    );
    text.push('\n');
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|metadata| metadata.modified()).ok()
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|metadata| metadata.len()).unwrap_or(0)
}

fn size_from_env(variable: &str, default: usize) -> usize {
    std::env::var(variable).ok().and_then(|n| n.parse().ok()).filter(|n| *n >= 2).unwrap_or(default)
}

fn main() {
    let sizes = Sizes {
        invocations: size_from_env("INVOCATIONS", 2000),
        cold_starts: size_from_env("COLD_STARTS", 50),
        footprint_invocations: size_from_env("FOOTPRINT_INVOCATIONS", 10_000),
    };
    let setup = Setup::from_env();
    let template = apigw_event("POST");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let results = runtime.block_on(async {
        let cold_subjects = [Subject::OFF, Subject::ON, Subject::Null, Subject::Peer];
        eprintln!("cold starts: {} rounds of {} functions", sizes.cold_starts, cold_subjects.len());
        let cold = cold_starts(&setup, &cold_subjects, sizes.cold_starts, &template).await;
        let mut telemetry = Vec::new();
        for collector in [
            Collector::Off,
            Collector::Healthy(Protocol::HttpProtobuf),
            Collector::Healthy(Protocol::Grpc),
            Collector::Refusing,
            Collector::Hanging,
            Collector::Slow,
        ] {
            let subject = Subject::Bootstrap(collector);
            eprintln!("{}: {} invocations", subject.describe(), sizes.invocations);
            telemetry.push(run(&setup, subject, sizes.invocations, &template).await);
        }
        let mut peers = Vec::new();
        for subject in [Subject::Peer, Subject::Null] {
            eprintln!("{}: {} invocations", subject.describe(), sizes.invocations);
            peers.push(run(&setup, subject, sizes.invocations, &template).await);
        }
        let mut footprint = Vec::new();
        for subject in [Subject::ON, Subject::OFF] {
            eprintln!("footprint, {}: {} invocations", subject.describe(), sizes.footprint_invocations);
            footprint.push(run(&setup, subject, sizes.footprint_invocations, &template).await);
        }
        Results { cold, telemetry, peers, footprint }
    });
    let mut text = String::new();
    header(&mut text, &sizes);
    cold_start_section(&mut text, &results, &setup, sizes.cold_starts);
    telemetry_section(&mut text, &results, sizes.invocations);
    peer_section(&mut text, &results, &setup, sizes.invocations);
    footprint_section(&mut text, &results, &setup, sizes.footprint_invocations);
    print!("{text}");
}
