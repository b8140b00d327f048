//! One execution environment: starts the function's process with the environment Lambda gives it, lets
//! [`Process`] supervise it, and replaces it when it ends, pausing longer each time it fails to start.

use std::io;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;

use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio::time::sleep;

use super::api::RuntimeCall;
use super::process::{Ended, Process};
use super::{FunctionConfig, JobQueue, RESTART_BACKOFF};
use crate::backend::InvokeError;
use crate::output::{self, Stream};

/// An execution environment: its number, the function it runs, its Runtime API address, and where its requests come
/// from.
pub(super) struct Environment {
    pub(super) index: usize,
    pub(super) config: Arc<FunctionConfig>,
    pub(super) runtime_api: SocketAddr,
    pub(super) queue: JobQueue,
    pub(super) stop: watch::Receiver<bool>,
}

impl Environment {
    /// Runs one process after the other until the host stops. `calls` are the Runtime API calls of whichever runs.
    pub(super) async fn run(self, mut calls: mpsc::Receiver<RuntimeCall>) {
        let mut backoff = RESTART_BACKOFF.0;
        loop {
            let ended = match self.spawn() {
                Ok(process) => process.supervise(&mut calls).await,
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

    /// Starts the function's process, and the task that forwards its output (see [`crate::output`]).
    fn spawn(&self) -> io::Result<Process<'_>> {
        let mut child = self.command().spawn()?;
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
        Ok(Process::new(self, child, output))
    }

    fn command(&self) -> Command {
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
        // The gateway's service name is the gateway's: a function inheriting it would report under the gateway's name.
        command.env_remove("OTEL_SERVICE_NAME");
        if let Ok(attributes) = std::env::var("OTEL_RESOURCE_ATTRIBUTES") {
            command.env("OTEL_RESOURCE_ATTRIBUTES", without_service_name(&attributes));
        }
        // Set last, so over what the function inherits: `--function-env` may name the function's service after all.
        command.envs(config.environment.iter().map(|(name, value)| (name, value)));
        if let Some(task_root) = config.executable.parent() {
            command.env("LAMBDA_TASK_ROOT", task_root);
        }
        // The function runs with the open files limit the gateway was started with (see open_files.rs), not the one
        // the gateway raised for its own sockets.
        if let Some(limit) = crate::open_files::started_with() {
            // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe functions may
            // be called: setrlimit is one, and nothing here allocates. Lowering a soft limit cannot fail for want of
            // privilege; if it failed anyway, the function would still run, with more descriptors.
            #[allow(unsafe_code)]
            unsafe {
                command.pre_exec(move || {
                    libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                    Ok(())
                });
            }
        }
        command
    }

    /// Fails the oldest queued request, if one is waiting and no other environment is about to take it.
    pub(super) fn fail_one_waiting(&self, reason: String) {
        if let Ok(mut queue) = self.queue.try_lock()
            && let Ok(job) = queue.try_recv()
        {
            let _ = job.reply.send(Err(InvokeError::Function(reason)));
        }
    }
}

/// Resolves once the host is told to stop, or is gone.
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// `OTEL_RESOURCE_ATTRIBUTES` without its `service.name` entries.
pub(super) fn without_service_name(attributes: &str) -> String {
    let entries =
        attributes.split(',').filter(|entry| entry.split_once('=').is_none_or(|(key, _)| key.trim() != "service.name"));
    entries.collect::<Vec<_>>().join(",")
}
