//! The Lambda Runtime API, hosted here for `bootstrap` processes run as local execution environments.
//!
//! Each environment is one process with its own Runtime API listener, so an invocation is always attributable to the
//! process that took it: when that process crashes or overruns its deadline, exactly its request fails (as Lambda
//! fails it) and the environment is replaced. Environments take requests from one FIFO queue, one at a time each.
//!
//! The Extensions API serves the extensions a function runs in its own process (Lambda's internal extensions; this
//! host runs no external ones): they register for `INVOKE` and `SHUTDOWN` and long-poll `event/next`. As on Lambda,
//! an event goes to the runtime only once every `INVOKE` subscriber is back in `event/next`, and each of them gets
//! the `INVOKE` event with it. At shutdown, as in Lambda's shutdown phase, the `SHUTDOWN` subscribers get their event,
//! and a process that registered an extension gets SIGTERM and [`SHUTDOWN_BUDGET`] to exit before SIGKILL; Lambda
//! sends no SIGTERM to a process without extensions, so neither does this host.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::{Backend, Invocation, InvokeError};
use crate::http1::{Connection, Limits, Request, Response};
use crate::output::{self, Stream};

/// Lambda's synchronous response payload limit (6 MB as Lambda counts it).
const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Runtime clients long-poll `/next` on connections they keep open, so idle time is not a reason to hang up.
const RUNTIME_LIMITS: Limits = Limits {
    max_head: 64 * 1024,
    max_body: 2 * MAX_RESPONSE_BYTES,
    head_timeout: Duration::from_secs(30),
    body_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(24 * 60 * 60),
};

/// A function that cannot start is restarted with growing pauses, not in a hot loop.
const RESTART_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// Lambda's shutdown phase for a function with internal extensions: from SIGTERM to SIGKILL.
const SHUTDOWN_BUDGET: Duration = Duration::from_millis(500);

/// How long a stopped function's last output may take to be read.
const LAST_OUTPUT: Duration = Duration::from_millis(200);

/// What the execution environments see of the function's configuration.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The executable that implements the Lambda runtime, e.g. `target/release/bootstrap`.
    pub executable: PathBuf,
    pub name: String,
    pub memory_mb: u32,
    pub region: String,
    pub account_id: String,
}

impl FunctionConfig {
    fn arn(&self) -> String {
        format!("arn:aws:lambda:{}:{}:function:{}", self.region, self.account_id, self.name)
    }
}

struct Job {
    invocation: Invocation,
    reply: oneshot::Sender<Result<Vec<u8>, InvokeError>>,
}

type JobQueue = Arc<Mutex<mpsc::UnboundedReceiver<Job>>>;

/// The Runtime API host back end: `concurrency` execution environments fed from one queue.
pub struct RuntimeApiHost {
    jobs: mpsc::UnboundedSender<Job>,
    stop: watch::Sender<bool>,
    environments: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl RuntimeApiHost {
    /// Binds one Runtime API listener per environment and starts the processes.
    pub async fn start(config: FunctionConfig, concurrency: usize) -> io::Result<Self> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let queue: JobQueue = Arc::new(Mutex::new(queue));
        let config = Arc::new(config);
        let stop = watch::Sender::new(false);
        let mut environments = Vec::with_capacity(concurrency);
        for index in 1..=concurrency {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            let runtime_api = listener.local_addr()?;
            let (calls, calls_received) = mpsc::channel(8);
            tokio::spawn(serve(listener, calls));
            let environment = Environment {
                index,
                config: config.clone(),
                runtime_api,
                queue: queue.clone(),
                stop: stop.subscribe(),
            };
            environments.push(tokio::spawn(environment.run(calls_received)));
        }
        Ok(Self { jobs, stop, environments: std::sync::Mutex::new(environments) })
    }
}

