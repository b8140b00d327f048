//! End to end, as a client of the stage sees it: the release `apigw-local` serving
//! `POST /test/helloworld?name=John&city=Seattle` (the tutorial's curl: `content-type: application/json`,
//! `day: Thursday`, body `{ "time": "evening" }`) with the release `bootstrap` as its execution environments, over
//! real sockets, measured from outside by `wrk` (`apt-get install wrk`; `make bench-tools`). Prints markdown `##`
//! sections on stdout (appended to BENCHMARKS.md after the invocation benchmark's output), progress on stderr.
//!
//! 1. Throughput and latency: wrk with one thread (`-t1`) and 1, 2, 4 or 16 keep-alive connections, each sending its
//!    next request as soon as the previous answer arrives (closed loop), against apigw-local with 1, 2 or 4 function
//!    processes (`--concurrency`); each cell is `WARMUP_SECONDS` (default 1) of discarded load, then `WRK_SECONDS`
//!    (default 5) measured, with wrk's own percentiles (from its Lua `done` hook: its printed report rounds). Telemetry
//!    off (`OTEL_SDK_DISABLED=true`, which the functions inherit), then the 16-connection row with telemetry on, both
//!    binaries exporting over OTLP/HTTP to the in-process receiver of tests/common/otlp.rs, which decodes every export
//!    as a collector would: its SERVER spans are counted against the requests served, and the functions' warnings
//!    about failed or dropped exports are counted in their log, to show whether tracing keeps up. The verdict
//!    compares each cell with the target of 10,000 requests/s at a p99 under 2 ms without errors.
//! 2. cargo-lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`, from `.tools/venv`: `make tools`)
//!    hosting the same `bootstrap`, side by side with apigw-local hosting one: `INVOCATIONS` (default 2000)
//!    sequential calls to each, all alternating, after 100 unmeasured; cargo-lambda gets the event apigw-local makes
//!    for the same curl (tests/fixtures/apigw-local-seed-post.json) on its Invoke endpoint, apigw-local the curl
//!    itself, so apigw-local's rows also pay for building the event and mapping the response. Each host is called by
//!    two clients: one writing a request in one piece (as curl and wrk do), one writing the head and then the body
//!    (as Python's http.client does, and so urllib3, requests and boto3): the second is how a host that writes its
//!    `/next` answer in two pieces without TCP_NODELAY shows delayed-ACK stalls of about 40 ms. Then wrk at one
//!    connection against each.
//!
//! Alongside, read from /proc and not from the programs under test:
//! - CPU used by wrk (its rusage), the gateway and the function processes (/proc/PID/stat), the benchmark itself (the
//!   OTLP receiver), the rest of the machine and what stayed idle (/proc/stat), in cores: a 2-core machine runs the
//!   load generator, the gateway and the functions on the same cores, so a cell that leaves nothing idle is limited by
//!   the machine, not by one program; and CPU time per request, which does not depend on that;
//! - the Runtime API connections of each function process: every 100 ms, the established sockets in its
//!   /proc/PID/fd whose peer (in /proc/net/tcp) is a port the host listens on. The same socket(s) for the whole cell
//!   mean the runtime client keeps its connection; a new socket per invocation would show as many.
//!
//! `APIGW_LOCAL`, `BOOTSTRAP`, `CARGO_LAMBDA` and `WRK` override where the programs are found.

#[path = "../tests/common/cargo_lambda.rs"]
mod cargo_lambda;
#[path = "../tests/common/otlp.rs"]
mod otlp;
#[path = "common/stats.rs"]
mod stats;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use otlp::{Mode, Protocol, Receiver, SpanKind};
use stats::{ms, percentile};

const CLIENT_CONNECTIONS: [usize; 4] = [1, 2, 4, 16];
const FUNCTION_PROCESSES: [u16; 3] = [1, 2, 4];
/// The telemetry-on row: the one with the highest throughput with telemetry off, where its cost shows most.
const TELEMETRY_CONNECTIONS: usize = 16;
const TARGET_RPS: f64 = 10_000.0;
const TARGET_P99: Duration = Duration::from_millis(2);

const GATEWAY_TARGET: &str = "/test/helloworld?name=John&city=Seattle";
const SEED_BODY: &str = r#"{ "time": "evening" }"#;
const GREETING: &str = r#"{"greeting":"Good evening, John of Seattle. Happy Thursday!"}"#;
const SEED_EVENT: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/apigw-local-seed-post.json"));
const INVOKE_TARGET: &str = "/2015-03-31/functions/_/invocations";
const GATEWAY_SERVICE: &str = "apigw-local";
/// Sequential calls made to each host before measuring: connections, allocators and caches settle.
const SEQUENTIAL_WARMUP: usize = 100;
const SOCKET_SAMPLE_PERIOD: Duration = Duration::from_millis(100);
/// A round trip this long on an idle loopback is a stall (such as a delayed ACK, 40 ms on Linux), not work.
const STALL: Duration = Duration::from_millis(30);

