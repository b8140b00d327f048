//! Billed time under Lambda's CPU model. Lambda gives a function CPU in proportion to its memory (1,769 MB buys one
//! vCPU), and bills from the event handed out until the function asks for its next one, telemetry's flush included.
//! Each function process here runs in a cgroup v1 `cpu` group of its own with a CFS quota of
//! `100,000 µs × MB / 1,769` per 100,000 µs period (7,236 µs at 128 MB), which it joins between fork and exec, and
//! in a `cpuacct` group that counts its CPU time. The Runtime API host (tests/common/runtime_host.rs), the healthy
//! OTLP collector (tests/common/otlp.rs) and this benchmark run unthrottled.
//!
//! Rows, each one process per share: `bootstrap` with telemetry off and on; the same handler traced by
//! `lambda_runtime`'s own `OpenTelemetryLayer` and by `lambda-otel-lite` (benches/peer/, a workspace of its own),
//! exporting to the same collector; the Python port of the tutorial under awslambdaric (benches/peer/tutorial.py).
//! Per invocation, back to back with the seed's POST: billed time (event handed out → next `GET /next`), latency
//! (→ response posted), CPU time (cpuacct over the run ÷ invocations), instructions (callgrind, unthrottled: 1 run
//! of `BASE` invocations subtracted from one of `BASE + BILLED_CALLGRIND`), and cold starts under the same shares.
//! A run is measured by time, not by count: a quota is granted per 100 ms period, and a mean over fewer periods
//! depends on where the run starts and stops in them.
//!
//! `BILLED_SECONDS` (default 4, measured per row and share), `BILLED_COLD_STARTS` (20), `BILLED_CALLGRIND` (200, 0
//! to skip), `BILLED_SHARES` (`128,512,1769`), `BILLED_ROWS`
//! (`off,on,on-every-invocation,xray-emf,runtime-layer,otel-lite,python`). Prints the
//! section on stdout between `<!-- billed` markers (`make bench-billed` splices it into BENCHMARKS.md), progress on
//! stderr. Needs root and cgroup v1's `cpu` and `cpuacct` controllers: it stops, loudly, without them.

#[path = "../common/machine.rs"]
mod machine;
#[path = "../../tests/common/otlp.rs"]
mod otlp;
#[path = "../../tests/common/runtime_host.rs"]
mod runtime_host;
#[path = "../common/stats.rs"]
mod stats;

mod cgroup;
mod daemon;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use otlp::{Mode, Protocol, Receiver};
use runtime_host::{Event, Function, RuntimeHost, apigw_event};
use serde_json::Value;

use cgroup::{CpuGroup, FULL_CPU_MB};
use daemon::Daemon;
use machine::command_output;
use report::report;

/// A row's measured time runs in this many chunks, the rows' chunks interleaved, so that the machine's drift falls on
/// all rows alike.
pub(crate) const ROUNDS: usize = 2;
/// Unmeasured time before each measured chunk: two and a half periods of a stream back to back.
pub(crate) const STEADY: Duration = Duration::from_millis(250);
/// Invocations before the measured ones (the first is the cold one); also callgrind's baseline run.
pub(crate) const BASE: usize = 20;
const GREETING: &str = "Good evening, John of Seattle. Happy Thursday!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    Off,
    On,
    /// Telemetry on, exported after every invocation: the default pacing's other side of the trade-off.
    OnEveryInvocation,
    /// What `terraform apply` deploys by default: spans to the X-Ray daemon over UDP, metrics as EMF lines on stdout.
    XRayEmf,
    RuntimeLayer,
    OtelLite,
    Python,
}

impl Subject {
    const ALL: [Subject; 7] = [
        Subject::Off,
        Subject::On,
        Subject::OnEveryInvocation,
        Subject::XRayEmf,
        Subject::RuntimeLayer,
        Subject::OtelLite,
        Subject::Python,
    ];

    fn key(self) -> &'static str {
        match self {
            Subject::Off => "off",
            Subject::On => "on",
            Subject::OnEveryInvocation => "on-every-invocation",
            Subject::XRayEmf => "xray-emf",
            Subject::RuntimeLayer => "runtime-layer",
            Subject::OtelLite => "otel-lite",
            Subject::Python => "python",
        }
    }

    fn exports(self) -> bool {
        matches!(
            self,
            Subject::On | Subject::OnEveryInvocation | Subject::XRayEmf | Subject::RuntimeLayer | Subject::OtelLite
        )
    }
}