impl Backend for RuntimeApiHost {
    async fn invoke(&self, invocation: Invocation) -> Result<Vec<u8>, InvokeError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { invocation, reply })
            .map_err(|_| InvokeError::Service("the runtime host has stopped".into()))?;
        answer.await.unwrap_or_else(|_| Err(InvokeError::Service("the execution environment went away".into())))
    }

    /// Shuts every environment down as Lambda does (see the module's documentation), all at once.
    async fn shutdown(&self) {
        self.stop.send_replace(true);
        let environments =
            std::mem::take(&mut *self.environments.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for environment in environments {
            let _ = environment.await;
        }
    }
}

/// A Runtime API request from the function, with the channel its HTTP answer goes back on.
struct RuntimeCall {
    kind: CallKind,
    reply: oneshot::Sender<Response>,
}

enum CallKind {
    Next,
    Response { request_id: String, body: Vec<u8> },
    Error { request_id: String, summary: String },
    InitError { summary: String },
    RegisterExtension { invoke: bool, shutdown: bool },
    NextExtensionEvent { extension_id: String },
}

async fn serve(listener: TcpListener, calls: mpsc::Sender<RuntimeCall>) {
    loop {
        let (stream, _) = crate::server::accept(&listener, "Runtime API").await;
        // Runtime clients send small requests and wait for each answer: Nagle's delay would add to every invocation.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, calls.clone()));
    }
}

async fn serve_connection(stream: TcpStream, calls: mpsc::Sender<RuntimeCall>) {
    let mut connection = Connection::new(stream);
    loop {
        let Ok(request) = connection.read_request(&RUNTIME_LIMITS).await else { return };
        let keep_alive = request.keep_alive();
        let response = match parse_call(request) {
            Ok(kind) => {
                let (reply, answer) = oneshot::channel();
                if calls.send(RuntimeCall { kind, reply }).await.is_err() {
                    return;
                }
                // No answer means the environment is being replaced: hanging up tells the old client to stop.
                let Ok(response) = answer.await else { return };
                response
            }
            Err(response) => response,
        };
        if connection.write_response(&response, false, keep_alive).await.is_err() || !keep_alive {
            return;
        }
    }
}

fn parse_call(request: Request) -> Result<CallKind, Response> {
    const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
    let path = request.path();
    match (request.method.as_str(), path) {
        ("GET", "/2018-06-01/runtime/invocation/next") => Ok(CallKind::Next),
        ("POST", "/2018-06-01/runtime/init/error") => Ok(CallKind::InitError { summary: error_summary(&request) }),
        ("POST", "/2020-01-01/extension/register") => parse_registration(&request),
        ("GET", "/2020-01-01/extension/event/next") => match request.header(EXTENSION_ID) {
            Some(extension_id) => Ok(CallKind::NextExtensionEvent { extension_id: extension_id.to_string() }),
            None => Err(runtime_error(403, "Extension.MissingExtensionIdentifier", "no Lambda-Extension-Identifier")),
        },
        ("POST", _) if path.starts_with(INVOCATION) => {
            let rest = &path[INVOCATION.len()..];
            if let Some(request_id) = rest.strip_suffix("/response") {
                let request_id = request_id.to_string();
                Ok(CallKind::Response { request_id, body: request.body })
            } else if let Some(request_id) = rest.strip_suffix("/error") {
                Ok(CallKind::Error { request_id: request_id.to_string(), summary: error_summary(&request) })
            } else {
                Err(runtime_error(404, "NotFound", "unknown Runtime API path"))
            }
        }
        _ => Err(runtime_error(404, "NotFound", "unknown Runtime API path")),
    }
}

const EXTENSION_NAME: &str = "Lambda-Extension-Name";
const EXTENSION_ID: &str = "Lambda-Extension-Identifier";

