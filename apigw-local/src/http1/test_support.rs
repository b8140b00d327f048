//! What the parts' unit tests share: a connection over an in-memory pipe and small limits to run into.

use std::time::Duration;

use tokio::io::{AsyncWriteExt, DuplexStream, duplex};

use super::{Connection, Limits, ReadError, Request};

pub(super) const LIMITS: Limits = Limits {
    max_head: 1024,
    max_body: 1024,
    head_timeout: Duration::from_secs(5),
    body_timeout: Duration::from_secs(5),
    idle_timeout: Duration::from_secs(5),
};

/// A fixed date, so that whole responses can be compared.
pub(super) const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

pub(super) fn pair() -> (Connection<DuplexStream>, DuplexStream) {
    let (server, client) = duplex(64 * 1024);
    (Connection::new(server), client)
}

/// Serves `bytes`, sent in one write and then the client half-kept open, and returns the first read.
pub(super) async fn read_one(bytes: &[u8], limits: &Limits) -> (Result<Request, ReadError>, DuplexStream) {
    let (mut connection, mut client) = pair();
    client.write_all(bytes).await.unwrap();
    (connection.read_request(limits).await, client)
}

pub(super) fn names(request: &Request) -> Vec<(&str, &str)> {
    request.headers.iter().map(|header| (&*header.name, &*header.value)).collect()
}
