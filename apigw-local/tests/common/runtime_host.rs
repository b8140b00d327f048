//! A minimal Lambda Runtime API, served by the test itself, for ONE function process it spawns: it hands out the
//! events a test gives it, in order, and records when each was handed out, when its response (or error) was posted and
//! when the function next asked for an event — the gap between the last two is the time Lambda bills for whatever the
//! function does after its response, such as flushing telemetry.
//!
//! It also answers the Extensions API's `register` (and keeps `event/next` pending until [`RuntimeHost::sigterm`]),
//! so a function that registers an internal extension to be sent SIGTERM at shutdown starts as it would on Lambda.
//!
//! It records when the process was spawned (for cold starts) and every TCP connection the function opened to it, with
//! what went over each: a Runtime API client should keep one connection alive for the whole life of the process.
//!
//! Shared by the telemetry tests and the invocation benchmark (through `#[path]`), so it depends on nothing else in
//! `tests/common`.

#![allow(dead_code)] // Each test crate (and the benchmark) uses its own part of this module.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apigw_local::http1::{Connection, Limits, Request, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The function's name, as apigw-local names it by default (the tutorial's).
pub(crate) const FUNCTION_NAME: &str = "GetStartedLambdaProxyIntegration";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

const LIMITS: Limits = Limits {
    max_head: 64 * 1024,
    max_body: 16 * 1024 * 1024,
    head_timeout: Duration::from_secs(30),
    body_timeout: Duration::from_secs(30),
    // Runtime clients long-poll on connections they keep open.
    idle_timeout: Duration::from_secs(24 * 60 * 60),
};

/// One event to hand out.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub request_id: String,
    pub payload: Vec<u8>,
    /// `Lambda-Runtime-Trace-Id`, if any.
    pub runtime_trace_id: Option<String>,
    /// Lambda's deadline for the invocation, from when it is handed out.
    pub timeout: Duration,
}

impl Event {
    /// An event with a fresh request id and a 30 s deadline.
    pub(crate) fn new(payload: &Value) -> Self {
        Self {
            request_id: uuid(),
            payload: serde_json::to_vec(payload).unwrap(),
            runtime_trace_id: None,
            timeout: Duration::from_secs(30),
        }
    }

    pub(crate) fn runtime_trace_id(mut self, header: &str) -> Self {
        self.runtime_trace_id = Some(header.to_string());
        self
    }
}

/// What the function posted for an invocation.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// `POST /invocation/{id}/response`: the function's output.
    Response(Vec<u8>),
    /// `POST /invocation/{id}/error`: the error document and `Lambda-Runtime-Function-Error-Type`.
    Error { body: Vec<u8>, error_type: Option<String> },
}

/// The timeline of one invocation.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub request_id: String,
    /// When the event was written to the function.
    pub handed_out: Instant,
    /// When its response or error had arrived.
    pub posted: Option<Instant>,
    pub outcome: Option<Outcome>,
    /// When the function asked for its next event after posting.
    pub next_requested: Option<Instant>,
}

impl Invocation {
    /// Event handed out → response posted.
    pub(crate) fn latency(&self) -> Option<Duration> {
        Some(self.posted? - self.handed_out)
    }

    /// Response posted → next event asked for: the billed time after the response.
    pub(crate) fn flush_gap(&self) -> Option<Duration> {
        Some(self.next_requested? - self.posted?)
    }

    /// The posted response as JSON; panics on an error or no outcome.
    pub(crate) fn response_json(&self) -> Value {
        match &self.outcome {
            Some(Outcome::Response(body)) => serde_json::from_slice(body)
                .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(body))),
            other => panic!("invocation {} has no response: {other:?}", self.request_id),
        }
    }
}

/// One TCP connection the function opened to the host, and the requests it carried.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionLog {
    /// Requests to the Runtime API (`/2018-06-01/runtime/…`).
    pub runtime_requests: usize,
    /// Requests to the Extensions API (`/2020-01-01/extension/…`).
    pub extension_requests: usize,
}

