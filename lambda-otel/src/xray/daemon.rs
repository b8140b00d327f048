//! The UDP socket to the X-Ray daemon.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};

/// One non-blocking socket, bound once, that sends each datagram to the daemon's address.
///
/// A datagram has no answer to wait for: sending costs a system call and never blocks. What cannot be sent (the
/// socket's buffer is full, the network unreachable) is lost: the first failure is logged, the others counted and
/// reported at shutdown, so a missing daemon costs one log line, not one per invocation.
#[derive(Debug)]
pub(crate) struct Daemon {
    socket: UdpSocket,
    address: SocketAddr,
    pub(super) failures: AtomicU64,
}

impl Daemon {
    /// A socket for the daemon at `address` (`host:port`; a host name is resolved now, once).
    pub(crate) fn bind(address: &str) -> io::Result<Self> {
        let address = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address"))?;
        let local: SocketAddr = if address.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        Ok(Daemon { socket, address, failures: AtomicU64::new(0) })
    }

    /// Sends one datagram, or counts it lost.
    pub(crate) fn send(&self, datagram: &[u8]) {
        if let Err(error) = self.socket.send_to(datagram, self.address)
            && self.failures.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!(
                %error,
                daemon = %self.address,
                "X-Ray segments cannot be sent; later failures are counted and reported at shutdown"
            );
        }
    }

    /// Logs how many datagrams were lost, if any.
    pub(crate) fn report_failures(&self) {
        let failures = self.failures.load(Ordering::Relaxed);
        if failures > 0 {
            tracing::warn!(failures, daemon = %self.address, "X-Ray segment datagrams lost since the start");
        }
    }
}