/// `POST /2020-01-01/extension/register`: the `Lambda-Extension-Name` header and `{"events": [...]}`.
fn parse_registration(request: &Request) -> Result<CallKind, Response> {
    if request.header(EXTENSION_NAME).is_none_or(str::is_empty) {
        return Err(runtime_error(400, "InvalidRequest", "the Lambda-Extension-Name header is required"));
    }
    #[derive(serde::Deserialize)]
    struct Registration {
        #[serde(default)]
        events: Vec<String>,
    }
    let registration: Registration = serde_json::from_slice(&request.body)
        .map_err(|error| runtime_error(400, "InvalidRequest", &format!("registration body: {error}")))?;
    let (mut invoke, mut shutdown) = (false, false);
    for event in &registration.events {
        match event.as_str() {
            "INVOKE" => invoke = true,
            "SHUTDOWN" => shutdown = true,
            other => return Err(runtime_error(400, "InvalidEventType", &format!("unknown event type {other:?}"))),
        }
    }
    Ok(CallKind::RegisterExtension { invoke, shutdown })
}

/// `errorType: errorMessage` from an error report, for the gateway's log.
fn error_summary(request: &Request) -> String {
    let report: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let error_type = report["errorType"]
        .as_str()
        .or_else(|| request.header("Lambda-Runtime-Function-Error-Type"))
        .unwrap_or("Unhandled");
    let message = report["errorMessage"].as_str().unwrap_or("(no message)");
    format!("{error_type}: {message}")
}

fn runtime_error(status: u16, error_type: &str, message: &str) -> Response {
    Response::json(status, &serde_json::json!({ "errorMessage": message, "errorType": error_type }))
}

fn accepted() -> Response {
    Response::json(202, &serde_json::json!({ "status": "OK" }))
}

struct InFlight {
    request_id: String,
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<u8>, InvokeError>>,
}

/// How a process's life ended, which decides whether the next one starts at once.
enum Ended {
    /// It served at least one `/next`: a healthy process that crashed or was stopped; replace it now.
    AfterInit,
    /// It never got as far as asking for an event: slow down before trying again.
    DuringInit,
    /// The host is gone.
    Shutdown,
}

/// A registered extension of the current process and the events it subscribed to.
#[derive(Clone)]
struct Extension {
    id: String,
    invoke: bool,
    shutdown: bool,
}

/// An extension's `event/next`, waiting for an event.
struct WaitingExtension {
    extension: Extension,
    reply: oneshot::Sender<Response>,
}

struct Environment {
    index: usize,
    config: Arc<FunctionConfig>,
    runtime_api: SocketAddr,
    queue: JobQueue,
    stop: watch::Receiver<bool>,
}