/// Everything the host saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostLog {
    pub invocations: Vec<Invocation>,
    /// `/next` requests, with when they arrived.
    pub next_requests: Vec<Instant>,
    /// Bodies of `POST /runtime/init/error`.
    pub init_errors: Vec<String>,
    /// `Lambda-Extension-Name` of each registration.
    pub extensions: Vec<String>,
    /// Requests for paths this host does not serve.
    pub unknown: Vec<String>,
    /// Every connection accepted, in order.
    pub connections: Vec<ConnectionLog>,
}

impl HostLog {
    pub(crate) fn invocation(&self, request_id: &str) -> Option<&Invocation> {
        self.invocations.iter().rev().find(|invocation| invocation.request_id == request_id)
    }

    /// Connections that carried at least one Runtime API request.
    pub(crate) fn runtime_connections(&self) -> usize {
        self.connections.iter().filter(|connection| connection.runtime_requests > 0).count()
    }
}

struct State {
    queue: Mutex<VecDeque<Event>>,
    queued: Notify,
    log: Mutex<HostLog>,
    changed: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
}

impl State {
    fn update<T>(&self, apply: impl FnOnce(&mut HostLog) -> T) -> T {
        let result = apply(&mut self.log.lock().unwrap());
        self.changed.send_modify(|version| *version += 1);
        result
    }

    async fn next_event(&self) -> Event {
        loop {
            let notified = self.queued.notified();
            if let Some(event) = self.queue.lock().unwrap().pop_front() {
                return event;
            }
            notified.await;
        }
    }
}

/// How to start the function.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    pub executable: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Copy the function's stdout and stderr to the test's stderr (they are kept either way).
    pub echo_output: bool,
    /// `cgroup.procs` files the process moves itself into before it execs the function, so that a control group's
    /// limits (a CPU quota) hold from the function's first instruction.
    pub cgroups: Vec<PathBuf>,
}

impl Function {
    pub(crate) fn new(executable: impl Into<PathBuf>) -> Self {
        Self {
            executable: executable.into(),
            args: Vec::new(),
            env: Vec::new(),
            echo_output: true,
            cgroups: Vec::new(),
        }
    }

    /// Runs the function in the control group whose `cgroup.procs` file this is (one per cgroup v1 hierarchy).
    pub(crate) fn in_cgroup(mut self, procs: impl Into<PathBuf>) -> Self {
        self.cgroups.push(procs.into());
        self
    }

    /// A command-line argument, for a runtime started through an interpreter.
    pub(crate) fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub(crate) fn envs<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        for (key, value) in pairs {
            self.env.push((key.as_ref().to_string(), value.as_ref().to_string()));
        }
        self
    }

    pub(crate) fn quiet(mut self) -> Self {
        self.echo_output = false;
        self
    }

    /// Starts the Runtime API on a free port and the function against it.
    pub(crate) async fn start(self) -> RuntimeHost {
        self.start_with_queued(Vec::new()).await
    }

    /// [`Self::start`] with events queued before the process is spawned, so that its first `/next` is answered at once
    /// and spawn → first response is the cold start alone.
    pub(crate) async fn start_with_queued(self, events: Vec<Event>) -> RuntimeHost {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the Runtime API");
        let address = listener.local_addr().unwrap();
        let state = Arc::new(State {
            queue: Mutex::new(events.into()),
            queued: Notify::new(),
            log: Mutex::default(),
            changed: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        });
        let server = tokio::spawn(serve(listener, state.clone()));
        let mut command = Command::new(&self.executable);
        command.args(&self.args);
        // The developer's own OpenTelemetry settings must not leak into a test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        command
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{FUNCTION_NAME}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/[$LATEST]{}", uuid().replace('-', "")))
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if !self.cgroups.is_empty() {
            join_cgroups(&mut command, &self.cgroups);
        }
        let spawned = Instant::now();
        let mut child = command.spawn().unwrap_or_else(|error| panic!("start {}: {error}", self.executable.display()));
        let execed = Instant::now();
        let output = Arc::new(Mutex::new(Vec::new()));
        let echo = self.echo_output;
        tokio::spawn(keep_lines(child.stdout.take().unwrap(), output.clone(), echo.then_some("stdout")));
        tokio::spawn(keep_lines(child.stderr.take().unwrap(), output.clone(), echo.then_some("stderr")));
        RuntimeHost { address, state, server, child, output, spawned, execed }
    }
}

