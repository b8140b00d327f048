//! Where events go: a Lambda Runtime API hosted here for local `bootstrap` processes ([`runtime_api`]), or a Lambda
//! Invoke endpoint such as the Runtime Interface Emulator in a container ([`invoke`]).

pub mod invoke;
pub mod runtime_api;

use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use tokio::time::Instant;

/// One event for the function.
#[derive(Debug)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`: the gateway's request id, so that gateway and function logs line up.
    pub request_id: String,
    /// `Lambda-Runtime-Trace-Id`: the X-Ray trace header of the request.
    pub trace_header: String,
    /// The proxy event, serialized.
    pub payload: Vec<u8>,
    /// When the integration gives up (API Gateway's integration timeout), as a monotonic instant...
    pub deadline: Instant,
    /// ...and as wall-clock time, for `Lambda-Runtime-Deadline-Ms`.
    pub deadline_wall: SystemTime,
}

/// Why an invocation produced no usable output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The function ran and failed: an error it reported, a crash, an init failure or an oversized response.
    Function(String),
    /// No answer before the deadline.
    Timeout,
    /// The function could not be invoked at all (endpoint unreachable, throttled, rejected).
    Service(String),
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Function(reason) => write!(f, "function error: {reason}"),
            Self::Timeout => f.write_str("timed out"),
            Self::Service(reason) => write!(f, "invoke failed: {reason}"),
        }
    }
}

impl std::error::Error for InvokeError {}

/// Runs the function on one event and returns its output payload.
pub trait Backend: Send + Sync + 'static {
    /// Runs the function on `invocation`'s event: its output payload, or why there is none.
    fn invoke(&self, invocation: Invocation) -> impl Future<Output = Result<Vec<u8>, InvokeError>> + Send;

    /// Stops what the back end runs, giving it the time Lambda would; requests still in flight fail.
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
