//! The limit on open files (`RLIMIT_NOFILE`): raised for the gateway, given back to the function's processes.
//!
//! A gateway with a thousand clients holds a socket for each, on top of its listener, the Runtime API listeners and
//! connections of every execution environment, and the exporter's connections: more than the soft limit of 1,024 that
//! many systems start processes with, and past it `accept` fails. The hard limit is as far as a process may raise its
//! own without privileges. The `bootstrap` processes get back the limit the gateway was started with: Lambda gives a
//! function 1,024 descriptors, and the raise is for the gateway's sockets, not for theirs.

use std::io;
use std::sync::OnceLock;

/// The limit before [`raise_to_hard_limit`] raised it; unset when it did not change it.
static STARTED_WITH: OnceLock<libc::rlimit> = OnceLock::new();

/// Raises this process's soft limit to its hard limit.
pub fn raise_to_hard_limit() -> io::Result<()> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes into the struct it is given, which outlives the call.
    #[allow(unsafe_code)]
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if read != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur >= limit.rlim_max {
        return Ok(());
    }
    let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
    // SAFETY: setrlimit only reads the struct it is given, which outlives the call.
    #[allow(unsafe_code)]
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    let _ = STARTED_WITH.set(limit);
    Ok(())
}

/// The limit this process was started with, when [`raise_to_hard_limit`] has raised it since: the one to give back to
/// a process it starts.
pub fn started_with() -> Option<libc::rlimit> {
    STARTED_WITH.get().copied()
}