/// Has the child write `0` (itself) into each `cgroup.procs` between fork and exec; the spawn fails if it cannot.
fn join_cgroups(command: &mut Command, files: &[PathBuf]) {
    use std::os::unix::ffi::OsStrExt as _;
    // Made before the fork: between fork and exec only async-signal-safe calls are allowed, so no allocation.
    let paths: Vec<std::ffi::CString> = files
        .iter()
        .map(|file| std::ffi::CString::new(file.as_os_str().as_bytes()).expect("a path without NUL"))
        .collect();
    let join = move || {
        for path in &paths {
            // SAFETY: open, write and close are async-signal-safe; `path` is a NUL-terminated string that lives as
            // long as the closure, and the one-byte buffer is a static.
            #[allow(unsafe_code)]
            let failed = unsafe {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // errno is read before close can change it.
                let failed = (libc::write(fd, b"0".as_ptr().cast(), 1) != 1).then(std::io::Error::last_os_error);
                libc::close(fd);
                failed
            };
            if let Some(error) = failed {
                return Err(error);
            }
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and makes only async-signal-safe system calls (above).
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(join);
    }
}

async fn keep_lines(stream: impl AsyncRead + Unpin, lines: Arc<Mutex<Vec<String>>>, echo: Option<&'static str>) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        if let Some(name) = echo {
            eprintln!("[bootstrap {name}] {line}");
        }
        lines.lock().unwrap().push(line);
    }
}

/// The Runtime API and the function process it feeds; both stop when dropped.
pub(crate) struct RuntimeHost {
    pub address: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    spawned: Instant,
    execed: Instant,
}

impl RuntimeHost {
    /// Queues an event; returns its request id.
    pub(crate) fn enqueue(&self, event: Event) -> String {
        let request_id = event.request_id.clone();
        self.state.queue.lock().unwrap().push_back(event);
        self.state.queued.notify_one();
        request_id
    }

    /// Queues an event and waits until the function posted its response or error.
    pub(crate) async fn invoke(&self, event: Event, timeout: Duration) -> Invocation {
        let request_id = self.enqueue(event);
        self.wait_for(&format!("an answer to {request_id}"), timeout, |log| {
            log.invocation(&request_id).filter(|invocation| invocation.outcome.is_some()).cloned()
        })
        .await
    }

    /// Waits until the function asked for its next event after answering this one.
    pub(crate) async fn wait_for_next_after(&self, request_id: &str, timeout: Duration) -> Invocation {
        self.wait_for(&format!("a /next after {request_id}"), timeout, |log| {
            log.invocation(request_id).filter(|invocation| invocation.next_requested.is_some()).cloned()
        })
        .await
    }

    /// Queues an event, waits for its answer and for the next `/next`: the complete timeline of the invocation.
    pub(crate) async fn invoke_and_wait_for_next(&self, event: Event, timeout: Duration) -> Invocation {
        let request_id = self.invoke(event, timeout).await.request_id;
        self.wait_for_next_after(&request_id, timeout).await
    }

