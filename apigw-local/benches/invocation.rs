//! What telemetry costs a Lambda invocation: the release `bootstrap` under a Runtime API served here
//! (tests/common/runtime_host.rs), invoked `INVOCATIONS` times (default 2000) one after another with the seed's POST
//! event, telemetry off (`OTEL_SDK_DISABLED=true`) and on, with a healthy, a refusing and a hanging collector
//! (tests/common/otlp.rs). Prints BENCHMARKS.md (markdown) on stdout, progress on stderr: `make bench`.
//!
//! - latency: event handed out → response posted (what the caller waits for);
//! - flush: response posted → next event asked for (what Lambda bills after the response: telemetry's flush).
//!
//! The first (cold) invocation of each run is reported on its own and left out of the percentiles.

#[path = "../tests/common/otlp.rs"]
mod otlp;
#[path = "../tests/common/runtime_host.rs"]
mod runtime_host;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use otlp::{Mode, Protocol, Receiver, refusing_endpoint};
use runtime_host::{Event, Function, apigw_event};

/// A scenario stops after this long and reports what it measured (a collector that is not bounded would otherwise
/// take hours).
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);
const FLUSH_TIMEOUT_MS: &str = "100";

enum Collector {
    Off,
    Healthy(Protocol),
    Refusing,
    Hanging,
}

impl Collector {
    fn describe(&self) -> &'static str {
        match self {
            Collector::Off => "off (`OTEL_SDK_DISABLED=true`)",
            Collector::Healthy(Protocol::HttpProtobuf) => "on, healthy collector (HTTP/protobuf)",
            Collector::Healthy(Protocol::Grpc) => "on, healthy collector (gRPC)",
            Collector::Refusing => "on, collector refusing connections",
            Collector::Hanging => "on, collector accepting and never answering",
        }
    }
}

struct Measured {
    collector: Collector,
    cold_latency: Duration,
    cold_flush: Duration,
    latencies: Vec<Duration>,
    flushes: Vec<Duration>,
    exported_spans: Option<usize>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

async fn run(bootstrap: &PathBuf, collector: Collector, invocations: usize) -> Measured {
    let mut function = Function::new(bootstrap).quiet().env("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", FLUSH_TIMEOUT_MS);
    let receiver = match &collector {
        Collector::Off => {
            function = function.env("OTEL_SDK_DISABLED", "true");
            None
        }
        Collector::Healthy(protocol) => Some(Receiver::start(*protocol, Mode::Normal).await),
        Collector::Refusing => {
            function = function.env("OTEL_EXPORTER_OTLP_ENDPOINT", &refusing_endpoint());
            None
        }
        Collector::Hanging => Some(Receiver::start(Protocol::HttpProtobuf, Mode::Hang).await),
    };
    if let Some(receiver) = &receiver {
        function = function.envs(receiver.env());
    }
    let host = function.start().await;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(invocations);
    let mut flushes = Vec::with_capacity(invocations);
    for done in 0..invocations {
        if started.elapsed() > SCENARIO_LIMIT {
            eprintln!("  stopped after {done} invocations ({SCENARIO_LIMIT:?})");
            break;
        }
        let invocation =
            host.invoke_and_wait_for_next(Event::apigw(apigw_event("POST")), Duration::from_secs(60)).await;
        assert_eq!(invocation.response_json()["statusCode"], 200, "the function answered");
        latencies.push(invocation.latency().unwrap());
        flushes.push(invocation.flush_gap().unwrap());
        if done % 500 == 0 {
            eprintln!("  {done}/{invocations}");
        }
    }
    let exported_spans = match (&collector, &receiver) {
        (Collector::Healthy(_), Some(receiver)) => Some(receiver.received().spans.len()),
        _ => None,
    };
    let (cold_latency, cold_flush) = (latencies.remove(0), flushes.remove(0));
    latencies.sort();
    flushes.sort();
    Measured { collector, cold_latency, cold_flush, latencies, flushes, exported_spans }
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

fn report(results: &[Measured], invocations: usize) -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mut text = String::new();
    let _ = writeln!(text, "# Benchmarks\n");
    let _ = writeln!(
        text,
        "What telemetry costs one invocation of the release `bootstrap`, measured by `make bench` \
         (`apigw-local/benches/invocation.rs`): a Runtime API served by the benchmark hands the seed's POST event to \
         one `bootstrap` process {invocations} times in a row. **Latency** is event handed out → response posted \
         (what the caller waits for); **flush** is response posted → next event asked for (billed time after the \
         response, where telemetry is flushed; `LAMBDA_OTEL_FLUSH_TIMEOUT_MS={FLUSH_TIMEOUT_MS}`). Percentiles leave \
         out the first (cold) invocation, shown on its own. Times in milliseconds.\n"
    );
    let _ = writeln!(
        text,
        "- date: {}\n- machine: {} ({cores} cores), {}\n- toolchain: {}\n- commit: {}\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu_model(),
        command_output("uname", &["-sr"]),
        command_output("rustc", &["--version"]),
        command_output("git", &["rev-parse", "--short", "HEAD"]),
    );
    let _ = writeln!(
        text,
        "| telemetry | n | latency p50 | p95 | p99 | flush p50 | p95 | p99 | cold latency | cold flush | spans exported |"
    );
    let _ = writeln!(text, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for result in results {
        let (latency, flush) = (&result.latencies, &result.flushes);
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            result.collector.describe(),
            latency.len(),
            ms(percentile(latency, 50.0)),
            ms(percentile(latency, 95.0)),
            ms(percentile(latency, 99.0)),
            ms(percentile(flush, 50.0)),
            ms(percentile(flush, 95.0)),
            ms(percentile(flush, 99.0)),
            ms(result.cold_latency),
            ms(result.cold_flush),
            result.exported_spans.map_or("–".to_string(), |spans| spans.to_string()),
        );
    }
    text
}

fn main() {
    let invocations: usize =
        std::env::var("INVOCATIONS").ok().and_then(|n| n.parse().ok()).filter(|n| *n >= 2).unwrap_or(2000);
    let bootstrap = std::env::var_os("BOOTSTRAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/bootstrap"));
    assert!(bootstrap.exists(), "{} is missing: cargo build --release --workspace", bootstrap.display());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let results = runtime.block_on(async {
        let mut results = Vec::new();
        for collector in [
            Collector::Off,
            Collector::Healthy(Protocol::HttpProtobuf),
            Collector::Healthy(Protocol::Grpc),
            Collector::Refusing,
            Collector::Hanging,
        ] {
            eprintln!("{}: {invocations} invocations", collector.describe());
            results.push(run(&bootstrap, collector, invocations).await);
        }
        results
    });
    print!("{}", report(&results, invocations));
}