pub(crate) struct Setup {
    bootstrap: PathBuf,
    runtime_layer: PathBuf,
    otel_lite: PathBuf,
    python: PathBuf,
    peer_dir: PathBuf,
    /// "Python 3.11.7 + awslambdaric 4.2.2".
    python_peer: String,
    valgrind: String,
}

impl Setup {
    /// Where the functions are; each of `subjects` must be there (the others are not looked for).
    fn from_env(subjects: &[Subject]) -> Self {
        let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let path = |variable: &str, default: &str, needed: &[Subject], how: &str| {
            let path = std::env::var_os(variable).map(PathBuf::from).unwrap_or_else(|| manifest_dir.join(default));
            assert!(
                !subjects.iter().any(|subject| needed.contains(subject)) || path.exists(),
                "{} is missing ({variable}): {how}",
                path.display()
            );
            path
        };
        let python = path("PEER_PYTHON", "../.tools/venv/bin/python", &[Subject::Python], "make bench-tools");
        let mut python_peer = "Python + awslambdaric".to_string();
        if subjects.contains(&Subject::Python) {
            let script =
                "import importlib.metadata as m, platform; print(platform.python_version(), m.version('awslambdaric'))";
            let version = command_output(python.as_os_str(), &["-c", script]);
            let Some((python_version, ric_version)) = version.split_once(' ') else {
                panic!("{} has no awslambdaric: make bench-tools", python.display());
            };
            python_peer = format!("Python {python_version} + awslambdaric {ric_version}");
        }
        let peers = "make bench-peers";
        Self {
            bootstrap: path(
                "BOOTSTRAP",
                "../target/release/bootstrap",
                &[Subject::Off, Subject::On, Subject::OnEveryInvocation, Subject::XRayEmf],
                "make build",
            ),
            runtime_layer: path(
                "PEER_RUNTIME_LAYER",
                "../target/peers/release/peer-runtime-layer",
                &[Subject::RuntimeLayer],
                peers,
            ),
            otel_lite: path("PEER_OTEL_LITE", "../target/peers/release/peer-otel-lite", &[Subject::OtelLite], peers),
            python,
            peer_dir: manifest_dir.join("benches/peer"),
            python_peer,
            valgrind: std::env::var("VALGRIND").unwrap_or_else(|_| "valgrind".to_string()),
        }
    }

    fn name(&self, subject: Subject) -> String {
        match subject {
            Subject::Off => "`bootstrap`, telemetry off".to_string(),
            Subject::On => "`bootstrap`, telemetry on (default pacing: spans visible within 1 s)".to_string(),
            Subject::OnEveryInvocation => {
                "`bootstrap`, telemetry on, exported after every invocation (spans visible at once)".to_string()
            }
            Subject::XRayEmf => {
                "`bootstrap`, deployed defaults: spans to the X-Ray daemon (UDP), metrics as EMF lines".to_string()
            }
            Subject::RuntimeLayer => "peer: `lambda_runtime` `OpenTelemetryLayer`".to_string(),
            Subject::OtelLite => "peer: `lambda-otel-lite`".to_string(),
            Subject::Python => format!("peer: {}, no telemetry", self.python_peer),
        }
    }

    fn function(&self, subject: Subject, sink: Option<&Sink>, memory_mb: u64) -> Function {
        let function = match subject {
            Subject::Off => Function::new(&self.bootstrap).env("OTEL_SDK_DISABLED", "true"),
            Subject::On => Function::new(&self.bootstrap),
            Subject::OnEveryInvocation => Function::new(&self.bootstrap)
                .env("LAMBDA_OTEL_EXPORT_INTERVAL_MS", "0")
                .env("LAMBDA_OTEL_METRICS_INTERVAL_MS", "0"),
            // terraform/function-environment.env's exporters; the daemon's address comes from the sink.
            Subject::XRayEmf => Function::new(&self.bootstrap)
                .env("OTEL_TRACES_EXPORTER", "xray")
                .env("OTEL_METRICS_EXPORTER", "emf")
                .env("LAMBDA_OTEL_EMF_NAMESPACE", "hello-lambda-otel"),
            Subject::RuntimeLayer => Function::new(&self.runtime_layer),
            // Its spans go through its log-level filter, tracing-subscriber's EnvFilter, which lets only ERROR
            // through when neither RUST_LOG nor AWS_LAMBDA_LOG_LEVEL is set: no span would be exported. Lambda sets
            // AWS_LAMBDA_LOG_LEVEL when a function's log level is configured.
            Subject::OtelLite => Function::new(&self.otel_lite).env("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            // As invocation.rs starts it: how a Lambda Python runtime starts the handler, no bytecode written.
            Subject::Python => Function::new(&self.python)
                .arg("-m")
                .arg("awslambdaric")
                .arg("tutorial.handler")
                .env("PYTHONPATH", self.peer_dir.to_str().expect("a UTF-8 path"))
                .env("PYTHONDONTWRITEBYTECODE", "1"),
        };
        let function = match sink {
            Some(sink) => function.envs(sink.env()),
            None => function,
        };
        function.env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory_mb.to_string()).quiet()
    }
}

