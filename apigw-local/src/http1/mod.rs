//! HTTP/1.1 on the wire, written by hand because API Gateway hands header names to the function with the client's
//! casing, and no mainstream Rust HTTP server exposes it. Used by both the gateway front and the Runtime API host.
//!
//! A [`Connection`] reads [`Request`]s within the [`Limits`] a server sets (the head in `head` and `host`, the body in
//! `body` and `chunked`, the two put together with their timeouts in `read`) and writes [`Response`]s (`write`).

use std::error;
use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

mod body;
mod chunked;
mod head;
mod host;
mod read;
#[cfg(test)]
mod test_support;
mod write;

/// One header as it arrived: the name keeps the client's casing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// As the client spelled it.
    pub name: String,
    /// Without the whitespace around it; bytes that are not UTF-8 replaced by U+FFFD.
    pub value: String,
}

/// A complete request, body read and de-chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// As sent, e.g. `GET`: methods are case-sensitive.
    pub method: String,
    /// The request-target as sent, e.g. `/test/helloworld?name=John`.
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// In arrival order, repeated names kept.
    pub headers: Vec<Header>,
    /// De-chunked; trailer fields are not kept.
    pub body: Vec<u8>,
}

impl Request {
    /// The last value of a header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().rev().find(|header| header.name.eq_ignore_ascii_case(name)).map(|header| &*header.value)
    }

    /// The target without its query string (and without a fragment, should a client send one).
    pub fn path(&self) -> &str {
        match self.target.find(['?', '#']) {
            Some(end) => &self.target[..end],
            None => &self.target,
        }
    }

    /// The raw query string after `?` (fragment removed), if any.
    pub fn query(&self) -> Option<&str> {
        let start = self.target.find(['?', '#'])?;
        if self.target.as_bytes()[start] == b'#' {
            // A `?` inside the fragment does not start a query.
            return None;
        }
        let query = &self.target[start + 1..];
        Some(match query.find('#') {
            Some(end) => &query[..end],
            None => query,
        })
    }

    /// Whether the client wants the connection kept open after this exchange (HTTP/1.1 default yes unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub fn keep_alive(&self) -> bool {
        let mut close = false;
        let mut keep_alive = false;
        let tokens = self
            .headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case("connection"))
            .flat_map(|header| header.value.split(','))
            .map(str::trim);
        for token in tokens {
            if token.eq_ignore_ascii_case("close") {
                close = true;
            } else if token.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        }
        !close && (self.minor_version >= 1 || keep_alive)
    }
}

/// A response to write with [`Connection::write_response`], which frames it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code; the reason phrase is the standard one, or none for a code without one.
    pub status: u16,
    /// Written in this order and casing. `Content-Length`, `Connection` and `Date` are added by [`Connection::write_response`].
    pub headers: Vec<(String, String)>,
    /// Not written for 1xx, 204 and 304, which carry no content.
    pub body: Vec<u8>,
}

impl Response {
    /// A response without headers or body.
    pub fn new(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A response with `Content-Type: application/json` and the serialized value as its body.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        // A `Value` always serializes: its map keys are strings and it holds no failing `Serialize` impl.
        let body = serde_json::to_vec(body).expect("a serde_json::Value serializes");
        Self { status, headers: vec![("Content-Type".to_owned(), "application/json".to_owned())], body }
    }

    /// Adds a header after those already there (a repeated name adds a field, it does not replace one).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
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

/// Why [`Connection::read_request`] returned no request. After any of them but [`ReadError::Closed`] the stream is not
/// at a request boundary: answer (or not) and close.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or the idle timeout passed) before sending a byte of a new request: not an error to report.
    Closed,
    /// The head (or the trailer section) is over [`Limits::max_head`], or has too many fields: a 431.
    HeadTooLarge,
    /// The body is, or is announced to be, over [`Limits::max_body`]: a 413.
    BodyTooLarge,
    /// The bytes are not HTTP/1.x; the text says what was wrong.
    Malformed(String),
    /// The peer started a request and then stalled past a timeout.
    Timeout,
    /// Reading from or writing to the stream failed.
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("connection closed or idle before a request"),
            Self::HeadTooLarge => f.write_str("request head too large"),
            Self::BodyTooLarge => f.write_str("request body too large"),
            Self::Malformed(what) => write!(f, "malformed request: {what}"),
            Self::Timeout => f.write_str("request not received in time"),
            // The error itself is the source: printing it here too would repeat it in an error chain.
            Self::Io(_) => f.write_str("connection I/O failed"),
        }
    }
}

impl error::Error for ReadError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            Self::Io(error) => Some(error),
            _ => None,
        }
    }
}