impl Environment {
    async fn run(self, mut calls: mpsc::Receiver<RuntimeCall>) {
        let mut backoff = RESTART_BACKOFF.0;
        loop {
            let ended = match self.spawn() {
                Ok((mut child, output)) => {
                    let ended = self.supervise(&mut child, &mut calls).await;
                    if matches!(ended, Ended::Shutdown) {
                        // The process is gone, but the last lines it wrote (those of its shutdown) may still be in
                        // the pipes; a process of its own that kept them open gets no more than this.
                        let _ = timeout(LAST_OUTPUT, output).await;
                    }
                    ended
                }
                Err(error) => {
                    let reason = format!("cannot start {}: {error}", self.config.executable.display());
                    crate::message!("environment {}: {reason}", self.index);
                    self.fail_one_waiting(reason);
                    Ended::DuringInit
                }
            };
            match ended {
                Ended::Shutdown => return,
                Ended::AfterInit => backoff = RESTART_BACKOFF.0,
                Ended::DuringInit => {
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        () = sleep(backoff) => {}
                        () = stopped(&mut stop) => return,
                    }
                    backoff = (backoff * 2).min(RESTART_BACKOFF.1);
                }
            }
            // Whatever the old process still had queued up belongs to a runtime that no longer exists.
            while calls.try_recv().is_ok() {}
        }
    }

    /// Starts the function's process, and the task that forwards its output (see [`crate::output`]), which ends
    /// when the process and whatever it started have closed their stdout and stderr.
    fn spawn(&self) -> io::Result<(Child, JoinHandle<()>)> {
        let config = &self.config;
        let mut command = Command::new(&config.executable);
        command
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &config.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", config.memory_mb.to_string())
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", config.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/[$LATEST]{}", crate::random::uuid_v4().simple()))
            .env("AWS_REGION", &config.region)
            .env("AWS_DEFAULT_REGION", &config.region)
            .stdin(Stdio::null())
            // Read by the gateway and passed on to its own stdout and stderr through bounded queues, so that a reader
            // who stopped reading those costs lines, not a function blocked in the middle of an invocation.
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Out of the terminal's process group: Ctrl-C reaches only the gateway, which then shuts the process down
            // as Lambda would, instead of the terminal killing it mid-flush.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(task_root) = config.executable.parent() {
            command.env("LAMBDA_TASK_ROOT", task_root);
        }
        // The function runs with the open files limit the gateway was started with (see open_files.rs), not the one
        // the gateway raised for its own sockets.
        if let Some(limit) = crate::open_files::started_with() {
            // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe functions may
            // be called: setrlimit is one, and nothing here allocates. Lowering a soft limit cannot fail for want of
            // privilege; if it failed anyway, the function would still run, with more descriptors.
            unsafe {
                command.pre_exec(move || {
                    libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                    Ok(())
                });
            }
        }
        let mut child = command.spawn()?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let output = tokio::spawn(async move {
            let stdout = async move {
                if let Some(stdout) = stdout {
                    output::forward_lines(stdout, Stream::Stdout).await;
                }
            };
            let stderr = async move {
                if let Some(stderr) = stderr {
                    output::forward_lines(stderr, Stream::Stderr).await;
                }
            };
            tokio::join!(stdout, stderr);
        });
        Ok((child, output))
    }

    async fn supervise(&self, child: &mut Child, calls: &mut mpsc::Receiver<RuntimeCall>) -> Ended {
        let mut waiting_runtime: Option<oneshot::Sender<Response>> = None;
        let mut in_flight: Option<InFlight> = None;
        let mut init_error: Option<String> = None;
        let mut initialized = false;
        let mut extensions: Vec<Extension> = Vec::new();
        let mut waiting_extensions: Vec<WaitingExtension> = Vec::new();
        let mut stop = self.stop.clone();
        loop {
            let deadline = in_flight.as_ref().map_or_else(far_future, |job| job.deadline);
            let ready = waiting_runtime.is_some() && in_flight.is_none();
            let extensions_ready = extensions
                .iter()
                .filter(|extension| extension.invoke)
                .all(|extension| waiting_extensions.iter().any(|waiting| waiting.extension.id == extension.id));
            tokio::select! {
                status = child.wait() => {
                    let reason = exit_reason(status, init_error.take());
                    if let Some(job) = in_flight.take() {
                        crate::message!("environment {}: {reason} during request {}", self.index, job.request_id);
                        let _ = job.reply.send(Err(InvokeError::Function(reason)));
                    } else if !initialized {
                        crate::message!("environment {}: {reason} before asking for an event", self.index);
                        // Lambda fails the invocation that triggered a failed init; without this a function that cannot
                        // start would leave every request waiting for the integration timeout.
                        self.fail_one_waiting(reason);
                    }
                    return if initialized { Ended::AfterInit } else { Ended::DuringInit };
                }
                Some(call) = calls.recv() => {
                    let response = match call.kind {
                        CallKind::Next => {
                            initialized = true;
                            if let Some(job) = in_flight.take() {
                                let reason = "the runtime asked for the next event without answering this one".into();
                                let _ = job.reply.send(Err(InvokeError::Function(reason)));
                            }
                            waiting_runtime = Some(call.reply);
                            continue;
                        }
                        CallKind::Response { request_id, body } => match take_matching(&mut in_flight, &request_id) {
                            Some(job) if body.len() > MAX_RESPONSE_BYTES => {
                                let reason = format!("response of {} bytes is over Lambda's limit", body.len());
                                let _ = job.reply.send(Err(InvokeError::Function(reason)));
                                let message = format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).");
                                runtime_error(413, "RequestEntityTooLarge", &message)
                            }
                            Some(job) => {
                                let _ = job.reply.send(Ok(body));
                                accepted()
                            }
                            None => runtime_error(400, "InvalidRequestID", "Invalid request ID"),
                        },
                        CallKind::Error { request_id, summary } => match take_matching(&mut in_flight, &request_id) {
                            Some(job) => {
                                crate::message!("environment {}: request {request_id} failed: {summary}", self.index);
                                let _ = job.reply.send(Err(InvokeError::Function(summary)));
                                accepted()
                            }
                            None => runtime_error(400, "InvalidRequestID", "Invalid request ID"),
                        },
                        CallKind::InitError { summary } => {
                            init_error = Some(summary);
                            // Lambda discards an environment whose init failed; the exit is handled above.
                            let _ = child.start_kill();
                            accepted()
                        }
                        CallKind::RegisterExtension { invoke, shutdown } => {
                            let id = crate::random::uuid_v4().to_string();
                            let response = registered(&self.config, &id);
                            extensions.push(Extension { id, invoke, shutdown });
                            response
                        }
                        CallKind::NextExtensionEvent { extension_id } => {
                            match extensions.iter().find(|extension| extension.id == extension_id) {
                                Some(extension) => {
                                    let extension = extension.clone();
                                    waiting_extensions.push(WaitingExtension { extension, reply: call.reply });
                                    continue;
                                }
                                None => {
                                    let message = "unknown Lambda-Extension-Identifier";
                                    runtime_error(403, "Extension.UnknownExtensionIdentifier", message)
                                }
                            }
                        }
                    };
                    let _ = call.reply.send(response);
                }
                job = take_job(&self.queue), if ready && extensions_ready => {
                    let Some(job) = job else {
                        let _ = child.start_kill();
                        return Ended::Shutdown;
                    };
                    // The caller gave up (integration timeout) while the request was queued.
                    if job.reply.is_closed() {
                        continue;
                    }
                    let Job { invocation, reply } = job;
                    let (request_id, deadline) = (invocation.request_id.clone(), invocation.deadline);
                    let (invoked, idle) = std::mem::take(&mut waiting_extensions)
                        .into_iter()
                        .partition::<Vec<_>, _>(|waiting| waiting.extension.invoke);
                    waiting_extensions = idle;
                    for waiting in invoked {
                        let _ = waiting.reply.send(invoke_event(&invocation, &self.config));
                    }
                    let event = next_event(invocation, &self.config);
                    if let Some(runtime) = waiting_runtime.take() && runtime.send(event).is_ok() {
                        in_flight = Some(InFlight { request_id, deadline, reply });
                    } else {
                        let reason = "the runtime hung up while waiting for an event".into();
                        let _ = reply.send(Err(InvokeError::Function(reason)));
                    }
                }
                () = stopped(&mut stop) => {
                    self.shut_down(child, !extensions.is_empty(), waiting_extensions).await;
                    return Ended::Shutdown;
                }
                () = sleep_until(deadline), if in_flight.is_some() => {
                    // Lambda stops a function at its timeout and discards the environment, and so do we.
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    if let Some(job) = in_flight.take() {
                        crate::message!("environment {}: request {} timed out; process replaced", self.index, job.request_id);
                        let _ = job.reply.send(Err(InvokeError::Timeout));
                    }
                    return Ended::AfterInit;
                }
            }
        }
    }

    /// Lambda's shutdown phase. With extensions: `SHUTDOWN` to those waiting for it, SIGTERM, and [`SHUTDOWN_BUDGET`]
    /// before SIGKILL. Without: SIGKILL at once.
    async fn shut_down(&self, child: &mut Child, has_extensions: bool, waiting: Vec<WaitingExtension>) {
        if !has_extensions {
            let _ = child.kill().await;
            return;
        }
        let deadline = SystemTime::now() + SHUTDOWN_BUDGET;
        // The others' `event/next` stays pending until the process is gone, as on Lambda.
        let mut pending = Vec::new();
        for waiting in waiting {
            if waiting.extension.shutdown {
                let _ = waiting.reply.send(shutdown_event(deadline));
            } else {
                pending.push(waiting.reply);
            }
        }
        if let Err(error) = terminate(child) {
            crate::message!("environment {}: cannot send SIGTERM: {error}", self.index);
        }
        if timeout(SHUTDOWN_BUDGET, child.wait()).await.is_err() {
            crate::message!("environment {}: still running {SHUTDOWN_BUDGET:?} after SIGTERM; killed", self.index);
            let _ = child.kill().await;
        }
        drop(pending);
    }

    /// Fails the oldest queued request, if one is waiting and no other environment is about to take it.
    fn fail_one_waiting(&self, reason: String) {
        if let Ok(mut queue) = self.queue.try_lock()
            && let Ok(job) = queue.try_recv()
        {
            let _ = job.reply.send(Err(InvokeError::Function(reason)));
        }
    }
}