struct Settings {
    apigw_local: PathBuf,
    bootstrap: PathBuf,
    cargo_lambda: PathBuf,
    wrk: PathBuf,
    seconds: u64,
    warmup: u64,
    invocations: usize,
    /// wrk's scripts: the tutorial's curl to the gateway, the event to cargo-lambda's Invoke endpoint.
    gateway_script: PathBuf,
    invoke_script: PathBuf,
    /// The stdout of apigw-local and its functions (access log, function logs), one gateway at a time.
    log: PathBuf,
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn program(variable: &str, default: PathBuf, hint: &str) -> PathBuf {
    let path = std::env::var_os(variable).map(PathBuf::from).unwrap_or(default);
    assert!(path.exists(), "{} is missing ({variable} overrides it): {hint}", path.display());
    path
}

fn on_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|path| path.exists()))
        .unwrap_or_else(|| PathBuf::from(name))
}

// ---------------------------------------------------------------------------------------------------------------
// Processes and what /proc says about them.

/// A child process, stopped when dropped: SIGTERM first, so that apigw-local shuts its environments down (and
/// flushes its spans) as it does on Ctrl-C, then SIGKILL if it takes more than 5 s.
struct Process {
    child: Child,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: kill(2) with a pid this process spawned and has not reaped yet, so it is still ours.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.pid() as libc::pid_t, libc::SIGTERM)
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The parts of /proc/PID/stat used here.
struct ProcStat {
    command: String,
    parent: u32,
    /// User plus system time, in clock ticks.
    cpu_ticks: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces and parentheses: it ends at the last `)`.
    let (head, rest) = text.rsplit_once(')')?;
    let command = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |index: usize| fields.get(index).and_then(|value| value.parse::<u64>().ok());
    // Fields counted from the state (field 3 of proc(5)): ppid is 4, utime 14, stime 15.
    Some(ProcStat { command, parent: field(1)? as u32, cpu_ticks: field(11)? + field(12)? })
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    #[allow(unsafe_code)]
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The `bootstrap` processes apigw-local started, by pid.
fn function_pids(gateway: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| proc_stat(*pid).is_some_and(|stat| stat.parent == gateway && stat.command == "bootstrap"))
        .collect();
    pids.sort_unstable();
    pids
}

fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return BTreeSet::new() };
    entries
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.ok()?.path()).ok()?;
            target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// One IPv4 TCP socket of /proc/net/tcp (everything here talks over 127.0.0.1).
struct TcpSocket {
    local_port: u16,
    remote_port: u16,
    state: u8,
    inode: u64,
}

const TCP_ESTABLISHED: u8 = 0x01;
const TCP_LISTEN: u8 = 0x0A;

fn tcp_sockets() -> Vec<TcpSocket> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = |address: &str| address.rsplit_once(':').and_then(|(_, port)| u16::from_str_radix(port, 16).ok());
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(TcpSocket {
                local_port: port(fields.get(1)?)?,
                remote_port: port(fields.get(2)?)?,
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                inode: fields.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// The ports a process listens on.
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let inodes = socket_inodes(pid);
    tcp_sockets()
        .into_iter()
        .filter(|socket| socket.state == TCP_LISTEN && inodes.contains(&socket.inode))
        .map(|socket| socket.local_port)
        .collect()
}

/// What the sampler saw of one function process's connections to its Runtime API.
#[derive(Default)]
struct Connections {
    /// Distinct sockets (inodes) seen over the whole watch.
    distinct: BTreeSet<u64>,
    /// The most seen in one sample.
    at_once: usize,
}

/// Samples, every [`SOCKET_SAMPLE_PERIOD`] until stopped, the established connections from each of `pids` to one of
/// `host_ports`.
struct SocketWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<BTreeMap<u32, Connections>>,
}

impl SocketWatch {
    fn start(pids: Vec<u32>, host_ports: BTreeSet<u16>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen: BTreeMap<u32, Connections> = pids.iter().map(|pid| (*pid, Connections::default())).collect();
            loop {
                let sockets = tcp_sockets();
                for (pid, connections) in &mut seen {
                    let inodes = socket_inodes(*pid);
                    // A set: /proc/net/tcp is read in pieces while connections come and go, so a socket can be
                    // listed twice in one read.
                    let now: BTreeSet<u64> = sockets
                        .iter()
                        .filter(|socket| {
                            socket.state == TCP_ESTABLISHED
                                && host_ports.contains(&socket.remote_port)
                                && inodes.contains(&socket.inode)
                        })
                        .map(|socket| socket.inode)
                        .collect();
                    connections.at_once = connections.at_once.max(now.len());
                    connections.distinct.extend(now);
                }
                // Checked after a sample, so that the last one is taken once the load is over.
                if stopped.load(Ordering::SeqCst) {
                    return seen;
                }
                std::thread::sleep(SOCKET_SAMPLE_PERIOD);
            }
        });
        Self { stop, thread }
    }

    fn finish(self) -> String {
        self.stop.store(true, Ordering::SeqCst);
        let seen = self.thread.join().expect("the socket sampler");
        // The same sockets all along in every process, as many in each: one line says it all.
        let first = seen.values().next().map_or(0, |connections| connections.at_once);
        if first > 0 && seen.values().all(|c| c.distinct.len() == first && c.at_once == first) {
            return if seen.len() == 1 {
                format!("{first}, kept")
            } else {
                format!("{first} each ({}), kept", seen.len())
            };
        }
        seen.values()
            .map(|connections| format!("{} ({} at once)", connections.distinct.len(), connections.at_once))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// CPU time, in clock ticks, of the machine and of the programs under test.
struct CpuSnapshot {
    at: Instant,
    machine_busy: u64,
    machine_idle: u64,
    gateway: u64,
    functions: u64,
    /// This process: the OTLP receiver when telemetry is on, the socket sampler.
    benchmark: u64,
}

impl CpuSnapshot {
    fn take(gateway: u32, functions: &[u32]) -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|value| value.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal: idle and iowait are time nobody ran.
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        let total: u64 = ticks.iter().sum();
        let cpu = |pid: u32| proc_stat(pid).map_or(0, |stat| stat.cpu_ticks);
        Self {
            at: Instant::now(),
            machine_busy: total - idle,
            machine_idle: idle,
            gateway: cpu(gateway),
            functions: functions.iter().map(|pid| cpu(*pid)).sum(),
            benchmark: cpu(std::process::id()),
        }
    }
}

