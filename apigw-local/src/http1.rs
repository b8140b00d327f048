//! HTTP/1.1 on the wire, written by hand because API Gateway hands header names to the function with the client's
//! casing, and no mainstream Rust HTTP server exposes it. Used by both the gateway front and the Runtime API host.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// One header as it arrived: the name keeps the client's casing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A complete request, body read and de-chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request-target as sent, e.g. `/test/helloworld?name=John`.
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// In arrival order, repeated names kept.
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

impl Request {
    /// The last value of a header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        todo!()
    }

    /// The target without its query string (and without a fragment, should a client send one).
    pub fn path(&self) -> &str {
        todo!()
    }

    /// The raw query string after `?` (fragment removed), if any.
    pub fn query(&self) -> Option<&str> {
        todo!()
    }

    /// Whether the client wants the connection kept open after this exchange (HTTP/1.1 default yes unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub fn keep_alive(&self) -> bool {
        todo!()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Written in this order and casing. `Content-Length`, `Connection` and `Date` are added by [`Connection::write_response`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        todo!()
    }

    /// A response with `Content-Type: application/json` and the serialized value as its body.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        todo!()
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        todo!()
    }
}

/// What a server accepts before it refuses a request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request line plus headers, in bytes (API Gateway: 10,240).
    pub max_head: usize,
    /// Body, in bytes after de-chunking (API Gateway: 10 MiB).
    pub max_body: usize,
    /// How long a client may take to send a complete head once it has sent its first byte (slowloris defence).
    pub head_timeout: Duration,
    /// How long a client may take to send the body.
    pub body_timeout: Duration,
    /// How long an idle keep-alive connection is held open waiting for the next request.
    pub idle_timeout: Duration,
}

#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or the idle timeout passed) before sending a byte of a new request: not an error to report.
    Closed,
    HeadTooLarge,
    BodyTooLarge,
    /// The bytes are not HTTP/1.x; the text says what was wrong.
    Malformed(String),
    /// The peer started a request and then stalled past a timeout.
    Timeout,
    Io(io::Error),
}

/// A server-side HTTP/1.1 connection: reads requests, writes responses, supports keep-alive and pipelining.
pub struct Connection<S> {
    stream: S,
    buffer: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S) -> Self {
        Self { stream, buffer: Vec::new() }
    }

    /// Reads the next request. Answers `Expect: 100-continue` with `100 Continue` when the announced body fits the limits.
    pub async fn read_request(&mut self, limits: &Limits) -> Result<Request, ReadError> {
        todo!()
    }

    /// Writes a response with `Content-Length`; with `head_only` the body is not sent but its length is announced.
    pub async fn write_response(&mut self, response: &Response, head_only: bool, keep_alive: bool) -> io::Result<()> {
        todo!()
    }
}