/// Resolves once the host is told to stop, or is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn take_job(queue: &Mutex<mpsc::UnboundedReceiver<Job>>) -> Option<Job> {
    queue.lock().await.recv().await
}

fn take_matching(in_flight: &mut Option<InFlight>, request_id: &str) -> Option<InFlight> {
    in_flight.take_if(|job| job.request_id == request_id)
}

fn next_event(invocation: Invocation, config: &FunctionConfig) -> Response {
    let deadline_ms = invocation.deadline_wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Lambda-Runtime-Aws-Request-Id".into(), invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms".into(), deadline_ms.to_string()),
            ("Lambda-Runtime-Invoked-Function-Arn".into(), config.arn()),
            ("Lambda-Runtime-Trace-Id".into(), invocation.trace_header),
        ],
        body: invocation.payload,
    }
}

/// The answer to an extension's registration.
fn registered(config: &FunctionConfig, extension_id: &str) -> Response {
    let handler = config.executable.file_name().map(|name| name.to_string_lossy().into_owned());
    let body = serde_json::json!({ "functionName": config.name, "functionVersion": "$LATEST", "handler": handler });
    Response::json(200, &body).header(EXTENSION_ID, extension_id)
}

/// The `INVOKE` event of the Extensions API for an invocation.
fn invoke_event(invocation: &Invocation, config: &FunctionConfig) -> Response {
    let deadline_ms = invocation.deadline_wall.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    let event = serde_json::json!({
        "eventType": "INVOKE",
        "deadlineMs": u64::try_from(deadline_ms).unwrap_or(0),
        "requestId": invocation.request_id,
        "invokedFunctionArn": config.arn(),
        "tracing": { "type": "X-Amzn-Trace-Id", "value": invocation.trace_header },
    });
    Response::json(200, &event).header("Lambda-Extension-Event-Identifier", &crate::random::uuid_v4().to_string())
}