/// A connection's buffers are trimmed back after a request or response that made them grow past this.
const KEEP_CAPACITY: usize = 64 * 1024;
const CLOSED_MID_REQUEST: &str = "connection closed mid-request";

/// A server-side HTTP/1.1 connection: reads requests, writes responses, supports keep-alive and pipelining.
pub struct Connection<S> {
    stream: S,
    /// Bytes read but not yet consumed: the start of the next request when a client pipelines.
    buffer: Vec<u8>,
    /// Reused for every response so that writing one does not allocate.
    output: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection on a stream that is at the start of a request.
    pub fn new(stream: S) -> Self {
        Self { stream, buffer: Vec::new(), output: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::test_support::{DATE, LIMITS};
    use super::*;

    fn request(target: &str, minor_version: u8, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".to_owned(),
            target: target.to_owned(),
            minor_version,
            headers: headers
                .iter()
                .map(|(name, value)| Header { name: (*name).to_owned(), value: (*value).to_owned() })
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn keep_alive_semantics() {
        assert!(request("/", 1, &[]).keep_alive());
        assert!(!request("/", 1, &[("Connection", "close")]).keep_alive());
        assert!(!request("/", 1, &[("connection", "Upgrade, CLOSE")]).keep_alive());
        assert!(request("/", 1, &[("Connection", "keep-alive")]).keep_alive());
        assert!(!request("/", 0, &[]).keep_alive());
        assert!(request("/", 0, &[("Connection", "Keep-Alive")]).keep_alive());
        assert!(request("/", 0, &[("Connection", "foo"), ("CONNECTION", " keep-alive ,bar")]).keep_alive());
        assert!(!request("/", 0, &[("Connection", "keep-alive, close")]).keep_alive());
        assert!(!request("/", 0, &[("Keep-Alive", "timeout=5")]).keep_alive());
    }

    #[test]
    fn path_query_and_fragment() {
        let split = |target: &str| {
            let request = request(target, 1, &[]);
            (request.path().to_owned(), request.query().map(str::to_owned))
        };
        assert_eq!(split("/a/b"), ("/a/b".to_owned(), None));
        assert_eq!(split("/a?x=1&y=2"), ("/a".to_owned(), Some("x=1&y=2".to_owned())));
        assert_eq!(split("/a?"), ("/a".to_owned(), Some(String::new())));
        assert_eq!(split("/a?x=1#frag"), ("/a".to_owned(), Some("x=1".to_owned())));
        assert_eq!(split("/a#frag?x=1"), ("/a".to_owned(), None));
        assert_eq!(split("/a?x=1?y#f"), ("/a".to_owned(), Some("x=1?y".to_owned())));
        assert_eq!(split("*"), ("*".to_owned(), None));
    }

    #[test]
    fn response_builders() {
        let response = Response::new(201).header("X-A", "1").header("x-a", "2");
        assert_eq!(response.status, 201);
        assert_eq!(response.headers, [("X-A".to_owned(), "1".to_owned()), ("x-a".to_owned(), "2".to_owned())]);
        assert!(response.body.is_empty());
        let response = Response::json(400, &serde_json::json!({"message": "no"}));
        assert_eq!(response.headers, [("Content-Type".to_owned(), "application/json".to_owned())]);
        assert_eq!(response.body, br#"{"message":"no"}"#);
    }

    #[test]
    fn read_error_display_and_source() {
        let malformed = ReadError::Malformed("invalid Host".to_owned());
        assert_eq!(malformed.to_string(), "malformed request: invalid Host");
        assert!(malformed.source().is_none());
        let io = ReadError::Io(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(io.to_string(), "connection I/O failed");
        assert_eq!(io.source().map(ToString::to_string).as_deref(), Some("reset"));
    }

    #[tokio::test]
    async fn over_tcp_keep_alive_exchange() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut connection = Connection::new(stream);
            let mut targets = Vec::new();
            loop {
                match connection.read_request(&LIMITS).await {
                    Ok(request) => {
                        let keep_alive = request.keep_alive();
                        let response = Response::new(200).header("Date", DATE).header("X-Target", &request.target);
                        let response = Response { body: request.body.clone(), ..response };
                        targets.push(request.target);
                        connection.write_response(&response, false, keep_alive).await.unwrap();
                        if !keep_alive {
                            return targets;
                        }
                    }
                    Err(error) => panic!("{error:?}"),
                }
            }
        });
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        client
            .write_all(
                b"POST /one HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /two HTTP/1.1\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert_eq!(
            answer,
            format!(
                "HTTP/1.1 200 OK\r\nDate: {DATE}\r\nX-Target: /one\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc\
                 HTTP/1.1 200 OK\r\nDate: {DATE}\r\nX-Target: /two\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        );
        assert_eq!(server.await.unwrap(), ["/one", "/two"]);
    }
}