/// Where a row's telemetry goes: an OTLP collector, or the X-Ray daemon's stand-in.
enum Sink {
    Otlp(Receiver),
    XRay(Daemon),
}

impl Sink {
    fn env(&self) -> Vec<(String, String)> {
        match self {
            Sink::Otlp(receiver) => receiver.env(),
            Sink::XRay(daemon) => daemon.env(),
        }
    }

    /// Spans received so far.
    fn spans(&self) -> usize {
        match self {
            Sink::Otlp(receiver) => receiver.received().spans.len(),
            Sink::XRay(daemon) => daemon.segments(),
        }
    }
}

async fn sink(subject: Subject) -> Option<Sink> {
    match subject {
        Subject::XRayEmf => Some(Sink::XRay(Daemon::start())),
        _ if subject.exports() => Some(Sink::Otlp(Receiver::start(Protocol::HttpProtobuf, Mode::Normal).await)),
        _ => None,
    }
}

fn assert_greeting(subject: Subject, response: &Value) {
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap_or_default();
    assert!(response["statusCode"] == 200 && body["greeting"] == GREETING, "{subject:?} answered {response}");
}

/// One row of one share: a process invoked back to back.
pub(crate) struct Row {
    subject: Subject,
    /// Measured invocations, each sorted.
    billed: Vec<Duration>,
    latency: Vec<Duration>,
    /// CPU time over the measured chunks.
    cpu: Duration,
    throttled: u64,
    /// Spans the collector received, and the invocations the process served.
    spans: Option<(usize, usize)>,
}

impl Row {
    fn new(subject: Subject) -> Self {
        Self { subject, billed: Vec::new(), latency: Vec::new(), cpu: Duration::ZERO, throttled: 0, spans: None }
    }

    fn billed_mean(&self) -> f64 {
        mean_ms(&self.billed)
    }

    /// What Lambda bills: each invocation's duration rounded up to the millisecond.
    fn billed_rounded_mean(&self) -> f64 {
        self.billed.iter().map(|billed| (billed.as_secs_f64() * 1000.0).ceil()).sum::<f64>() / self.billed.len() as f64
    }

    fn cpu_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.billed.len() as f64
    }
}

fn mean_ms(values: &[Duration]) -> f64 {
    values.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / values.len().max(1) as f64
}

/// One invocation, and the next `GET /next`: (billed, latency). The first answer of each process is checked.
async fn invoke(host: &RuntimeHost, subject: Subject, check: bool, template: &Value) -> (Duration, Duration) {
    let invocation = host.invoke_and_wait_for_next(Event::apigw(template.clone()), Duration::from_secs(60)).await;
    if check {
        assert_greeting(subject, &invocation.response_json());
    }
    (invocation.next_requested.unwrap() - invocation.handed_out, invocation.latency().unwrap())
}

/// Invokes back to back for `duration` (the invocation under way at the end finishes): (billed, latency) of each.
async fn run_for(
    host: &RuntimeHost,
    subject: Subject,
    duration: Duration,
    template: &Value,
) -> Vec<(Duration, Duration)> {
    let started = std::time::Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < duration {
        samples.push(invoke(host, subject, false, template).await);
    }
    samples
}