/// Cores in use on average, by whom.
struct CpuUse {
    wrk: f64,
    gateway: f64,
    functions: f64,
    benchmark: f64,
    rest: f64,
    idle: f64,
}

impl CpuUse {
    fn between(before: &CpuSnapshot, after: &CpuSnapshot, wrk_seconds: f64) -> Self {
        let wall = after.at.duration_since(before.at).as_secs_f64();
        let ticks = clock_ticks_per_second();
        let cores = |delta: u64| delta as f64 / ticks / wall;
        let wrk = wrk_seconds / wall;
        let gateway = cores(after.gateway.saturating_sub(before.gateway));
        let functions = cores(after.functions.saturating_sub(before.functions));
        let benchmark = cores(after.benchmark.saturating_sub(before.benchmark));
        let busy = cores(after.machine_busy.saturating_sub(before.machine_busy));
        Self {
            wrk,
            gateway,
            functions,
            benchmark,
            rest: (busy - wrk - gateway - functions - benchmark).max(0.0),
            idle: cores(after.machine_idle.saturating_sub(before.machine_idle)),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The hosts.

/// apigw-local with `processes` execution environments of `bootstrap`, on a free port.
struct Gateway {
    process: Process,
    address: String,
    functions: Vec<u32>,
}

impl Gateway {
    fn start(settings: &Settings, processes: u16, env: &[(String, String)]) -> Self {
        let mut child = Command::new(&settings.apigw_local)
            .args(["--listen", "127.0.0.1:0", "--function"])
            .arg(&settings.bootstrap)
            .args(["--concurrency", &processes.to_string()])
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            // A file rather than a pipe somebody must drain: cheap to write, and the functions' warnings can be
            // counted afterwards.
            .stdout(std::fs::File::create(&settings.log).expect("create the log file"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("start apigw-local");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let process = Process { child };
        let (lines, listening) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("apigw-local: listening on http://") {
                    let _ = lines.send(rest.split_whitespace().next().unwrap_or_default().to_string());
                } else {
                    eprintln!("  [apigw-local] {line}");
                }
            }
        });
        let address = listening.recv_timeout(Duration::from_secs(20)).expect("apigw-local did not start listening");
        let started = Instant::now();
        let functions = loop {
            let pids = function_pids(process.pid());
            if pids.len() == usize::from(processes) {
                break pids;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "apigw-local started {} of {processes}", pids.len());
            std::thread::sleep(Duration::from_millis(20));
        };
        let gateway = Self { process, address, functions };
        let mut client = HttpClient::new(&gateway.address, gateway_request(&gateway.address), Writes::Whole);
        let (status, body) = client.call().expect("the seed's curl through apigw-local");
        assert_eq!((status, body.as_slice()), (200, GREETING.as_bytes()), "{}", String::from_utf8_lossy(&body));
        gateway
    }

    fn url(&self) -> String {
        format!("http://{}{GATEWAY_TARGET}", self.address)
    }

    fn runtime_api_watch(&self) -> SocketWatch {
        let mut ports = listening_ports(self.process.pid());
        if let Some(port) = self.address.rsplit_once(':').and_then(|(_, port)| port.parse().ok()) {
            ports.remove(&port);
        }
        SocketWatch::start(self.functions.clone(), ports)
    }
}

/// cargo-lambda's Runtime API emulator on a free port, and `bootstrap` as its function.
struct CargoLambda {
    // Declared first so that it is dropped first: the function goes before the Runtime API it polls.
    function: Process,
    emulator: Process,
    port: u16,
}

impl CargoLambda {
    fn start(settings: &Settings) -> Self {
        let project = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("end-to-end-cargo-lambda");
        let (child, port) = cargo_lambda::start_emulator(&settings.cargo_lambda, &project);
        let emulator = Process { child };
        let function = Process {
            child: Command::new(&settings.bootstrap)
                .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
                .env("AWS_LAMBDA_FUNCTION_NAME", "_")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env("OTEL_SDK_DISABLED", "true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("start bootstrap under cargo-lambda"),
        };
        let host = Self { function, emulator, port };
        let mut client = HttpClient::new(&host.address(), invoke_request(&host.address()), Writes::Whole);
        let (status, body) = client.call().expect("the seed's event through cargo-lambda's Invoke endpoint");
        assert!(status == 200 && answered_greeting(&body), "{status} {}", String::from_utf8_lossy(&body));
        host
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn runtime_api_watch(&self) -> SocketWatch {
        assert!(listening_ports(self.emulator.pid()).contains(&self.port), "cargo-lambda listens on {}", self.port);
        SocketWatch::start(vec![self.function.pid()], BTreeSet::from([self.port]))
    }
}

/// Whether an Invoke answer is the proxy response carrying the seed's greeting.
fn answered_greeting(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|output| output["statusCode"] == 200 && output["body"] == GREETING)
}

// ---------------------------------------------------------------------------------------------------------------
// Clients.

fn gateway_request(address: &str) -> Vec<u8> {
    format!(
        "POST {GATEWAY_TARGET} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\nday: Thursday\r\n\
         content-length: {}\r\n\r\n{SEED_BODY}",
        SEED_BODY.len()
    )
    .into_bytes()
}

fn invoke_request(address: &str) -> Vec<u8> {
    format!(
        "POST {INVOKE_TARGET} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{SEED_EVENT}",
        SEED_EVENT.len()
    )
    .into_bytes()
}

/// How a client puts a request on the wire, which decides how the server sees it arrive.
#[derive(Clone, Copy)]
enum Writes {
    /// One write: curl and wrk send a small request so.
    Whole,
    /// Two writes, the head and then the body, as Python's http.client (under urllib3, requests and boto3) does.
    HeadThenBody,
}

impl Writes {
    fn describe(self) -> &'static str {
        match self {
            Writes::Whole => "in one write",
            Writes::HeadThenBody => "head, then body",
        }
    }
}

/// One request at a time on a kept-alive connection, reconnecting when the server closes it; as little client as
/// possible between the two timestamps.
struct HttpClient {
    address: String,
    request: Vec<u8>,
    writes: Writes,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
    connections: usize,
}

impl HttpClient {
    fn new(address: &str, request: Vec<u8>, writes: Writes) -> Self {
        Self { address: address.to_string(), request, writes, stream: None, buffer: Vec::new(), connections: 0 }
    }

    /// Status and body of one exchange.
    fn call(&mut self) -> std::io::Result<(u16, Vec<u8>)> {
        let result = self.exchange();
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(&mut self) -> std::io::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address)?;
            // As Python's http.client does: without it, the body of a request written in two pieces would wait for
            // the server's delayed ACK of the head (40 ms on Linux).
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.buffer.clear();
            self.connections += 1;
        }
        let stream = self.stream.as_mut().unwrap();
        match self.writes {
            Writes::Whole => stream.write_all(&self.request)?,
            Writes::HeadThenBody => {
                let head = self.request.windows(4).position(|bytes| bytes == b"\r\n\r\n").map_or(0, |at| at + 4);
                stream.write_all(&self.request[..head])?;
                stream.write_all(&self.request[head..])?;
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = response.parse(&self.buffer).map_err(std::io::Error::other)? {
                let header = |name: &str| {
                    response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.to_vec())
                };
                let length: usize = header("content-length")
                    .and_then(|value| String::from_utf8(value).ok()?.trim().parse().ok())
                    .ok_or_else(|| std::io::Error::other("a response without content-length"))?;
                let close = header("connection").is_some_and(|value| value.eq_ignore_ascii_case(b"close"));
                let status = response.code.unwrap_or(0);
                if self.buffer.len() >= head + length {
                    let body = self.buffer[head..head + length].to_vec();
                    self.buffer.drain(..head + length);
                    if close {
                        self.stream = None;
                    }
                    return Ok((status, body));
                }
            }
            let read = stream.read(&mut chunk)?;
            if read == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before a full response"));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

/// A Lua long string holding `text` verbatim: `[==[...]==]` with enough `=` that `text` cannot close it.
fn lua_string(text: &str) -> String {
    let mut level = String::new();
    while text.contains(&format!("]{level}]")) {
        level.push('=');
    }
    format!("[{level}[{text}]{level}]")
}

/// A wrk script sending `body` with `headers`, reporting in one line that [`WrkResult::parse`] reads: wrk's own
/// report rounds, and its error counts are split across lines.
fn wrk_script(path: &Path, body: &str, headers: &[(&str, &str)]) {
    let mut script = format!("wrk.method = \"POST\"\nwrk.body = {}\n", lua_string(body));
    for (name, value) in headers {
        // Spaced: `[[[` would open a long string.
        let _ = writeln!(script, "wrk.headers[ {} ] = {}", lua_string(name), lua_string(value));
    }
    script.push_str(
        "function done(summary, latency, requests)\n  local e = summary.errors\n  io.write(string.format(\n    \
         \"E2E requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d status=%d connect=%d read=%d write=%d \
         timeout=%d\\n\",\n    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), \
         latency.max,\n    e.status, e.connect, e.read, e.write, e.timeout))\nend\n",
    );
    std::fs::write(path, script).expect("write the wrk script");
}

struct WrkResult {
    requests: u64,
    seconds: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Answers with a status of 400 or more (wrk's `status` errors; neither host sends 1xx or 3xx).
    non_2xx: u64,
    /// Connect, read and write errors and timeouts (wrk's default timeout: 2 s).
    socket_errors: u64,
    /// User plus system time wrk used.
    cpu_seconds: f64,
}

impl WrkResult {
    fn parse(output: &str, cpu_seconds: f64) -> Self {
        let line = output
            .lines()
            .find_map(|line| line.strip_prefix("E2E "))
            .unwrap_or_else(|| panic!("wrk printed no result line:\n{output}"));
        let values: HashMap<&str, u64> = line
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key, value.parse::<f64>().map_or(0, |value| value as u64)))
            .collect();
        let value = |key: &str| *values.get(key).unwrap_or_else(|| panic!("wrk's result line has no {key}: {line}"));
        Self {
            requests: value("requests"),
            seconds: value("duration_us") as f64 / 1e6,
            p50: Duration::from_micros(value("p50_us")),
            p99: Duration::from_micros(value("p99_us")),
            max: Duration::from_micros(value("max_us")),
            non_2xx: value("status"),
            socket_errors: value("connect") + value("read") + value("write") + value("timeout"),
            cpu_seconds,
        }
    }

    fn rps(&self) -> f64 {
        if self.seconds > 0.0 { self.requests as f64 / self.seconds } else { 0.0 }
    }

    fn errors(&self) -> String {
        match (self.non_2xx, self.socket_errors) {
            (0, 0) => "0".to_string(),
            (status, socket) => format!("{status} non-2xx, {socket} socket"),
        }
    }
}

/// User plus system time of every child reaped so far.
fn children_cpu_seconds() -> f64 {
    // SAFETY: rusage is plain data, which getrusage fills in.
    #[allow(unsafe_code)]
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    #[allow(unsafe_code)]
    let done = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(done, 0, "getrusage: {}", std::io::Error::last_os_error());
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Runs wrk with one thread: a second thread would take CPU from the programs it measures, and one epoll thread
/// generates far more than these hosts serve.
fn wrk(settings: &Settings, script: &Path, url: &str, connections: usize, seconds: u64) -> WrkResult {
    let mut child = Command::new(&settings.wrk)
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start wrk");
    let mut output = String::new();
    child.stdout.take().unwrap().read_to_string(&mut output).expect("read wrk's output");
    // RUSAGE_CHILDREN grows by what each reaped child used, and nothing else is reaped in between: the difference
    // is wrk's.
    let before = children_cpu_seconds();
    let status = child.wait().expect("wait for wrk");
    let cpu_seconds = children_cpu_seconds() - before;
    assert!(status.success(), "wrk failed ({status}):\n{output}");
    WrkResult::parse(&output, cpu_seconds)
}

// ---------------------------------------------------------------------------------------------------------------
// Part 1: the matrix.

struct Spans {
    requests: u64,
    gateway: usize,
    function: usize,
    /// What the functions logged about their exports: failed flushes by error, spans dropped.
    export_failures: BTreeMap<String, usize>,
    dropped: u64,
}

/// The functions' warnings about their exports, from their JSON log lines: failed flushes (each followed by a pause,
/// during which spans wait in a bounded buffer), by error, and spans dropped from that buffer.
fn export_warnings(log: &Path) -> (BTreeMap<String, usize>, u64) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut failures = BTreeMap::new();
    let mut dropped = 0;
    for line in text.lines().filter(|line| line.contains("\"WARN\"")) {
        let Ok(warning) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let message = warning["message"].as_str().unwrap_or_default();
        if message.starts_with("telemetry export failed") {
            *failures.entry(warning["error"].as_str().unwrap_or("?").to_string()).or_insert(0) += 1;
        } else if message.starts_with("spans dropped") {
            dropped += warning["dropped"].as_u64().unwrap_or(0);
        }
    }
    (failures, dropped)
}

struct Cell {
    connections: usize,
    processes: u16,
    wrk: WrkResult,
    cpu: CpuUse,
    runtime_api_connections: String,
    spans: Option<Spans>,
}

impl Cell {
    fn verdict(&self) -> String {
        let mut misses = Vec::new();
        if self.wrk.rps() < TARGET_RPS {
            misses.push(format!("{:.1}k req/s", self.wrk.rps() / 1000.0));
        }
        if self.wrk.p99 >= TARGET_P99 {
            misses.push(format!("p99 {} ms", ms(self.wrk.p99)));
        }
        if self.wrk.non_2xx + self.wrk.socket_errors > 0 {
            misses.push("errors".to_string());
        }
        if misses.is_empty() { "meets".to_string() } else { format!("misses: {}", misses.join(", ")) }
    }
}

/// One cell: warm-up, then the measured run, with CPU and Runtime API connections watched during the latter.
fn measure(settings: &Settings, gateway: &Gateway, connections: usize, processes: u16) -> (Cell, u64) {
    eprintln!("  {connections} connection(s) × {processes} process(es)");
    let warmup = wrk(settings, &settings.gateway_script, &gateway.url(), connections, settings.warmup);
    let watch = gateway.runtime_api_watch();
    let before = CpuSnapshot::take(gateway.process.pid(), &gateway.functions);
    let result = wrk(settings, &settings.gateway_script, &gateway.url(), connections, settings.seconds);
    let after = CpuSnapshot::take(gateway.process.pid(), &gateway.functions);
    let runtime_api_connections = watch.finish();
    let replaced = function_pids(gateway.process.pid()) != gateway.functions;
    assert!(!replaced, "a function process was replaced during the run: see apigw-local's messages above");
    let cpu = CpuUse::between(&before, &after, result.cpu_seconds);
    let served = warmup.requests + result.requests;
    (Cell { connections, processes, wrk: result, cpu, runtime_api_connections, spans: None }, served)
}

fn matrix_telemetry_off(settings: &Settings) -> Vec<Cell> {
    let off = [("OTEL_SDK_DISABLED".to_string(), "true".to_string())];
    let mut cells = Vec::new();
    for processes in FUNCTION_PROCESSES {
        let gateway = Gateway::start(settings, processes, &off);
        for connections in CLIENT_CONNECTIONS {
            cells.push(measure(settings, &gateway, connections, processes).0);
        }
    }
    cells
}

fn row_telemetry_on(settings: &Settings, runtime: &tokio::runtime::Runtime) -> Vec<Cell> {
    let mut cells = Vec::new();
    for processes in FUNCTION_PROCESSES {
        // A receiver per cell: it keeps every span it decodes, and the count is this cell's.
        let receiver = runtime.block_on(Receiver::start(Protocol::HttpProtobuf, Mode::Normal));
        let mut gateway = Gateway::start(settings, processes, &receiver.env());
        let (mut cell, served) = measure(settings, &gateway, TELEMETRY_CONNECTIONS, processes);
        // Stopped before counting: apigw-local exports the spans it still holds when it shuts down.
        gateway.process.stop();
        let received = receiver.received();
        let count = |gateway_side: bool| {
            received
                .spans
                .iter()
                .filter(|span| span.kind == SpanKind::Server && (span.service() == GATEWAY_SERVICE) == gateway_side)
                .count()
        };
        let (export_failures, dropped) = export_warnings(&settings.log);
        // The start-up check is one request more.
        cell.spans = Some(Spans {
            requests: served + 1,
            gateway: count(true),
            function: count(false),
            export_failures,
            dropped,
        });
        cells.push(cell);
    }
    cells
}

// ---------------------------------------------------------------------------------------------------------------
// Part 2: cargo-lambda side by side.

struct Sequential {
    host: &'static str,
    writes: Writes,
    latencies: Vec<Duration>,
    failures: usize,
    client_connections: usize,
}

struct Peer {
    sequential: [Sequential; 4],
    wrk: [(&'static str, WrkResult); 2],
    runtime_api_connections: [(&'static str, String); 2],
}

const APIGW_LOCAL: &str = "apigw-local (`--concurrency 1`)";
const CARGO_LAMBDA: &str = "cargo-lambda `watch --only-lambda-apis`";

fn peer(settings: &Settings) -> Peer {
    let off = [("OTEL_SDK_DISABLED".to_string(), "true".to_string())];
    let gateway = Gateway::start(settings, 1, &off);
    let cargo_lambda = CargoLambda::start(settings);
    let watches = (gateway.runtime_api_watch(), cargo_lambda.runtime_api_watch());
    let hosts = [
        (APIGW_LOCAL, Writes::Whole),
        (CARGO_LAMBDA, Writes::Whole),
        (APIGW_LOCAL, Writes::HeadThenBody),
        (CARGO_LAMBDA, Writes::HeadThenBody),
    ];
    let mut clients = hosts.map(|(host, writes)| match host {
        APIGW_LOCAL => HttpClient::new(&gateway.address, gateway_request(&gateway.address), writes),
        _ => HttpClient::new(&cargo_lambda.address(), invoke_request(&cargo_lambda.address()), writes),
    });
    let mut sequential = hosts.map(|(host, writes)| Sequential {
        host,
        writes,
        latencies: Vec::with_capacity(settings.invocations),
        failures: 0,
        client_connections: 0,
    });
    eprintln!("  {} sequential invocations each, alternating", settings.invocations);
    // Alternating, so that whatever else the machine does falls on all alike.
    for round in 0..SEQUENTIAL_WARMUP + settings.invocations {
        for (index, client) in clients.iter_mut().enumerate() {
            let started = Instant::now();
            let answer = client.call();
            let latency = started.elapsed();
            let answered = match answer {
                Ok((200, body)) if hosts[index].0 == APIGW_LOCAL => body == GREETING.as_bytes(),
                Ok((200, body)) => answered_greeting(&body),
                _ => false,
            };
            if round >= SEQUENTIAL_WARMUP {
                sequential[index].latencies.push(latency);
                sequential[index].failures += usize::from(!answered);
            }
        }
    }
    for (result, client) in sequential.iter_mut().zip(&clients) {
        result.client_connections = client.connections;
        result.latencies.sort();
    }
    eprintln!("  wrk, 1 connection, each");
    let urls = [
        (APIGW_LOCAL, &settings.gateway_script, gateway.url()),
        (CARGO_LAMBDA, &settings.invoke_script, format!("http://{}{INVOKE_TARGET}", cargo_lambda.address())),
    ];
    let runs = urls.map(|(host, script, url)| {
        wrk(settings, script, &url, 1, settings.warmup);
        (host, wrk(settings, script, &url, 1, settings.seconds))
    });
    let runtime_api_connections = [(APIGW_LOCAL, watches.0.finish()), (CARGO_LAMBDA, watches.1.finish())];
    Peer { sequential, wrk: runs, runtime_api_connections }
}

// ---------------------------------------------------------------------------------------------------------------
// The report.

fn command_output(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|output| {
            let text = if output.stdout.is_empty() { output.stderr } else { output.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or_default().trim().to_string()
        })
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).filter(|t| !t.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

fn cores(value: f64) -> String {
    format!("{value:.2}")
}

fn matrix_table(text: &mut String, cells: &[Cell]) {
    let _ = writeln!(
        text,
        "| connections | function processes | req/s | p50 | p99 | max | errors | CPU: wrk | gateway | functions | \
         OTLP receiver | rest | idle | µs/request: gateway | functions | Runtime API connections per process | \
         verdict |"
    );
    let _ = writeln!(text, "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    for cell in cells {
        let per_request = |cores: f64| format!("{:.0}", cores / cell.wrk.rps().max(1.0) * 1e6);
        let _ = writeln!(
            text,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell.connections,
            cell.processes,
            cell.wrk.rps(),
            ms(cell.wrk.p50),
            ms(cell.wrk.p99),
            ms(cell.wrk.max),
            cell.wrk.errors(),
            cores(cell.cpu.wrk),
            cores(cell.cpu.gateway),
            cores(cell.cpu.functions),
            cores(cell.cpu.benchmark),
            cores(cell.cpu.rest),
            cores(cell.cpu.idle),
            per_request(cell.cpu.gateway),
            per_request(cell.cpu.functions),
            cell.runtime_api_connections,
            cell.verdict(),
        );
    }
}

/// Failed exports, how many of each error.
fn failures(by_error: &BTreeMap<String, usize>) -> String {
    if by_error.is_empty() {
        return "0".to_string();
    }
    // `|` would end the table cell.
    let each: Vec<String> =
        by_error.iter().map(|(error, count)| format!("{count}× {}", error.replace('|', "\\|"))).collect();
    each.join("; ")
}

fn report(settings: &Settings, off: &[Cell], on: &[Cell], peer: &Peer, load_before: &str) -> String {
    let machine_cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    // A blank line first: this follows the invocation benchmark's last table in BENCHMARKS.md.
    let mut text = String::from("\n");
    let _ = writeln!(text, "## End to end over HTTP: apigw-local and `bootstrap` under wrk\n");
    let _ = writeln!(
        text,
        "What a client of the stage gets, measured by `make bench` (`apigw-local/benches/end_to_end.rs`): the \
         release `apigw-local` hosting N release `bootstrap` processes (`--concurrency N`, telemetry off: \
         `OTEL_SDK_DISABLED=true`), loaded by [wrk](https://github.com/wg/wrk) with one thread and C kept-alive \
         connections, each sending the tutorial's curl (`POST {GATEWAY_TARGET}`, `day: Thursday`, `{SEED_BODY}`) \
         again as soon as it is answered. Each cell: {} s of warm-up, discarded, then {} s measured. Latency is \
         wrk's, request written → response read, in milliseconds. **Errors**: answers of 400 or more, and socket \
         errors (connect, read, write, 2 s timeout). **CPU**, in cores (of {machine_cores}), averaged over the \
         measured run: wrk, apigw-local, the function processes, the benchmark's own process (the OTLP receiver \
         when telemetry is on), everything else on the machine, and what stayed idle; then the CPU time per request of apigw-local and of the functions, in microseconds. **Runtime API \
         connections per process**: distinct established sockets from each function process to the Runtime API, \
         sampled every {} ms from /proc (\"kept\": the same sockets throughout, none opened or closed). \
         **Verdict**: the target is {} req/s at a p99 under {} ms without errors.\n",
        settings.warmup,
        settings.seconds,
        SOCKET_SAMPLE_PERIOD.as_millis(),
        TARGET_RPS,
        ms(TARGET_P99),
    );
    let _ = writeln!(
        text,
        "The load generator, the gateway and the functions share the machine's {machine_cores} cores: where \
         \"idle\" is near 0 the machine, not one of the programs, is the limit, and wrk's own share is CPU the hosts \
         did not get (it would be on another machine in a real deployment). \"rest\" is load from outside the \
         benchmark: where it is not near 0, the numbers are lower than a quiet machine gives.\n"
    );
    let _ = writeln!(
        text,
        "- wrk: {}\n- load average before the run: {load_before}\n",
        command_output(&settings.wrk, &["--version"])
    );
    matrix_table(&mut text, off);
    if let Some(best) = off.iter().max_by(|a, b| a.wrk.rps().total_cmp(&b.wrk.rps())) {
        // What the machine could do at most at this cost per request, were every core busy with it and nothing else.
        let cpu = best.cpu.wrk + best.cpu.gateway + best.cpu.functions;
        let ceiling = machine_cores as f64 * best.wrk.rps() / cpu.max(f64::EPSILON);
        let _ = writeln!(
            text,
            "\nHighest throughput: {:.0} req/s at p99 {} ms ({} connections, {} processes): {}. wrk, apigw-local and \
             the functions used {:.0} µs of CPU per request there: {machine_cores} cores that did nothing else would \
             serve at most {:.0} req/s at that cost.\n",
            best.wrk.rps(),
            ms(best.wrk.p99),
            best.connections,
            best.processes,
            best.verdict(),
            cpu / best.wrk.rps().max(1.0) * 1e6,
            ceiling,
        );
    }

    let _ = writeln!(text, "## End to end with telemetry on\n");
    let _ = writeln!(
        text,
        "The same, {TELEMETRY_CONNECTIONS} connections, with tracing on in both binaries (OTLP over HTTP/protobuf) \
         and the function's metrics: they export to an OTLP receiver running inside the benchmark, which decodes \
         every export (tests/common/otlp.rs). The second table counts the SERVER spans it received, apigw-local's \
         and the functions', against the requests wrk completed (warm-up and the start-up check included; the few \
         requests in flight when a wrk run ends are served and traced without being counted), and what the \
         functions logged about their exports: flushes that failed (each failure pauses exporting, 100 ms at first, \
         while spans wait in a buffer of 2048) and spans dropped from that buffer. With telemetry on, \
         each function process also keeps its internal extension's `event/next` pending on the Runtime API (it \
         registers one so that it gets SIGTERM to flush at shutdown, src/telemetry/shutdown.rs): 2 connections \
         each.\n"
    );
    matrix_table(&mut text, on);
    let _ = writeln!(
        text,
        "\n| function processes | requests completed | gateway SERVER spans | function SERVER spans | function \
         export failures | function spans dropped |"
    );
    let _ = writeln!(text, "|---:|---:|---:|---:|---:|---:|");
    for cell in on {
        if let Some(spans) = &cell.spans {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} | {} |",
                cell.processes,
                spans.requests,
                spans.gateway,
                spans.function,
                failures(&spans.export_failures),
                spans.dropped
            );
        }
    }

    let _ = writeln!(text, "\n## cargo-lambda's Runtime API emulator and apigw-local as hosts of `bootstrap`\n");
    let _ = writeln!(
        text,
        "The same `bootstrap` (telemetry off), hosted once by apigw-local with one process and once by cargo-lambda's \
         emulator ({}, `cargo lambda watch --only-lambda-apis`), both running at the same time. **Sequential**: {} \
         calls to each host with each of two clients, all four alternating, one at a time on one kept-alive \
         connection per client (TCP_NODELAY), after {} unmeasured: apigw-local gets the tutorial's curl, \
         cargo-lambda the event apigw-local makes of it (tests/fixtures/apigw-local-seed-post.json) on its Invoke \
         endpoint (`POST {INVOKE_TARGET}`), so apigw-local's numbers also include building the event and mapping the \
         answer. One client writes each request in one piece, as curl and wrk do; the other writes the head and \
         then the body, as Python's http.client (and so urllib3, requests and boto3) does. An answer that is not \
         the seed's greeting counts as a failure. Round trip, in milliseconds.\n",
        command_output(&settings.cargo_lambda, &["lambda", "--version"]),
        settings.invocations,
        SEQUENTIAL_WARMUP,
    );
    let _ = writeln!(
        text,
        "| host | request written | n | p50 | p95 | p99 | max | over {} ms | failures | client connections |",
        STALL.as_millis()
    );
    let _ = writeln!(text, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for result in &peer.sequential {
        let latencies = &result.latencies;
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            result.host,
            result.writes.describe(),
            latencies.len(),
            ms(percentile(latencies, 50.0)),
            ms(percentile(latencies, 95.0)),
            ms(percentile(latencies, 99.0)),
            ms(latencies.last().copied().unwrap_or_default()),
            latencies.iter().filter(|latency| **latency > STALL).count(),
            result.failures,
            result.client_connections,
        );
    }
    let _ = writeln!(
        text,
        "\nwrk, 1 connection, {} s after {} s of warm-up, one host after the other (so, unlike the alternating calls \
         above, not under the same background load):\n\n| host | req/s | p50 | p99 | max | errors |",
        settings.seconds, settings.warmup
    );
    let _ = writeln!(text, "|---|---:|---:|---:|---:|---|");
    for (host, result) in &peer.wrk {
        let _ = writeln!(
            text,
            "| {host} | {:.0} | {} | {} | {} | {} |",
            result.rps(),
            ms(result.p50),
            ms(result.p99),
            ms(result.max),
            result.errors()
        );
    }
    let _ = writeln!(text, "\nRuntime API connections of the function process over both runs (sampled as above):\n");
    for (host, connections) in &peer.runtime_api_connections {
        let _ = writeln!(text, "- {host}: {connections}");
    }
    text
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let build = "cargo build --release --workspace";
    let scripts = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&scripts).unwrap();
    let settings = Settings {
        apigw_local: program("APIGW_LOCAL", root.join("target/release/apigw-local"), build),
        bootstrap: program("BOOTSTRAP", root.join("target/release/bootstrap"), build),
        cargo_lambda: program("CARGO_LAMBDA", root.join(".tools/venv/bin/cargo-lambda"), "make tools"),
        wrk: program("WRK", on_path("wrk"), "apt-get install wrk (make bench-tools)"),
        seconds: env_number("WRK_SECONDS", 5u64).max(1),
        warmup: env_number("WARMUP_SECONDS", 1u64).max(1),
        invocations: env_number("INVOCATIONS", 2000usize).max(1),
        gateway_script: scripts.join("end-to-end-gateway.lua"),
        invoke_script: scripts.join("end-to-end-invoke.lua"),
        log: scripts.join("end-to-end-stdout.log"),
    };
    wrk_script(&settings.gateway_script, SEED_BODY, &[("content-type", "application/json"), ("day", "Thursday")]);
    wrk_script(&settings.invoke_script, SEED_EVENT, &[("content-type", "application/json")]);
    // The OTLP receiver's tasks run on this runtime's one worker while the main thread drives wrk.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let load_before = load_average();
    eprintln!("telemetry off");
    let off = matrix_telemetry_off(&settings);
    eprintln!("telemetry on");
    let on = row_telemetry_on(&settings, &runtime);
    eprintln!("cargo-lambda side by side");
    let peer = peer(&settings);
    let _ = std::fs::remove_file(&settings.log);
    print!("{}", report(&settings, &off, &on, &peer, &load_before));
}
