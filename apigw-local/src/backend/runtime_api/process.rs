//! One function process's life in its execution environment, as a state machine: [`Process`] holds what is known
//! between events, and each event (a Runtime API call, a queued request, the process's exit, the in-flight request's
//! deadline, the host's stop) is one method, run by [`Process::supervise`] until the life ends.

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

use tokio::process::Child;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

use super::api::{self, CallKind, MAX_RESPONSE_BYTES, RuntimeCall, runtime_error};
use super::environment::{Environment, stopped};
use super::{Job, LAST_OUTPUT};
use crate::backend::InvokeError;
use crate::http1::Response;

/// Lambda's shutdown phase for a function with internal extensions: from SIGTERM to SIGKILL.
pub(super) const SHUTDOWN_BUDGET: Duration = Duration::from_millis(500);

/// How a process's life ended, which decides whether the next one starts at once.
pub(super) enum Ended {
    /// It served at least one `/next`: a healthy process that crashed or was stopped; replace it now.
    AfterInit,
    /// It never got as far as asking for an event: slow down before trying again.
    DuringInit,
    /// The host is gone.
    Shutdown,
}

/// The invocation the runtime is working on.
struct InFlight {
    request_id: String,
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<u8>, InvokeError>>,
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

/// A running function process and what its environment knows of it.
pub(super) struct Process<'a> {
    environment: &'a Environment,
    child: Child,
    /// The task passing the process's output on; it ends once the process has closed its stdout and stderr.
    output: JoinHandle<()>,
    /// The runtime's `/next`, waiting for an event.
    waiting_runtime: Option<oneshot::Sender<Response>>,
    in_flight: Option<InFlight>,
    /// What the runtime reported on `/init/error`, for the message when the process exits.
    init_error: Option<String>,
    /// The runtime has asked for an event at least once.
    initialized: bool,
    extensions: Vec<Extension>,
    waiting_extensions: Vec<WaitingExtension>,
}

impl<'a> Process<'a> {
    pub(super) fn new(environment: &'a Environment, child: Child, output: JoinHandle<()>) -> Self {
        Self {
            environment,
            child,
            output,
            waiting_runtime: None,
            in_flight: None,
            init_error: None,
            initialized: false,
            extensions: Vec::new(),
            waiting_extensions: Vec::new(),
        }
    }