/// Every row of one share: `BASE` unmeasured invocations, then `ROUNDS` chunks of `seconds / ROUNDS` measured, the
/// rows' chunks interleaved. A process idle while the others run finds a fresh quota when its turn comes back, and a
/// fresh quota runs at full speed: each chunk is preceded by `STEADY` unmeasured, by which the process is back in
/// the steady state of a stream (a full period's quota used, then the wait for the next period).
async fn warm(setup: &Setup, subjects: &[Subject], memory_mb: u64, seconds: f64, template: &Value) -> Vec<Row> {
    let mut running = Vec::new();
    for &subject in subjects {
        let sink = sink(subject).await;
        let group = CpuGroup::new(memory_mb);
        let host = group.wrap(setup.function(subject, sink.as_ref(), memory_mb)).start().await;
        for done in 0..BASE {
            invoke(&host, subject, done == 0, template).await;
        }
        let row = Row::new(subject);
        running.push((row, BASE, sink, host, group));
    }
    let chunk = Duration::from_secs_f64(seconds / ROUNDS as f64);
    for round in 0..ROUNDS {
        for offset in 0..running.len() {
            let (row, served, _, host, group) = &mut running[(round + offset) % subjects.len()];
            *served += run_for(host, row.subject, STEADY, template).await.len();
            let (usage, throttled) = (group.usage(), group.throttled());
            let samples = run_for(host, row.subject, chunk, template).await;
            row.cpu += group.usage() - usage;
            row.throttled += group.throttled() - throttled;
            *served += samples.len();
            eprintln!("  {memory_mb} MB, {}: {} invocations in {chunk:?}", row.subject.key(), samples.len());
            for (billed, latency) in samples {
                row.billed.push(billed);
                row.latency.push(latency);
            }
        }
    }
    let mut rows = Vec::new();
    for (mut row, served, sink, mut host, group) in running {
        // Stopped as Lambda shuts an environment down, with SIGTERM: what the function's paced delivery still holds
        // goes out in its last flush, and only then are the spans counted.
        host.sigterm();
        if !host.exited_within(Duration::from_secs(10)).await {
            eprintln!("  {}: still running 10 s after SIGTERM; killed", row.subject.key());
        }
        row.spans = sink.map(|sink| (sink.spans(), served));
        host.kill().await;
        drop(group);
        row.billed.sort();
        row.latency.sort();
        rows.push(row);
    }
    rows
}

/// Spawn → first `GET /next` and → first response (the event queued before the spawn), each spawn in a fresh group.
pub(crate) struct Cold {
    subject: Subject,
    to_next: Vec<Duration>,
    to_response: Vec<Duration>,
}

async fn cold_starts(
    setup: &Setup,
    subjects: &[Subject],
    memory_mb: u64,
    rounds: usize,
    template: &Value,
) -> Vec<Cold> {
    let mut sinks = Vec::new();
    for &subject in subjects {
        sinks.push(sink(subject).await);
    }
    let mut cold: Vec<Cold> =
        subjects.iter().map(|&subject| Cold { subject, to_next: Vec::new(), to_response: Vec::new() }).collect();
    for round in 0..rounds {
        for offset in 0..subjects.len() {
            let index = (round + offset) % subjects.len();
            let group = CpuGroup::new(memory_mb);
            let function = group.wrap(setup.function(subjects[index], sinks[index].as_ref(), memory_mb));
            let mut host = function.start_with_queued(vec![Event::apigw(template.clone())]).await;
            let (first_next, invocation) = host
                .wait_for("the first response", Duration::from_secs(60), |log| {
                    let first = log.invocations.first().filter(|invocation| invocation.outcome.is_some())?;
                    Some((log.next_requests[0], first.clone()))
                })
                .await;
            assert_greeting(subjects[index], &invocation.response_json());
            cold[index].to_next.push(first_next - host.execed());
            cold[index].to_response.push(invocation.posted.unwrap() - host.execed());
            host.kill().await;
        }
    }
    for starts in &mut cold {
        starts.to_next.sort();
        starts.to_response.sort();
    }
    cold
}