    pub(crate) fn log(&self) -> HostLog {
        self.state.log.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the host's log and returns the log; panics after `timeout` naming `what`.
    pub(crate) async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&HostLog) -> bool,
    ) -> HostLog {
        self.wait_for(what, timeout, |log| done(log).then(|| log.clone())).await
    }

    /// Waits until `found` finds something in the host's log (looked at in place, under its lock); panics after
    /// `timeout` naming `what`.
    pub(crate) async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut found: impl FnMut(&HostLog) -> Option<T>,
    ) -> T {
        let mut changed = self.state.changed.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            changed.borrow_and_update();
            if let Some(found) = found(&self.state.log.lock().unwrap()) {
                return found;
            }
            if tokio::time::timeout_at(deadline, changed.changed()).await.is_err() {
                panic!(
                    "the Runtime API host did not see {what} within {timeout:?}; log: {:#?}\nfunction output:\n{}",
                    self.log(),
                    self.output().join("\n")
                );
            }
        }
    }

    /// Lines the function wrote to stdout and stderr so far.
    pub(crate) fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// When the function process was spawned (just before the fork).
    pub(crate) fn spawned(&self) -> Instant {
        self.spawned
    }

    /// When the function's own program started: spawning returns once the child has exec'd, so the fork and whatever
    /// the child did before the exec (joining control groups) lie between [`Self::spawned`] and this.
    pub(crate) fn execed(&self) -> Instant {
        self.execed
    }

    /// Kills the function process (SIGKILL) and waits until it is gone, so that its teardown does not overlap
    /// whatever runs next.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Shuts the environment down as Lambda does: the extensions' pending `event/next` gets a `SHUTDOWN` event and
    /// the function process gets SIGTERM.
    pub(crate) fn sigterm(&self) {
        self.state.shutdown.send_replace(true);
        if let Some(pid) = self.child.id() {
            let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
            // SAFETY: kill(2) with a pid this host spawned and has not reaped yet.
            #[allow(unsafe_code)]
            let result = unsafe { libc::kill(pid, libc::SIGTERM) };
            assert_eq!(result, 0, "kill -TERM {pid}: {}", std::io::Error::last_os_error());
        }
    }

    /// Waits for the function process to exit.
    /// Whether the function exited within `timeout` (it is left running if not).
    pub(crate) async fn exited_within(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.child.wait()).await.is_ok()
    }

    pub(crate) async fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("wait for the function"),
            Err(_) => panic!("the function did not exit within {timeout:?}"),
        }
    }
}

impl Drop for RuntimeHost {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let index = state.update(|log| {
            log.connections.push(ConnectionLog::default());
            log.connections.len() - 1
        });
        tokio::spawn(serve_connection(stream, state.clone(), index));
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<State>, index: usize) {
    let mut connection = Connection::new(stream);
    while let Ok(request) = connection.read_request(&LIMITS).await {
        let arrived = Instant::now();
        let keep_alive = request.keep_alive();
        let path = request.path().to_string();
        // Counted on arrival, so that a `/next` still pending counts too; without waking waiters, as nothing waits for a
        // count.
        {
            let mut log = state.log.lock().unwrap();
            let counts = &mut log.connections[index];
            if path.starts_with("/2018-06-01/runtime/") {
                counts.runtime_requests += 1;
            } else if path.starts_with("/2020-01-01/extension/") {
                counts.extension_requests += 1;
            }
        }
        let response = if request.method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
            state.update(|log| {
                log.next_requests.push(arrived);
                if let Some(last) = log.invocations.last_mut()
                    && last.posted.is_some()
                    && last.next_requested.is_none()
                {
                    last.next_requested = Some(arrived);
                }
            });
            let event = state.next_event().await;
            let deadline = SystemTime::now() + event.timeout;
            let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis().to_string();
            let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}");
            let mut response = Response::new(200)
                .header("Content-Type", "application/json")
                .header("Lambda-Runtime-Aws-Request-Id", &event.request_id)
                .header("Lambda-Runtime-Deadline-Ms", &deadline_ms)
                .header("Lambda-Runtime-Invoked-Function-Arn", &arn);
            if let Some(trace_id) = &event.runtime_trace_id {
                response = response.header("Lambda-Runtime-Trace-Id", trace_id);
            }
            response.body = event.payload;
            state.update(|log| {
                log.invocations.push(Invocation {
                    request_id: event.request_id,
                    handed_out: Instant::now(),
                    posted: None,
                    outcome: None,
                    next_requested: None,
                })
            });
            response
        } else if request.method == "POST" && path.starts_with("/2018-06-01/runtime/invocation/") {
            post_outcome(&state, &request, &path, arrived)
        } else if request.method == "POST" && path == "/2018-06-01/runtime/init/error" {
            state.update(|log| log.init_errors.push(String::from_utf8_lossy(&request.body).into_owned()));
            Response::json(202, &json!({"status": "OK"}))
        } else if request.method == "POST" && path == "/2020-01-01/extension/register" {
            let name = request.header("Lambda-Extension-Name").unwrap_or("").to_string();
            state.update(|log| log.extensions.push(name));
            Response::json(
                200,
                &json!({"functionName": FUNCTION_NAME, "functionVersion": "$LATEST", "handler": "bootstrap"}),
            )
            .header("Lambda-Extension-Identifier", &uuid())
        } else if request.method == "GET" && path == "/2020-01-01/extension/event/next" {
            // Pending until shutdown, as on Lambda for an extension that registered for no events.
            let mut shutdown = state.shutdown.subscribe();
            let _ = shutdown.wait_for(|shutdown| *shutdown).await;
            let deadline_ms = (SystemTime::now() + Duration::from_secs(2)).duration_since(UNIX_EPOCH).unwrap();
            Response::json(
                200,
                &json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": deadline_ms.as_millis() as u64}),
            )
            .header("Lambda-Extension-Event-Identifier", &uuid())
        } else {
            state.update(|log| log.unknown.push(format!("{} {}", request.method, request.target)));
            Response::json(404, &json!({"errorMessage": "not found", "errorType": "InvalidRequest"}))
        };
        if connection.write_response(&response, false, keep_alive).await.is_err() || !keep_alive {
            return;
        }
    }
}

