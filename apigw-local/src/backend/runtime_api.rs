//! The Lambda Runtime API, hosted here for `bootstrap` processes run as local execution environments.
//!
//! Each environment is one process with its own Runtime API listener, so an invocation is always attributable to the
//! process that took it: when that process crashes or overruns its deadline, exactly its request fails (as Lambda
//! fails it) and the environment is replaced. Environments take requests from one FIFO queue, one at a time each.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until};

use super::{Backend, Invocation, InvokeError};
use crate::http1::{Connection, Limits, Request, Response};

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
}

impl RuntimeApiHost {
    /// Binds one Runtime API listener per environment and starts the processes.
    pub async fn start(config: FunctionConfig, concurrency: usize) -> io::Result<Self> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let queue: JobQueue = Arc::new(Mutex::new(queue));
        let config = Arc::new(config);
        for index in 1..=concurrency {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            let runtime_api = listener.local_addr()?;
            let (calls, calls_received) = mpsc::channel(8);
            tokio::spawn(serve(listener, calls));
            let environment = Environment { index, config: config.clone(), runtime_api, queue: queue.clone() };
            tokio::spawn(environment.run(calls_received));
        }
        Ok(Self { jobs })
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
}

async fn serve(listener: TcpListener, calls: mpsc::Sender<RuntimeCall>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
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

struct Environment {
    index: usize,
    config: Arc<FunctionConfig>,
    runtime_api: SocketAddr,
    queue: JobQueue,
}

impl Environment {
    async fn run(self, mut calls: mpsc::Receiver<RuntimeCall>) {
        let mut backoff = RESTART_BACKOFF.0;
        loop {
            let ended = match self.spawn() {
                Ok(mut child) => self.supervise(&mut child, &mut calls).await,
                Err(error) => {
                    let reason = format!("cannot start {}: {error}", self.config.executable.display());
                    eprintln!("apigw-local: environment {}: {reason}", self.index);
                    self.fail_one_waiting(reason);
                    Ended::DuringInit
                }
            };
            match ended {
                Ended::Shutdown => return,
                Ended::AfterInit => backoff = RESTART_BACKOFF.0,
                Ended::DuringInit => {
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(RESTART_BACKOFF.1);
                }
            }
            // Whatever the old process still had queued up belongs to a runtime that no longer exists.
            while calls.try_recv().is_ok() {}
        }
    }

    fn spawn(&self) -> io::Result<Child> {
        let config = &self.config;
        let mut command = Command::new(&config.executable);
        command
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &config.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", config.memory_mb.to_string())
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", config.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/[$LATEST]{}", uuid::Uuid::new_v4().simple()))
            .env("AWS_REGION", &config.region)
            .env("AWS_DEFAULT_REGION", &config.region)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(task_root) = config.executable.parent() {
            command.env("LAMBDA_TASK_ROOT", task_root);
        }
        command.spawn()
    }

    async fn supervise(&self, child: &mut Child, calls: &mut mpsc::Receiver<RuntimeCall>) -> Ended {
        let mut waiting_runtime: Option<oneshot::Sender<Response>> = None;
        let mut in_flight: Option<InFlight> = None;
        let mut init_error: Option<String> = None;
        let mut initialized = false;
        loop {
            let deadline = in_flight.as_ref().map_or_else(far_future, |job| job.deadline);
            tokio::select! {
                status = child.wait() => {
                    let reason = exit_reason(status, init_error.take());
                    if let Some(job) = in_flight.take() {
                        eprintln!("apigw-local: environment {}: {reason} during request {}", self.index, job.request_id);
                        let _ = job.reply.send(Err(InvokeError::Function(reason)));
                    } else if !initialized {
                        eprintln!("apigw-local: environment {}: {reason} before asking for an event", self.index);
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
                                eprintln!("apigw-local: environment {}: request {request_id} failed: {summary}", self.index);
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
                    };
                    let _ = call.reply.send(response);
                }
                job = take_job(&self.queue), if waiting_runtime.is_some() && in_flight.is_none() => {
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
                    let event = next_event(invocation, &self.config);
                    if let Some(runtime) = waiting_runtime.take() && runtime.send(event).is_ok() {
                        in_flight = Some(InFlight { request_id, deadline, reply });
                    } else {
                        let reason = "the runtime hung up while waiting for an event".into();
                        let _ = reply.send(Err(InvokeError::Function(reason)));
                    }
                }
                () = sleep_until(deadline), if in_flight.is_some() => {
                    // Lambda stops a function at its timeout and discards the environment, and so do we.
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    if let Some(job) = in_flight.take() {
                        eprintln!("apigw-local: environment {}: request {} timed out; process replaced", self.index, job.request_id);
                        let _ = job.reply.send(Err(InvokeError::Timeout));
                    }
                    return Ended::AfterInit;
                }
            }
        }
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