/// Instructions per invocation, unthrottled: callgrind over `BASE + more` invocations minus over `BASE`, ÷ `more`, so
/// start-up, the first invocations' one-time work and the shutdown cancel out.
async fn instructions(setup: &Setup, subject: Subject, more: usize, template: &Value) -> Result<f64, String> {
    let mut counts = Vec::new();
    for invocations in [BASE, BASE + more] {
        let sink = sink(subject).await;
        let function = setup.function(subject, sink.as_ref(), FULL_CPU_MB);
        let mut args = vec!["--tool=callgrind".to_string(), "--callgrind-out-file=/dev/null".to_string()];
        args.push(function.executable.to_str().expect("a UTF-8 path").to_string());
        args.extend(function.args.iter().cloned());
        // Valgrind runs the function tens of times slower: no flush may miss `bootstrap`'s deadline for that.
        let function = Function { executable: PathBuf::from(&setup.valgrind), args, ..function }
            .env("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "10000");
        let mut host = function.start().await;
        for done in 0..invocations {
            invoke(&host, subject, done == 0, template).await;
        }
        // SIGTERM, as Lambda ends an environment: valgrind reports its count when the process exits, by signal or not.
        host.sigterm();
        host.wait_for_exit(Duration::from_secs(120)).await;
        counts.push(collected(&host).await?);
    }
    Ok(counts[1].saturating_sub(counts[0]) as f64 / more as f64)
}

/// Callgrind's `==PID== Collected : N` line, once the output pipe has been read to its end.
async fn collected(host: &RuntimeHost) -> Result<u64, String> {
    for _ in 0..1000 {
        let found = host.output().iter().find_map(|line| line.split_once("Collected :")?.1.trim().parse().ok());
        if let Some(count) = found {
            return Ok(count);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!("no instruction count in callgrind's output: {}", host.output().join("\n")))
}

pub(crate) struct Share {
    memory_mb: u64,
    rows: Vec<Row>,
    cold: Vec<Cold>,
}

impl Share {
    fn row(&self, subject: Subject) -> Option<&Row> {
        self.rows.iter().find(|row| row.subject == subject)
    }

    fn cold(&self, subject: Subject) -> Option<&Cold> {
        self.cold.iter().find(|cold| cold.subject == subject)
    }
}

pub(crate) struct Sizes {
    seconds: f64,
    cold_starts: usize,
    callgrind: usize,
    shares: Vec<u64>,
    subjects: Vec<Subject>,
}

impl Sizes {
    fn from_env() -> Self {
        let number = |name: &str, default: usize| {
            std::env::var(name).ok().map_or(default, |value| value.parse().unwrap_or_else(|_| panic!("{name}={value}")))
        };
        let list = |name: &str, default: &str| -> Vec<String> {
            let value = std::env::var(name).unwrap_or_else(|_| default.to_string());
            value.split(',').map(|item| item.trim().to_string()).filter(|item| !item.is_empty()).collect()
        };
        let shares = list("BILLED_SHARES", "128,512,1769")
            .iter()
            .map(|mb| mb.parse().ok().filter(|mb| (128..=10_240).contains(mb)).expect("BILLED_SHARES: MB of 128-10240"))
            .collect();
        let subjects = list("BILLED_ROWS", "off,on,on-every-invocation,xray-emf,runtime-layer,otel-lite,python")
            .iter()
            .map(|key| *Subject::ALL.iter().find(|subject| subject.key() == key).expect("BILLED_ROWS: known rows"))
            .collect();
        let sizes = Self {
            seconds: std::env::var("BILLED_SECONDS")
                .ok()
                .map_or(4.0, |value| value.parse().ok().filter(|s: &f64| *s > 0.0).expect("BILLED_SECONDS: seconds")),
            cold_starts: number("BILLED_COLD_STARTS", 20).max(1),
            callgrind: number("BILLED_CALLGRIND", 200),
            shares,
            subjects,
        };
        assert!(!sizes.shares.is_empty() && !sizes.subjects.is_empty(), "nothing to measure");
        sizes
    }
}

fn main() {
    let sizes = Sizes::from_env();
    let setup = Setup::from_env(&sizes.subjects);
    CpuGroup::check_throttling();
    let template = apigw_event("POST");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (shares, counted) = runtime.block_on(async {
        let mut shares = Vec::new();
        for &memory_mb in &sizes.shares {
            eprintln!("{memory_mb} MB: {} cold starts of each function", sizes.cold_starts);
            let cold = cold_starts(&setup, &sizes.subjects, memory_mb, sizes.cold_starts, &template).await;
            eprintln!("{memory_mb} MB: each function invoked back to back for {} s", sizes.seconds);
            let rows = warm(&setup, &sizes.subjects, memory_mb, sizes.seconds, &template).await;
            shares.push(Share { memory_mb, rows, cold });
        }
        let mut counted = Vec::new();
        for &subject in sizes.subjects.iter().filter(|_| sizes.callgrind > 0) {
            eprintln!("callgrind, {}: {BASE} and {} invocations", subject.key(), BASE + sizes.callgrind);
            counted.push((subject, instructions(&setup, subject, sizes.callgrind, &template).await));
        }
        (shares, counted)
    });
    print!("{}", report(&setup, &sizes, &shares, &counted));
}
