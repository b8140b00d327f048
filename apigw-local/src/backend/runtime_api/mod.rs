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
//! and a process that registered an extension gets SIGTERM and `SHUTDOWN_BUDGET` (500 ms) to exit before SIGKILL;
//! Lambda sends no SIGTERM to a process without extensions, so neither does this host.
//!
//! Parts: `api` serves the HTTP endpoints and turns each request into a call for the environment; `environment`
//! starts the function's processes and replaces them; `process` is one process's life, a state machine driven by the
//! calls, the queue, the process's exit, deadlines and the host's stop.

mod api;
mod environment;
mod process;
#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{Backend, Invocation, InvokeError};
use environment::Environment;

/// A function that cannot start is restarted with growing pauses, not in a hot loop.
const RESTART_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// How long a stopped function's last output may take to be read.
const LAST_OUTPUT: Duration = Duration::from_millis(200);

/// What the execution environments see of the function's configuration.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The executable that implements the Lambda runtime, e.g. `target/release/bootstrap`.
    pub executable: PathBuf,
    /// `AWS_LAMBDA_FUNCTION_NAME`, and the name in the function's ARN.
    pub name: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: u32,
    /// `AWS_REGION`, and the region in the function's ARN.
    pub region: String,
    /// The account in the function's ARN.
    pub account_id: String,
    /// Variables set for the function on top of those it inherits from the gateway: `--function-env`'s, and where
    /// the trace view collects its telemetry ([`crate::trace_view`]), if it does.
    pub environment: Vec<(String, String)>,
}

impl FunctionConfig {
    fn arn(&self) -> String {
        format!("arn:aws:lambda:{}:{}:function:{}", self.region, self.account_id, self.name)
    }
}

/// A request for the function, queued for whichever environment is free first, with the channel its output goes
/// back on.
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
            tokio::spawn(api::serve(listener, calls));
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
    /// Queues the invocation for the first free environment and waits for its output.
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
