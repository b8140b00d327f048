//! `--xray-daemon ADDR`: a UDP listener standing in for the X-Ray daemon that Lambda runs beside a function with active
//! tracing, so that what the function would send to X-Ray can be watched locally.
//!
//! Functions run by the Runtime API host get its address in `AWS_XRAY_DAEMON_ADDRESS`, as on Lambda; a function in a
//! container behind `--invoke-url` must be given the variable by whoever starts the container (with the listener on an
//! address the container can reach). Every datagram received is shown on stdout, through the gateway's bounded output
//! ([`crate::output`]): as text or as one JSON line (see [`document`]), the format the trace view would use
//! (`--trace-view`). A datagram that is not a segment document gets one warning line on stderr.
//!
//! The listener is a thread of its own, blocked in `recv_from`: parsing and rendering never take the serving thread's
//! time, and as a plain thread that nobody joins it never holds up the exit.

mod document;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::output::Stream;
use crate::trace_view::TraceView;

/// The variable that tells a function (and the X-Ray SDKs) where the daemon listens.
pub const ADDRESS_VARIABLE: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// The largest UDP payload, and so the largest segment document a datagram can carry (with its header).
const MAX_DATAGRAM: usize = 65_535;

/// How long the listener pauses after a failed receive, instead of spinning while the failure lasts.
const RECEIVE_PAUSE: Duration = Duration::from_millis(50);

/// How the documents are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// A line per (sub)segment, in a tree.
    Text,
    /// The document as received, one JSON line.
    Json,
}

impl Shown {
    /// The format `--trace-view` asks for: text or JSON as it says, and for `auto` and `off` (which turns the trace
    /// view off, not this) text if stdout is a terminal, JSON lines if not.
    pub fn for_view(mode: TraceView, stdout_is_terminal: bool) -> Self {
        match mode {
            TraceView::Text => Self::Text,
            TraceView::Json => Self::Json,
            TraceView::Auto | TraceView::Off if stdout_is_terminal => Self::Text,
            TraceView::Auto | TraceView::Off => Self::Json,
        }
    }
}

/// The listener, receiving on its thread.
#[derive(Debug)]
pub struct XrayDaemon {
    address: SocketAddr,
}

impl XrayDaemon {
    /// Binds `address` (port 0: a free one) and starts receiving on a thread of its own.
    pub fn start(address: SocketAddr, shown: Shown) -> io::Result<Self> {
        let socket = UdpSocket::bind(address)?;
        let address = socket.local_addr()?;
        std::thread::Builder::new().name("xray daemon".into()).spawn(move || receive(&socket, shown))?;
        Ok(Self { address })
    }

    /// Where the listener is bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address functions send to: the bound one, or, bound to all interfaces, the loopback address of its family
    /// (the Runtime API host's functions run on this machine).
    pub fn function_address(&self) -> SocketAddr {
        let ip = match self.address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.address.port())
    }

    /// The variable that points a function at the listener, `AWS_XRAY_DAEMON_ADDRESS=HOST:PORT`.
    pub fn function_environment(&self) -> (String, String) {
        (ADDRESS_VARIABLE.to_string(), self.function_address().to_string())
    }
}

/// Shows every datagram that arrives, for ever.
fn receive(socket: &UdpSocket, shown: Shown) {
    let mut buffer = vec![0; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buffer) {
            Ok((length, from)) => show(&buffer[..length], from, shown),
            Err(error) => {
                crate::message!("X-Ray daemon: cannot receive: {error}");
                std::thread::sleep(RECEIVE_PAUSE);
            }
        }
    }
}

/// Writes `datagram`'s document on stdout in one write (so that no other line comes between its lines), or a warning
/// on stderr.
fn show(datagram: &[u8], from: SocketAddr, shown: Shown) {
    match document::parse(datagram) {
        Ok(document) => {
            let rendered = match shown {
                Shown::Text => document.text(),
                Shown::Json => document.json_line(),
            };
            Stream::Stdout.write_line(rendered.as_bytes());
        }
        Err(refusal) => {
            crate::message!("X-Ray daemon: ignored a datagram of {} bytes from {from}: {refusal}", datagram.len());
        }
    }
}