    /// Handles the process's events until its life ends. `calls` are its Runtime API calls.
    pub(super) async fn supervise(mut self, calls: &mut mpsc::Receiver<RuntimeCall>) -> Ended {
        let mut stop = self.environment.stop.clone();
        loop {
            let deadline = self.in_flight.as_ref().map(|job| job.deadline);
            let ready = self.ready_for_an_event();
            let ended = tokio::select! {
                status = self.child.wait() => Some(self.on_exit(status)),
                Some(call) = calls.recv() => {
                    self.on_call(call);
                    None
                }
                job = take_job(&self.environment.queue), if ready => match job {
                    Some(job) => {
                        self.on_job(job);
                        None
                    }
                    None => Some(self.on_host_gone()),
                },
                () = stopped(&mut stop) => Some(self.on_shutdown().await),
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    Some(self.on_timeout().await)
                }
            };
            if let Some(ended) = ended {
                return ended;
            }
        }
    }

    /// The runtime waits in `/next` with no invocation in hand, and every extension waits in `event/next`: as on
    /// Lambda, whose init phase ends only when the runtime and every registered extension have asked for their next
    /// event, whatever they subscribed to. One that subscribed to `SHUTDOWN` only then stays waiting; an `INVOKE`
    /// subscriber comes back after each event.
    fn ready_for_an_event(&self) -> bool {
        let extensions_ready = self
            .extensions
            .iter()
            .all(|extension| self.waiting_extensions.iter().any(|waiting| waiting.extension.id == extension.id));
        self.waiting_runtime.is_some() && self.in_flight.is_none() && extensions_ready
    }

    /// The process exited: its request, or the request waiting for a process that could not start, fails.
    fn on_exit(&mut self, status: io::Result<ExitStatus>) -> Ended {
        let reason = exit_reason(status, self.init_error.take());
        let index = self.environment.index;
        if let Some(job) = self.in_flight.take() {
            crate::message!("environment {index}: {reason} during request {}", job.request_id);
            let _ = job.reply.send(Err(InvokeError::Function(reason)));
        } else if !self.initialized {
            crate::message!("environment {index}: {reason} before asking for an event");
            // Lambda fails the invocation that triggered a failed init; without this a function that cannot
            // start would leave every request waiting for the integration timeout.
            self.environment.fail_one_waiting(reason);
        }
        if self.initialized { Ended::AfterInit } else { Ended::DuringInit }
    }

    fn on_call(&mut self, RuntimeCall { kind, reply }: RuntimeCall) {
        let response = match kind {
            CallKind::Next => return self.on_next(reply),
            CallKind::NextExtensionEvent { extension_id } => return self.on_next_extension_event(&extension_id, reply),
            CallKind::Response { request_id, body } => self.on_response(&request_id, body),
            CallKind::Error { request_id, summary } => self.on_error(&request_id, summary),
            CallKind::InitError { summary } => self.on_init_error(summary),
            CallKind::RegisterExtension { invoke, shutdown } => self.on_register(invoke, shutdown),
        };
        let _ = reply.send(response);
    }

    /// `/next`: answered with the next event. Asking again without answering fails the invocation in hand.
    fn on_next(&mut self, reply: oneshot::Sender<Response>) {
        self.initialized = true;
        if let Some(job) = self.in_flight.take() {
            let reason = "the runtime asked for the next event without answering this one".into();
            let _ = job.reply.send(Err(InvokeError::Function(reason)));
        }
        self.waiting_runtime = Some(reply);
    }

    fn on_response(&mut self, request_id: &str, body: Vec<u8>) -> Response {
        match self.take_in_flight(request_id) {
            Some(job) if body.len() > MAX_RESPONSE_BYTES => {
                let reason = format!("response of {} bytes is over Lambda's limit", body.len());
                let _ = job.reply.send(Err(InvokeError::Function(reason)));
                let message = format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).");
                runtime_error(413, "RequestEntityTooLarge", &message)
            }
            Some(job) => {
                let _ = job.reply.send(Ok(body));
                api::accepted()
            }
            None => runtime_error(400, "InvalidRequestID", "Invalid request ID"),
        }
    }

    fn on_error(&mut self, request_id: &str, summary: String) -> Response {
        match self.take_in_flight(request_id) {
            Some(job) => {
                crate::message!("environment {}: request {request_id} failed: {summary}", self.environment.index);
                let _ = job.reply.send(Err(InvokeError::Function(summary)));
                api::accepted()
            }
            None => runtime_error(400, "InvalidRequestID", "Invalid request ID"),
        }
    }

    fn on_init_error(&mut self, summary: String) -> Response {
        self.init_error = Some(summary);
        // Lambda discards an environment whose init failed; the exit is handled in `on_exit`.
        let _ = self.child.start_kill();
        api::accepted()
    }

    fn on_register(&mut self, invoke: bool, shutdown: bool) -> Response {
        let id = crate::random::uuid_v4().to_string();
        let response = api::registered(&self.environment.config, &id);
        self.extensions.push(Extension { id, invoke, shutdown });
        response
    }

    /// An extension's `event/next`: it waits for the next event it subscribed to.
    fn on_next_extension_event(&mut self, extension_id: &str, reply: oneshot::Sender<Response>) {
        match self.extensions.iter().find(|extension| extension.id == extension_id) {
            Some(extension) => {
                let extension = extension.clone();
                self.waiting_extensions.push(WaitingExtension { extension, reply });
            }
            None => {
                let message = "unknown Lambda-Extension-Identifier";
                let _ = reply.send(runtime_error(403, "Extension.UnknownExtensionIdentifier", message));
            }
        }
    }

    /// A request from the queue: its `INVOKE` event to the subscribers, and the event to the runtime.
    fn on_job(&mut self, Job { invocation, reply }: Job) {
        // The caller gave up (integration timeout) while the request was queued.
        if reply.is_closed() {
            return;
        }
        let (request_id, deadline) = (invocation.request_id.clone(), invocation.deadline);
        let (invoked, idle) = std::mem::take(&mut self.waiting_extensions)
            .into_iter()
            .partition::<Vec<_>, _>(|waiting| waiting.extension.invoke);
        self.waiting_extensions = idle;
        let config = &self.environment.config;
        for waiting in invoked {
            let _ = waiting.reply.send(api::invoke_event(&invocation, config));
        }
        let event = api::next_event(invocation, config);
        if let Some(runtime) = self.waiting_runtime.take()
            && runtime.send(event).is_ok()
        {
            self.in_flight = Some(InFlight { request_id, deadline, reply });
        } else {
            let reason = "the runtime hung up while waiting for an event".into();
            let _ = reply.send(Err(InvokeError::Function(reason)));
        }
    }

    /// The queue is closed: the host is gone.
    fn on_host_gone(&mut self) -> Ended {
        let _ = self.child.start_kill();
        Ended::Shutdown
    }

    /// The in-flight request's deadline passed.
    async fn on_timeout(&mut self) -> Ended {
        // Lambda stops a function at its timeout and discards the environment, and so do we.
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        if let Some(job) = self.in_flight.take() {
            let index = self.environment.index;
            crate::message!("environment {index}: request {} timed out; process replaced", job.request_id);
            let _ = job.reply.send(Err(InvokeError::Timeout));
        }
        Ended::AfterInit
    }

    /// The host stops: Lambda's shutdown phase. With extensions: `SHUTDOWN` to those waiting for it, SIGTERM, and
    /// [`SHUTDOWN_BUDGET`] before SIGKILL. Without: SIGKILL at once.
    async fn on_shutdown(&mut self) -> Ended {
        let index = self.environment.index;
        if self.extensions.is_empty() {
            let _ = self.child.kill().await;
        } else {
            let deadline = SystemTime::now() + SHUTDOWN_BUDGET;
            // The others' `event/next` stays pending until the process is gone, as on Lambda.
            let mut pending = Vec::new();
            for waiting in std::mem::take(&mut self.waiting_extensions) {
                if waiting.extension.shutdown {
                    let _ = waiting.reply.send(api::shutdown_event(deadline));
                } else {
                    pending.push(waiting.reply);
                }
            }
            if let Err(error) = terminate(&self.child) {
                crate::message!("environment {index}: cannot send SIGTERM: {error}");
            }
            if timeout(SHUTDOWN_BUDGET, self.child.wait()).await.is_err() {
                crate::message!("environment {index}: still running {SHUTDOWN_BUDGET:?} after SIGTERM; killed");
                let _ = self.child.kill().await;
            }
            drop(pending);
        }
        // The process is gone, but the last lines it wrote (those of its shutdown) may still be in the pipes; a
        // process of its own that kept them open gets no more than this.
        let _ = timeout(LAST_OUTPUT, &mut self.output).await;
        Ended::Shutdown
    }

    fn take_in_flight(&mut self, request_id: &str) -> Option<InFlight> {
        self.in_flight.take_if(|job| job.request_id == request_id)
    }
}

async fn take_job(queue: &Mutex<mpsc::UnboundedReceiver<Job>>) -> Option<Job> {
    queue.lock().await.recv().await
}

/// Sends SIGTERM to the process, which tokio's `Child` cannot do (its `kill` is SIGKILL).
fn terminate(child: &Child) -> io::Result<()> {
    // No id: already reaped, nothing left to signal.
    let Some(pid) = child.id() else { return Ok(()) };
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: kill(2) takes no pointers. `Child::id` is `None` once the process has been reaped, so the pid is still
    // our child's (a zombie at worst) and cannot name a process that reused it.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    if sent == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
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