fn shutdown_event(deadline: SystemTime) -> Response {
    let deadline_ms = u64::try_from(deadline.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(0);
    let event = serde_json::json!({ "eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": deadline_ms });
    Response::json(200, &event).header("Lambda-Extension-Event-Identifier", &crate::random::uuid_v4().to_string())
}

/// Sends SIGTERM to the process, which tokio's `Child` cannot do (its `kill` is SIGKILL).
fn terminate(child: &Child) -> io::Result<()> {
    // No id: already reaped, nothing left to signal.
    let Some(pid) = child.id() else { return Ok(()) };
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: kill(2) takes no pointers. `Child::id` is `None` once the process has been reaped, so the pid is still
    // our child's (a zombie at worst) and cannot name a process that reused it.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn exit_reason(status: io::Result<ExitStatus>, init_error: Option<String>) -> String {
    let status = match status {
        Ok(status) => format!("process exited ({status})"),
        Err(error) => format!("process lost ({error})"),
    };
    match init_error {
        Some(init_error) => format!("init failed: {init_error}; {status}"),
        None => status,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 60 * 60)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::Path;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A "function" that only writes its Runtime API address next to itself, and on SIGTERM writes `SIGTERM` there too;
    /// the test drives the Extensions API in its place.
    const SCRIPT: &str = r#"#!/bin/sh
trap 'echo SIGTERM >> "$0.log"; kill $! 2>/dev/null; exit 0' TERM
echo "$AWS_LAMBDA_RUNTIME_API" > "$0.api.tmp" && mv "$0.api.tmp" "$0.api"
while :; do
    sleep 1 </dev/null >/dev/null 2>&1 &
    wait $!
done
"#;

    struct Script {
        directory: PathBuf,
        path: PathBuf,
    }

    impl Script {
        fn new() -> Self {
            let directory = std::env::temp_dir().join(format!("apigw-local-extensions-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&directory).unwrap();
            let path = directory.join("function");
            std::fs::write(&path, SCRIPT).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            Self { directory, path }
        }

        fn sibling(&self, suffix: &str) -> PathBuf {
            self.path.with_file_name(format!("function{suffix}"))
        }

        async fn runtime_api(&self) -> String {
            let api = self.sibling(".api");
            for _ in 0..200 {
                if let Ok(address) = std::fs::read_to_string(&api) {
                    return address.trim().to_string();
                }
                sleep(Duration::from_millis(25)).await;
            }
            panic!("the function did not start");
        }

        fn log(&self) -> String {
            std::fs::read_to_string(self.sibling(".log")).unwrap_or_default()
        }
    }

    impl Drop for Script {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }

    async fn host(script: &Path) -> RuntimeApiHost {
        let config = FunctionConfig {
            executable: script.to_path_buf(),
            name: "Extended".into(),
            memory_mb: 128,
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
        };
        RuntimeApiHost::start(config, 1).await.unwrap()
    }

    struct Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: serde_json::Value,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    /// One request on a fresh connection; `None` when the host hung up without answering.
    async fn call(api: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Option<Answer> {
        let mut stream = TcpStream::connect(api).await.unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines.filter_map(|line| line.split_once(": ")).map(|(n, v)| (n.into(), v.into())).collect();
        Some(Answer { status, headers, body: serde_json::from_str(body).unwrap_or_default() })
    }

    async fn register(api: &str, events: &str) -> Answer {
        let headers = [("Lambda-Extension-Name", "test-extension")];
        call(api, "POST", "/2020-01-01/extension/register", &headers, events).await.expect("an answer")
    }

    async fn next_event(api: &str, extension_id: Option<&str>) -> Option<Answer> {
        let headers: Vec<(&str, &str)> = extension_id.map(|id| (EXTENSION_ID, id)).into_iter().collect();
        call(api, "GET", "/2020-01-01/extension/event/next", &headers, "").await
    }

    #[tokio::test]
    async fn extensions_register_and_only_shutdown_subscribers_get_shutdown_then_sigterm_follows() {
        let script = Script::new();
        let host = host(&script.path).await;
        let api = script.runtime_api().await;

        let subscribed = register(&api, r#"{"events":["SHUTDOWN"]}"#).await;
        assert_eq!(subscribed.status, 200);
        let id = subscribed.header(EXTENSION_ID).expect("an identifier").to_string();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        let expected =
            serde_json::json!({"functionName": "Extended", "functionVersion": "$LATEST", "handler": "function"});
        assert_eq!(subscribed.body, expected);
        let silent = register(&api, r#"{"events":[]}"#).await;
        let silent_id = silent.header(EXTENSION_ID).unwrap().to_string();
        assert_ne!(silent_id, id);

        assert_eq!(next_event(&api, None).await.unwrap().status, 403);
        assert_eq!(next_event(&api, Some("not-registered")).await.unwrap().status, 403);

        let shutdown_event = tokio::spawn({
            let api = api.clone();
            async move { next_event(&api, Some(&id)).await }
        });
        let pending = tokio::spawn({
            let api = api.clone();
            async move { next_event(&api, Some(&silent_id)).await }
        });
        sleep(Duration::from_millis(200)).await;
        assert!(!shutdown_event.is_finished(), "event/next answers only at shutdown");

        let stopping = Instant::now();
        host.shutdown().await;
        let took = stopping.elapsed();
        let event = shutdown_event.await.unwrap().expect("the SHUTDOWN event");
        assert_eq!(
            (event.status, &event.body["eventType"], &event.body["shutdownReason"]),
            (200, &"SHUTDOWN".into(), &"spindown".into())
        );
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        let deadline_ms = event.body["deadlineMs"].as_i64().unwrap();
        assert!((now_ms - 1_000..=now_ms + 500).contains(&deadline_ms), "deadline {deadline_ms}, now {now_ms}");
        assert!(event.header("Lambda-Extension-Event-Identifier").is_some());
        assert!(pending.await.unwrap().is_none(), "no event for an extension that subscribed to none");
        assert_eq!(script.log(), "SIGTERM\n", "the process got SIGTERM");
        assert!(took < SHUTDOWN_BUDGET, "it exited on SIGTERM, no need to wait for the budget: {took:?}");
    }

    #[tokio::test]
    async fn without_extensions_the_process_is_killed_without_sigterm() {
        let script = Script::new();
        let host = host(&script.path).await;
        script.runtime_api().await;
        host.shutdown().await;
        assert_eq!(script.log(), "", "Lambda sends SIGTERM only to a function with extensions");
    }

    #[tokio::test]
    async fn registrations_that_cannot_be_served_are_refused() {
        let script = Script::new();
        let _host = host(&script.path).await;
        let api = script.runtime_api().await;
        for body in [r#"{"events":["SHUTDOWN","PLATFORM"]}"#, r#"{"events":["LOGS"]}"#, "not json"] {
            let refused = register(&api, body).await;
            assert_eq!(refused.status, 400, "{body}");
            assert!(refused.header(EXTENSION_ID).is_none());
        }
        let unnamed = call(&api, "POST", "/2020-01-01/extension/register", &[], "{}").await.unwrap();
        assert_eq!(unnamed.status, 400);
        assert_eq!(register(&api, "{}").await.status, 200, "no events at all is fine: it only asks for SIGTERM");
    }

    const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[tokio::test]
    async fn an_invoke_subscriber_gets_each_invoke_and_holds_the_next_until_it_is_back() {
        let script = Script::new();
        let host = Arc::new(host(&script.path).await);
        let api = script.runtime_api().await;
        let id = register(&api, r#"{"events":["INVOKE"]}"#).await.header(EXTENSION_ID).unwrap().to_string();

        // The test plays the runtime.
        let runtime_next = tokio::spawn({
            let api = api.clone();
            async move { call(&api, "GET", "/2018-06-01/runtime/invocation/next", &[], "").await }
        });
        let invocation = Invocation {
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
            trace_header: TRACE.into(),
            payload: b"{}".to_vec(),
            deadline: Instant::now() + Duration::from_secs(10),
            deadline_wall: SystemTime::now() + Duration::from_secs(10),
        };
        let invoked = tokio::spawn({
            let host = host.clone();
            async move { host.invoke(invocation).await }
        });
        sleep(Duration::from_millis(200)).await;
        assert!(!runtime_next.is_finished(), "the event waits for the extension to be back in event/next");

        let event = next_event(&api, Some(&id)).await.expect("the INVOKE event");
        assert_eq!(event.body["eventType"], "INVOKE");
        assert_eq!(event.body["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(event.body["invokedFunctionArn"], "arn:aws:lambda:eu-west-1:123456789012:function:Extended");
        assert_eq!(event.body["tracing"], serde_json::json!({"type": "X-Amzn-Trace-Id", "value": TRACE}));
        let runtime_event = runtime_next.await.unwrap().expect("the runtime's event");
        assert_eq!(runtime_event.header("Lambda-Runtime-Aws-Request-Id"), Some("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));

        let path = "/2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response";
        assert_eq!(call(&api, "POST", path, &[], r#"{"statusCode":200}"#).await.unwrap().status, 202);
        assert_eq!(invoked.await.unwrap(), Ok(br#"{"statusCode":200}"#.to_vec()));
        host.shutdown().await;
        assert_eq!(script.log(), "SIGTERM\n");
    }
}