fn post_outcome(state: &State, request: &Request, path: &str, arrived: Instant) -> Response {
    let rest = &path["/2018-06-01/runtime/invocation/".len()..];
    let (request_id, kind) = rest.split_once('/').unwrap_or((rest, ""));
    let outcome = match kind {
        "response" => Outcome::Response(request.body.clone()),
        "error" => Outcome::Error {
            body: request.body.clone(),
            error_type: request.header("Lambda-Runtime-Function-Error-Type").map(str::to_string),
        },
        _ => return Response::json(404, &json!({"errorMessage": "not found", "errorType": "InvalidRequest"})),
    };
    let known = state.update(|log| {
        let invocation = log.invocations.iter_mut().find(|invocation| invocation.request_id == request_id);
        match invocation {
            Some(invocation) if invocation.outcome.is_none() => {
                invocation.outcome = Some(outcome);
                invocation.posted = Some(arrived);
                true
            }
            _ => {
                log.unknown.push(format!("{} {}", request.method, request.target));
                false
            }
        }
    });
    if known {
        Response::json(202, &json!({"status": "OK"}))
    } else {
        Response::json(400, &json!({"errorMessage": "invalid request id", "errorType": "InvalidRequestID"}))
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

const SEED_EVENT: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/apigw-local-seed-post.json"));

/// The API Gateway REST (v1) proxy event of the seed's curl as apigw-local builds it (the captured fixture of the
/// function's tests), with the method changed to `method` (GET and HEAD lose the body) and a `User-Agent`; no trace
/// header. `requestContext.requestId` is the event's own id, set by [`Event::apigw`].
pub(crate) fn apigw_event(method: &str) -> Value {
    let mut event: Value = serde_json::from_str(SEED_EVENT).expect("the seed fixture is JSON");
    event["httpMethod"] = json!(method);
    event["requestContext"]["httpMethod"] = json!(method);
    if method == "GET" || method == "HEAD" {
        event["body"] = Value::Null;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    event["requestContext"]["requestTimeEpoch"] = json!(now.as_millis() as u64);
    event["requestContext"]["identity"]["userAgent"] = json!("runtime-host/1.0");
    for (name, value) in [("host", "localhost"), ("X-Forwarded-Port", "443"), ("User-Agent", "runtime-host/1.0")] {
        event["headers"][name] = json!(value);
        event["multiValueHeaders"][name] = json!([value]);
    }
    event["headers"].as_object_mut().unwrap().remove("X-Amzn-Trace-Id");
    event["multiValueHeaders"].as_object_mut().unwrap().remove("X-Amzn-Trace-Id");
    event
}

/// Sets a header (single- and multi-value) of an API Gateway event.
pub(crate) fn set_header(event: &mut Value, name: &str, value: &str) {
    event["headers"][name] = json!(value);
    event["multiValueHeaders"][name] = json!([value]);
}

impl Event {
    /// An API Gateway event (see [`apigw_event`]) whose `requestContext.requestId` is the invocation's request id.
    pub(crate) fn apigw(mut payload: Value) -> Self {
        let event = Self::new(&Value::Null);
        payload["requestContext"]["requestId"] = json!(event.request_id);
        Self { payload: serde_json::to_vec(&payload).unwrap(), ..event }
    }
}
