//! HTTP/1.1 on the wire, written by hand because API Gateway hands header names to the function with the client's
//! casing, and no mainstream Rust HTTP server exposes it. Used by both the gateway front and the Runtime API host.

use std::cell::Cell;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Written in this order and casing. `Content-Length`, `Connection` and `Date` are added by [`Connection::write_response`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A response with `Content-Type: application/json` and the serialized value as its body.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        // A `Value` always serializes: its map keys are strings and it holds no failing `Serialize` impl.
        let body = serde_json::to_vec(body).expect("a serde_json::Value serializes");
        Self { status, headers: vec![("Content-Type".to_owned(), "application/json".to_owned())], body }
    }

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

/// Headers a request may carry (more is refused as [`ReadError::HeadTooLarge`]); trailers share the limit.
const MAX_HEADERS: usize = 128;
/// Read at least this much per read call, so a request arrives in one or two system calls.
const READ_CHUNK: usize = 8 * 1024;
/// Body bytes read straight from the socket are reserved at most this much at a time, so a client announcing a large
/// body it never sends does not make the server allocate all of it.
const BODY_READ_CHUNK: usize = 64 * 1024;
/// A connection's buffers are trimmed back after a request that made them grow past this.
const KEEP_CAPACITY: usize = 64 * 1024;
/// A chunk-size line, extensions included.
const MAX_CHUNK_LINE: usize = 4 * 1024;
const CLOSED_MID_REQUEST: &str = "connection closed mid-request";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

/// A complete head, parsed: the request without its body.
struct Head {
    len: usize,
    request: Request,
    framing: Framing,
    expect_continue: bool,
}

/// A server-side HTTP/1.1 connection: reads requests, writes responses, supports keep-alive and pipelining.
pub struct Connection<S> {
    stream: S,
    /// Bytes read but not yet consumed: the start of the next request when a client pipelines.
    buffer: Vec<u8>,
    /// Reused for every response so that writing one does not allocate.
    output: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S) -> Self {
        Self { stream, buffer: Vec::new(), output: Vec::new() }
    }

    /// Reads the next request. Answers `Expect: 100-continue` with `100 Continue` when the announced body fits the limits.
    pub async fn read_request(&mut self, limits: &Limits) -> Result<Request, ReadError> {
        self.wait_for_request(limits.idle_timeout).await?;

        let head_deadline = Instant::now() + limits.head_timeout;
        let head = loop {
            if let Some(head) = parse_head(&self.buffer, limits.max_head)? {
                break head;
            }
            // No complete head yet: read until a line ends (only then can the parse get further).
            loop {
                if self.buffer.len() > limits.max_head {
                    return Err(ReadError::HeadTooLarge);
                }
                let before = self.buffer.len();
                if self.fill(head_deadline).await? == 0 {
                    return Err(ReadError::Malformed(CLOSED_MID_REQUEST.to_owned()));
                }
                if self.buffer[before..].contains(&b'\n') {
                    break;
                }
            }
        };

        let Head { len, mut request, framing, expect_continue } = head;
        if let Framing::Length(length) = framing
            && length > limits.max_body as u64
        {
            return Err(ReadError::BodyTooLarge);
        }
        // A client that already sent body bytes is not waiting for the go-ahead.
        if expect_continue && framing != Framing::Empty && self.buffer.len() == len {
            let deadline = Instant::now() + limits.body_timeout;
            match timeout_at(deadline, async {
                self.stream.write_all(CONTINUE).await?;
                self.stream.flush().await
            })
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(ReadError::Io(error)),
                Err(_) => return Err(ReadError::Timeout),
            }
        }

        let body_deadline = Instant::now() + limits.body_timeout;
        let mut pos = len;
        match framing {
            Framing::Empty => {}
            Framing::Length(length) => {
                // Not above max_body, checked before.
                let length = length as usize;
                let available = length.min(self.buffer.len() - pos);
                let mut body = Vec::with_capacity(length.min(available.max(BODY_READ_CHUNK)));
                body.extend_from_slice(&self.buffer[pos..pos + available]);
                pos += available;
                if available < length {
                    // Everything buffered is body: the rest is read straight into it.
                    self.buffer.clear();
                    pos = 0;
                    self.read_body_bytes(&mut body, length - available, body_deadline).await?;
                }
                request.body = body;
            }
            Framing::Chunked => {
                request.body = self.read_chunked(&mut pos, limits, body_deadline).await?;
            }
        }

        self.buffer.drain(..pos);
        if self.buffer.capacity() > KEEP_CAPACITY && self.buffer.len() <= KEEP_CAPACITY / 2 {
            self.buffer.shrink_to(self.buffer.len().max(READ_CHUNK));
        }
        Ok(request)
    }

    /// Writes a response with `Content-Length`; with `head_only` the body is not sent but its length is announced.
    pub async fn write_response(&mut self, response: &Response, head_only: bool, keep_alive: bool) -> io::Result<()> {
        let mut output = std::mem::take(&mut self.output);
        output.clear();
        encode_response(&mut output, response, head_only, keep_alive);
        let result = async {
            self.stream.write_all(&output).await?;
            self.stream.flush().await
        }
        .await;
        if output.capacity() > KEEP_CAPACITY {
            output = Vec::new();
        }
        self.output = output;
        result
    }

    /// Waits, up to the idle timeout, until the buffer holds the first byte of a request. Blank lines between requests
    /// are dropped (clients may send a CRLF after a body).
    async fn wait_for_request(&mut self, idle_timeout: Duration) -> Result<(), ReadError> {
        let mut deadline = None;
        loop {
            let blank = self.buffer.iter().take_while(|&&byte| byte == b'\r' || byte == b'\n').count();
            if blank > 0 {
                self.buffer.drain(..blank);
            }
            if !self.buffer.is_empty() {
                return Ok(());
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + idle_timeout);
            match self.fill(deadline).await {
                Ok(0) | Err(ReadError::Timeout) => return Err(ReadError::Closed),
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Appends what the stream has to the buffer; 0 at end of stream.
    async fn fill(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        if self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 2 {
            self.buffer.reserve(READ_CHUNK);
        }
        match timeout_at(deadline, self.stream.read_buf(&mut self.buffer)).await {
            Ok(Ok(read)) => Ok(read),
            Ok(Err(error)) => Err(ReadError::Io(error)),
            Err(_) => Err(ReadError::Timeout),
        }
    }

    /// Drops the consumed bytes before `pos` and appends more; end of stream here is mid-request.
    async fn fill_body(&mut self, pos: &mut usize, deadline: Instant) -> Result<(), ReadError> {
        if *pos > 0 {
            self.buffer.drain(..*pos);
            *pos = 0;
        }
        match self.fill(deadline).await? {
            0 => Err(ReadError::Malformed(CLOSED_MID_REQUEST.to_owned())),
            _ => Ok(()),
        }
    }

    /// Reads exactly `remaining` bytes from the stream (the buffer being empty) onto the end of `body`.
    async fn read_body_bytes(
        &mut self,
        body: &mut Vec<u8>,
        mut remaining: usize,
        deadline: Instant,
    ) -> Result<(), ReadError> {
        while remaining > 0 {
            body.reserve(remaining.min(BODY_READ_CHUNK));
            let mut limited = (&mut *body).limit(remaining);
            match timeout_at(deadline, self.stream.read_buf(&mut limited)).await {
                Ok(Ok(0)) => return Err(ReadError::Malformed(CLOSED_MID_REQUEST.to_owned())),
                Ok(Ok(read)) => remaining -= read,
                Ok(Err(error)) => return Err(ReadError::Io(error)),
                Err(_) => return Err(ReadError::Timeout),
            }
        }
        Ok(())
    }

    /// Decodes a chunked body starting at `pos` in the buffer, through its trailer section; `pos` ends after it.
    async fn read_chunked(
        &mut self,
        pos: &mut usize,
        limits: &Limits,
        deadline: Instant,
    ) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(offset) = self.buffer[*pos..].iter().position(|&byte| byte == b'\n') {
                    break *pos + offset;
                }
                if self.buffer.len() - *pos > MAX_CHUNK_LINE {
                    return Err(ReadError::Malformed("chunk size line too long".to_owned()));
                }
                self.fill_body(pos, deadline).await?;
            };
            let size = parse_chunk_size(&self.buffer[*pos..line_end])?;
            *pos = line_end + 1;
            if size == 0 {
                break;
            }
            if size > (limits.max_body - body.len()) as u64 {
                return Err(ReadError::BodyTooLarge);
            }
            let size = size as usize;
            let available = size.min(self.buffer.len() - *pos);
            body.extend_from_slice(&self.buffer[*pos..*pos + available]);
            *pos += available;
            if available < size {
                self.buffer.clear();
                *pos = 0;
                self.read_body_bytes(&mut body, size - available, deadline).await?;
            }
            while self.buffer.len() - *pos < 2 {
                self.fill_body(pos, deadline).await?;
            }
            if self.buffer[*pos..*pos + 2] != *b"\r\n" {
                return Err(ReadError::Malformed("chunk data not followed by CRLF".to_owned()));
            }
            *pos += 2;
        }
        // Trailer fields are read and checked, then dropped: nothing downstream carries them.
        loop {
            if let Some(len) = parse_trailers(&self.buffer[*pos..])? {
                *pos += len;
                return Ok(body);
            }
            if self.buffer.len() - *pos > limits.max_head {
                return Err(ReadError::HeadTooLarge);
            }
            self.fill_body(pos, deadline).await?;
        }
    }
}

/// Parses a complete head at the start of `buffer`; `None` while it is still partial.
fn parse_head(buffer: &[u8], max_head: usize) -> Result<Option<Head>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ReadError::HeadTooLarge),
        Err(error) => return Err(ReadError::Malformed(format!("invalid request head: {error}"))),
    };
    if len > max_head {
        return Err(ReadError::HeadTooLarge);
    }
    let (Some(method), Some(target), Some(minor_version @ (0 | 1))) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(ReadError::Malformed("invalid request line".to_owned()));
    };
    let (framing, expect_continue) = framing(parsed.headers, minor_version)?;
    // RFC 9112 §3.2: a request with an invalid Host is a 400. Passed on in the event, it would become the URL that
    // `lambda_http` builds the function's request from, and it panics on one it cannot parse: a 502 for a client's
    // mistake.
    if parsed.headers.iter().any(|header| header.name.eq_ignore_ascii_case("host") && !is_valid_host(header.value)) {
        return Err(ReadError::Malformed("invalid Host".to_owned()));
    }
    let headers = parsed
        .headers
        .iter()
        .map(|header| Header {
            name: header.name.to_owned(),
            value: String::from_utf8_lossy(header.value).into_owned(),
        })
        .collect();
    let request =
        Request { method: method.to_owned(), target: target.to_owned(), minor_version, headers, body: Vec::new() };
    Ok(Some(Head { len, request, framing, expect_continue }))
}

/// How the body is delimited (RFC 9112 §6), refusing the ambiguous cases, and whether the client expects `100 Continue`.
fn framing(headers: &[httparse::Header<'_>], minor_version: u8) -> Result<(Framing, bool), ReadError> {
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut other_coding = false;
    let mut expect_continue = false;
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            for token in header.value.split(|&byte| byte == b',').map(trim_ows) {
                if token.is_empty() || !token.iter().all(u8::is_ascii_digit) {
                    return Err(ReadError::Malformed("invalid Content-Length".to_owned()));
                }
                // Too many digits for a u64 is too large for any limit.
                let value = token.iter().try_fold(0u64, |value, &digit| {
                    value.checked_mul(10).and_then(|value| value.checked_add(u64::from(digit - b'0')))
                });
                let value = value.unwrap_or(u64::MAX);
                match content_length {
                    Some(previous) if previous != value => {
                        return Err(ReadError::Malformed("conflicting Content-Length values".to_owned()));
                    }
                    _ => content_length = Some(value),
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            for token in header.value.split(|&byte| byte == b',').map(trim_ows).filter(|token| !token.is_empty()) {
                // Chunked must be the one and only coding: anything before it would be a coding we cannot undo.
                if token.eq_ignore_ascii_case(b"chunked") && !chunked {
                    chunked = true;
                } else {
                    other_coding = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= trim_ows(header.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    let framing = if transfer_encoding {
        if content_length.is_some() {
            return Err(ReadError::Malformed("both Content-Length and Transfer-Encoding".to_owned()));
        }
        if minor_version == 0 {
            return Err(ReadError::Malformed("Transfer-Encoding in an HTTP/1.0 request".to_owned()));
        }
        if !chunked || other_coding {
            return Err(ReadError::Malformed("unsupported Transfer-Encoding".to_owned()));
        }
        Framing::Chunked
    } else {
        match content_length {
            None | Some(0) => Framing::Empty,
            Some(length) => Framing::Length(length),
        }
    };
    Ok((framing, expect_continue && minor_version == 1))
}

/// Whether a `Host` value is `host[:port]` in a form that URL parsers agree on: a bracketed IPv6 address, a dotted-quad
/// IPv4 address or a DNS name, and a port up to 65535. Stricter than RFC 3986's `reg-name`, as real hosts are: a name
/// is letters, digits, hyphens and underscores (container names have them), without percent-encoding or sub-delimiters;
/// its last label starts with a letter (the WHATWG URL standard reads a name ending in a number as an IPv4 address, and
/// fails on one that is not); and no label is punycode (`xn--`), which only an IDNA implementation can validate. A
/// local gateway is reached as `localhost`, an IP address or a container's name.
fn is_valid_host(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(trim_ows(value)) else { return false };
    // The port follows the last colon, unless that colon is inside an IPv6 address.
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (value, None),
    };
    let valid_port =
        port.is_none_or(|port| port.bytes().all(|byte| byte.is_ascii_digit()) && port.parse::<u16>().is_ok());
    let valid_host = match host.strip_prefix('[').and_then(|host| host.strip_suffix(']')) {
        Some(address) => address.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host.parse::<std::net::Ipv4Addr>().is_ok() || is_dns_name(host),
    };
    valid_host && valid_port
}

/// Letters, digits, hyphens and underscores in non-empty dot-separated labels, none of them punycode, the last starting
/// with a letter.
fn is_dns_name(host: &str) -> bool {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
            && !label.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"))
    };
    host.split('.').all(valid_label)
        && host.rsplit('.').next().is_some_and(|last| last.starts_with(|c: char| c.is_ascii_alphabetic()))
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&byte| byte != b' ' && byte != b'\t').unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&byte| byte != b' ' && byte != b'\t').map_or(start, |end| end + 1);
    &bytes[start..end]
}

/// Parses a chunk-size line (without its `\n`): hex digits, optional whitespace, optional `;extensions`, then `\r`.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ReadError> {
    let malformed = || ReadError::Malformed("invalid chunk size line".to_owned());
    let line = line.strip_suffix(b"\r").ok_or_else(malformed)?;
    let digits = line.iter().take_while(|byte| byte.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(malformed());
    }
    let mut size = 0u64;
    for &digit in &line[..digits] {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => digit - b'A' + 10,
        };
        // A size that does not fit a u64 is over any body limit.
        size =
            size.checked_mul(16).and_then(|size| size.checked_add(u64::from(value))).ok_or(ReadError::BodyTooLarge)?;
    }
    let rest = &line[digits..];
    let rest = &rest[rest.iter().take_while(|&&byte| byte == b' ' || byte == b'\t').count()..];
    if !rest.is_empty() && (rest[0] != b';' || rest.iter().any(|&byte| byte != b'\t' && byte.is_ascii_control())) {
        return Err(malformed());
    }
    Ok(size)
}

/// Parses the trailer section (possibly empty) through its final empty line: its length, or `None` while partial.
fn parse_trailers(buffer: &[u8]) -> Result<Option<usize>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(buffer, &mut headers) {
        Ok(httparse::Status::Complete((len, _))) => Ok(Some(len)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(ReadError::HeadTooLarge),
        Err(error) => Err(ReadError::Malformed(format!("invalid trailer section: {error}"))),
    }
}

/// Serializes a whole response into `output`.
fn encode_response(output: &mut Vec<u8>, response: &Response, head_only: bool, keep_alive: bool) {
    let status = response.status;
    // These never carry content, so no length either (RFC 9110 §8.6).
    let bodiless = status < 200 || status == 204 || status == 304;
    let body = if bodiless { &[][..] } else { &response.body[..] };
    output.reserve(128 + response.headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum::<usize>());
    output.extend_from_slice(b"HTTP/1.1 ");
    output.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    output.push(b' ');
    output.extend_from_slice(reason_phrase(status).as_bytes());
    output.extend_from_slice(b"\r\n");
    let mut has_date = false;
    for (name, value) in &response.headers {
        let owned_by_us = ["content-length", "connection", "transfer-encoding"]
            .iter()
            .any(|framing| name.eq_ignore_ascii_case(framing));
        // A header that would break the framing (or smuggle another one in) is not written.
        if owned_by_us || !is_token(name) || value.bytes().any(|byte| matches!(byte, b'\r' | b'\n' | 0)) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case("date");
        output.extend_from_slice(name.as_bytes());
        output.extend_from_slice(b": ");
        output.extend_from_slice(value.as_bytes());
        output.extend_from_slice(b"\r\n");
    }
    if !has_date {
        output.extend_from_slice(b"Date: ");
        output.extend_from_slice(&current_date());
        output.extend_from_slice(b"\r\n");
    }
    if !bodiless {
        output.extend_from_slice(b"Content-Length: ");
        output.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        output.extend_from_slice(b"\r\n");
    }
    output.extend_from_slice(if keep_alive { b"Connection: keep-alive\r\n\r\n" } else { b"Connection: close\r\n\r\n" });
    if !head_only {
        output.extend_from_slice(body);
    }
}

fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// The reason phrase the http crate knows for `status`, empty for codes it does not (the phrase is optional, the
/// space before it is not: RFC 9112 §4).
fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|status| status.canonical_reason()).unwrap_or("")
}

/// The current time as an IMF-fixdate, formatted once per second per thread.
fn current_date() -> [u8; 29] {
    thread_local! {
        static CACHE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    CACHE.with(|cache| {
        let (second, date) = cache.get();
        if second == now {
            return date;
        }
        let date = imf_fixdate(now);
        cache.set((now, date));
        date
    })
}

/// The last second httpdate formats: it panics on later ones (year 10000), so a clock that far off writes this one.
const LAST_FORMATTABLE_SECOND: u64 = 253_402_300_799;

/// Formats seconds since the Unix epoch as an RFC 9110 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn imf_fixdate(unix_seconds: u64) -> [u8; 29] {
    let time = UNIX_EPOCH + Duration::from_secs(unix_seconds.min(LAST_FORMATTABLE_SECOND));
    let mut out = [0; 29];
    // Allocates, but only once a second per thread (current_date caches it).
    out.copy_from_slice(httpdate::fmt_http_date(time).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{DuplexStream, duplex};

    const LIMITS: Limits = Limits {
        max_head: 1024,
        max_body: 1024,
        head_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
    };

    fn pair() -> (Connection<DuplexStream>, DuplexStream) {
        let (server, client) = duplex(64 * 1024);
        (Connection::new(server), client)
    }

    /// Serves `bytes`, sent in one write and then the client half-kept open, and returns the first read.
    async fn read_one(bytes: &[u8], limits: &Limits) -> (Result<Request, ReadError>, DuplexStream) {
        let (mut connection, mut client) = pair();
        client.write_all(bytes).await.unwrap();
        (connection.read_request(limits).await, client)
    }

    fn names(request: &Request) -> Vec<(&str, &str)> {
        request.headers.iter().map(|header| (&*header.name, &*header.value)).collect()
    }

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

    /// A request whose head is exactly `len` bytes long.
    fn head_of_len(len: usize) -> Vec<u8> {
        let fixed = "GET / HTTP/1.1\r\nX-Pad: \r\n\r\n".len();
        format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(len - fixed)).into_bytes()
    }

    #[tokio::test]
    async fn header_casing_preserved() {
        let (request, _client) =
            read_one(b"GET /x HTTP/1.1\r\nhOsT: example.com\r\nX-Custom-HEADER:  spaced value \r\n\r\n", &LIMITS).await;
        let request = request.unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/x");
        assert_eq!(request.minor_version, 1);
        assert_eq!(names(&request), [("hOsT", "example.com"), ("X-Custom-HEADER", "spaced value")]);
        assert_eq!(request.header("host"), Some("example.com"));
        assert_eq!(request.header("x-custom-header"), Some("spaced value"));
        assert_eq!(request.header("missing"), None);
        assert!(request.body.is_empty());
    }

    #[tokio::test]
    async fn repeated_headers_kept_in_order() {
        let (request, _client) =
            read_one(b"GET / HTTP/1.1\r\nAccept: a\r\nX-B: 1\r\naccept: b\r\nACCEPT: c\r\n\r\n", &LIMITS).await;
        let request = request.unwrap();
        assert_eq!(names(&request), [("Accept", "a"), ("X-B", "1"), ("accept", "b"), ("ACCEPT", "c")]);
        assert_eq!(request.header("Accept"), Some("c"));
    }

    #[tokio::test]
    async fn non_utf8_header_value_is_lossy() {
        let (request, _client) = read_one(b"GET / HTTP/1.1\r\nX-Bin: a\xffb\r\n\r\n", &LIMITS).await;
        assert_eq!(request.unwrap().header("x-bin"), Some("a\u{fffd}b"));
    }

    #[tokio::test]
    async fn pipelined_requests_in_one_write() {
        let (mut connection, mut client) = pair();
        client
            .write_all(b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n\r\n")
            .await
            .unwrap();
        let first = connection.read_request(&LIMITS).await.unwrap();
        assert_eq!((&*first.method, &*first.target, &first.body[..]), ("POST", "/a", &b"hello"[..]));
        let second = connection.read_request(&LIMITS).await.unwrap();
        assert_eq!((&*second.method, &*second.target), ("GET", "/b?x=1"));
        assert_eq!(second.query(), Some("x=1"));
        drop(client);
        assert!(matches!(connection.read_request(&LIMITS).await, Err(ReadError::Closed)));
    }

    #[tokio::test]
    async fn request_split_byte_by_byte() {
        let (mut connection, mut client) = pair();
        let bytes =
            b"PUT /split HTTP/1.1\r\nX-A: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n\
                      GET /next HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
        let writer = tokio::spawn(async move {
            for byte in bytes {
                client.write_all(&[*byte]).await.unwrap();
                tokio::task::yield_now().await;
            }
            client
        });
        let first = connection.read_request(&LIMITS).await.unwrap();
        assert_eq!((&*first.method, &*first.target, &first.body[..]), ("PUT", "/split", &b"abcde"[..]));
        assert_eq!(names(&first), [("X-A", "b"), ("Transfer-Encoding", "chunked")]);
        let second = connection.read_request(&LIMITS).await.unwrap();
        assert_eq!((&*second.target, &second.body[..]), ("/next", &b"hi"[..]));
        drop(writer.await.unwrap());
        assert!(matches!(connection.read_request(&LIMITS).await, Err(ReadError::Closed)));
    }

    #[tokio::test]
    async fn chunked_body_with_extension_and_trailer() {
        let (mut connection, mut client) = pair();
        client
            .write_all(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n\
                  5;name=value;flag\r\nhello\r\nA \r\n, world!!!\r\n0\r\nX-Trailer: t\r\nOther: u\r\n\r\n\
                  GET /after HTTP/1.1\r\n\r\n",
            )
            .await
            .unwrap();
        let request = connection.read_request(&LIMITS).await.unwrap();
        assert_eq!(request.body, b"hello, world!!!");
        assert_eq!(names(&request), [("Transfer-Encoding", "Chunked")]);
        assert_eq!(connection.read_request(&LIMITS).await.unwrap().target, "/after");
    }

    #[tokio::test]
    async fn chunked_malformed() {
        for bad in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"5 junk\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"\r\n0\r\n\r\n",
        ] {
            let mut bytes = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            bytes.extend_from_slice(bad);
            let (result, _client) = read_one(&bytes, &LIMITS).await;
            assert!(matches!(result, Err(ReadError::Malformed(_))), "{:?}: {result:?}", String::from_utf8_lossy(bad));
        }
    }

    #[tokio::test]
    async fn invalid_host_is_malformed() {
        let not_a_name = ["", "a b", "a%20b", "a@b", "a{b}", "hé", ".", "a..b", "a."];
        let bad_port = ["localhost:", "localhost:99999", "localhost:+80", "localhost:8080:1"];
        // What URL parsers read as an IPv4 address that is not one, or as punycode.
        let not_a_dns_name = ["1.2.3.999", "01.2.3.4", "a.123", "0x7f", "xn--zz", "a.XN--zz.b"];
        let bad_ipv6 = ["[::1", "::1", "[::1]x", "[::1]:", "[fe80::1%eth0]", "[a]"];
        for host in not_a_name.into_iter().chain(bad_port).chain(not_a_dns_name).chain(bad_ipv6) {
            let bytes = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let (result, _client) = read_one(bytes.as_bytes(), &LIMITS).await;
            assert!(matches!(result, Err(ReadError::Malformed(_))), "{host:?}: {result:?}");
        }
        let (result, _client) = read_one(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a b\r\n\r\n", &LIMITS).await;
        assert!(matches!(result, Err(ReadError::Malformed(_))), "every Host is checked: {result:?}");
    }

    #[tokio::test]
    async fn valid_hosts() {
        let names = ["localhost", "localhost:8080", "LocalHost:00080", "h", "apigw-local", "my_app-1.b2.example:1"];
        let addresses = ["127.0.0.1", "127.0.0.1:65535", "[::1]", "[::1]:8080", "[::ffff:192.0.2.7]:443"];
        for host in names.into_iter().chain(addresses).chain(["r275xc9bmd.execute-api.us-east-1.amazonaws.com"]) {
            let bytes = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let (result, _client) = read_one(bytes.as_bytes(), &LIMITS).await;
            assert_eq!(result.unwrap().header("Host"), Some(host));
        }
    }

    #[tokio::test]
    async fn content_length_and_transfer_encoding_conflict() {
        let (result, _client) =
            read_one(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &LIMITS)
                .await;
        assert!(matches!(result, Err(ReadError::Malformed(_))), "{result:?}");
    }

    #[tokio::test]
    async fn unsupported_transfer_codings() {
        for coding in ["gzip", "gzip, chunked", "chunked, chunked", "chunked;q=1", ""] {
            let bytes = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {coding}\r\n\r\n0\r\n\r\n");
            let (result, _client) = read_one(bytes.as_bytes(), &LIMITS).await;
            assert!(matches!(result, Err(ReadError::Malformed(_))), "{coding}: {result:?}");
        }
        let (result, _client) =
            read_one(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &LIMITS).await;
        assert!(matches!(result, Err(ReadError::Malformed(_))), "{result:?}");
    }

    #[tokio::test]
    async fn bad_content_length() {
        for headers in [
            "Content-Length: abc",
            "Content-Length: -1",
            "Content-Length: +5",
            "Content-Length: 0x5",
            "Content-Length: 5 5",
            "Content-Length:",
            "Content-Length: 5\r\nContent-Length: 6",
            "Content-Length: 5, 6",
            "Content-Length: 5,",
        ] {
            let bytes = format!("POST / HTTP/1.1\r\n{headers}\r\n\r\nhelloworld");
            let (result, _client) = read_one(bytes.as_bytes(), &LIMITS).await;
            assert!(matches!(result, Err(ReadError::Malformed(_))), "{headers}: {result:?}");
        }
        // The same value repeated is one length.
        let (result, _client) =
            read_one(b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5, 5\r\n\r\nhello", &LIMITS).await;
        assert_eq!(result.unwrap().body, b"hello");
    }

    #[tokio::test]
    async fn head_exactly_at_max_head_is_accepted() {
        let bytes = head_of_len(LIMITS.max_head);
        assert_eq!(bytes.len(), LIMITS.max_head);
        let (result, _client) = read_one(&bytes, &LIMITS).await;
        assert_eq!(result.unwrap().header("x-pad").unwrap().len(), LIMITS.max_head - 27);
    }

    #[tokio::test]
    async fn head_one_over_max_head_is_refused() {
        let bytes = head_of_len(LIMITS.max_head + 1);
        let (result, _client) = read_one(&bytes, &LIMITS).await;
        assert!(matches!(result, Err(ReadError::HeadTooLarge)), "{result:?}");
        // Without the end of the head, refused as soon as the limit is passed (the client is still connected).
        let bytes = head_of_len(LIMITS.max_head + 5);
        let (result, _client) = read_one(&bytes[..LIMITS.max_head + 1], &LIMITS).await;
        assert!(matches!(result, Err(ReadError::HeadTooLarge)), "{result:?}");
    }

    #[tokio::test]
    async fn header_count_limit() {
        let head = |count: usize| {
            let mut head = "GET / HTTP/1.1\r\n".to_owned();
            for index in 0..count {
                head.push_str(&format!("H{index}: v\r\n"));
            }
            head + "\r\n"
        };
        let big = Limits { max_head: 64 * 1024, ..LIMITS };
        let (result, _client) = read_one(head(MAX_HEADERS).as_bytes(), &big).await;
        assert_eq!(result.unwrap().headers.len(), MAX_HEADERS);
        let (result, _client) = read_one(head(MAX_HEADERS + 1).as_bytes(), &big).await;
        assert!(matches!(result, Err(ReadError::HeadTooLarge)), "{result:?}");
    }

    #[tokio::test]
    async fn body_over_max_body_by_content_length() {
        // Refused from the announced length, before any of the body arrives.
        let (result, _client) = read_one(b"POST / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", &LIMITS).await;
        assert!(matches!(result, Err(ReadError::BodyTooLarge)), "{result:?}");
        let (result, _client) =
            read_one(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &LIMITS).await;
        assert!(matches!(result, Err(ReadError::BodyTooLarge)), "{result:?}");
        let mut bytes = b"POST / HTTP/1.1\r\nContent-Length: 1024\r\n\r\n".to_vec();
        bytes.resize(bytes.len() + 1024, b'x');
        let (result, _client) = read_one(&bytes, &LIMITS).await;
        assert_eq!(result.unwrap().body.len(), 1024);
    }

    #[tokio::test]
    async fn body_over_max_body_by_chunked() {
        let chunk = format!("200\r\n{}\r\n", "x".repeat(0x200));
        let exact = format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n");
        let (result, _client) = read_one(exact.as_bytes(), &LIMITS).await;
        assert_eq!(result.unwrap().body.len(), 1024);
        // The third chunk is refused from its size line, before its data is sent.
        let over = format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}1\r\n");
        let (result, _client) = read_one(over.as_bytes(), &LIMITS).await;
        assert!(matches!(result, Err(ReadError::BodyTooLarge)), "{result:?}");
        let (result, _client) =
            read_one(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", &LIMITS).await;
        assert!(matches!(result, Err(ReadError::BodyTooLarge)), "{result:?}");
    }

    #[tokio::test]
    async fn expect_continue_written_when_body_fits() {
        let (mut connection, mut client) = pair();
        let client_side = async {
            client.write_all(b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n").await.unwrap();
            let mut interim = [0; CONTINUE.len()];
            client.read_exact(&mut interim).await.unwrap();
            assert_eq!(&interim, CONTINUE);
            client.write_all(b"hello").await.unwrap();
        };
        let (request, ()) = tokio::join!(connection.read_request(&LIMITS), client_side);
        assert_eq!(request.unwrap().body, b"hello");
        drop(connection);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn expect_continue_not_written_when_too_large() {
        let (mut connection, mut client) = pair();
        client.write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2048\r\n\r\n").await.unwrap();
        let result = connection.read_request(&LIMITS).await;
        assert!(matches!(result, Err(ReadError::BodyTooLarge)), "{result:?}");
        drop(connection);
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        assert!(written.is_empty(), "{:?}", String::from_utf8_lossy(&written));
    }

    #[tokio::test]
    async fn expect_continue_ignored_for_http10() {
        let (mut connection, mut client) = pair();
        client.write_all(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi").await.unwrap();
        assert_eq!(connection.read_request(&LIMITS).await.unwrap().body, b"hi");
        drop(connection);
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        assert!(written.is_empty());
    }

    #[tokio::test]
    async fn idle_timeout_is_closed() {
        let limits = Limits { idle_timeout: Duration::from_millis(50), ..LIMITS };
        let (mut connection, _client) = pair();
        let started = std::time::Instant::now();
        let result = connection.read_request(&limits).await;
        assert!(matches!(result, Err(ReadError::Closed)), "{result:?}");
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn clean_eof_is_closed() {
        let (mut connection, client) = pair();
        drop(client);
        assert!(matches!(connection.read_request(&LIMITS).await, Err(ReadError::Closed)));
    }

    #[tokio::test]
    async fn eof_mid_request_is_malformed() {
        for bytes in [&b"GET / HTTP/1.1\r\nHost"[..], b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel"] {
            let (mut connection, mut client) = pair();
            client.write_all(bytes).await.unwrap();
            drop(client);
            let result = connection.read_request(&LIMITS).await;
            assert!(matches!(result, Err(ReadError::Malformed(_))), "{result:?}");
        }
    }

    #[tokio::test]
    async fn slowloris_head_times_out() {
        // Idle for ever, but once a byte has arrived the head has 50 ms.
        let limits = Limits { head_timeout: Duration::from_millis(50), ..LIMITS };
        let (mut connection, mut client) = pair();
        client.write_all(b"G").await.unwrap();
        let result = connection.read_request(&limits).await;
        assert!(matches!(result, Err(ReadError::Timeout)), "{result:?}");
    }

    #[tokio::test]
    async fn slowloris_head_trickle_times_out() {
        let limits = Limits { head_timeout: Duration::from_millis(100), ..LIMITS };
        let (mut connection, mut client) = pair();
        let trickle = tokio::spawn(async move {
            for byte in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if client.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let result = connection.read_request(&limits).await;
        assert!(matches!(result, Err(ReadError::Timeout)), "{result:?}");
        trickle.abort();
    }

    #[tokio::test]
    async fn body_stall_times_out() {
        let limits = Limits { body_timeout: Duration::from_millis(50), ..LIMITS };
        let (result, _client) = read_one(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhe", &limits).await;
        assert!(matches!(result, Err(ReadError::Timeout)), "{result:?}");
        let (result, _client) =
            read_one(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", &limits).await;
        assert!(matches!(result, Err(ReadError::Timeout)), "{result:?}");
    }

    #[tokio::test]
    async fn only_http_1x() {
        for bytes in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET / HTTP/1.2\r\n\r\n",
            b"\x16\x03\x01",
        ] {
            let (mut connection, mut client) = pair();
            client.write_all(bytes).await.unwrap();
            drop(client);
            let result = connection.read_request(&LIMITS).await;
            assert!(matches!(result, Err(ReadError::Malformed(_))), "{result:?}");
        }
        let (result, _client) = read_one(b"GET / HTTP/1.0\r\n\r\n", &LIMITS).await;
        assert_eq!(result.unwrap().minor_version, 0);
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

    async fn written(response: &Response, head_only: bool, keep_alive: bool) -> String {
        let (mut connection, mut client) = pair();
        connection.write_response(response, head_only, keep_alive).await.unwrap();
        drop(connection);
        let mut bytes = Vec::new();
        client.read_to_end(&mut bytes).await.unwrap();
        String::from_utf8(bytes).unwrap()
    }

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    #[tokio::test]
    async fn write_response_exact_bytes() {
        let response = Response {
            status: 200,
            headers: vec![
                ("content-TYPE".to_owned(), "text/plain".to_owned()),
                ("Date".to_owned(), DATE.to_owned()),
                ("Set-Cookie".to_owned(), "a=1".to_owned()),
                ("Set-Cookie".to_owned(), "b=2".to_owned()),
                ("Content-Length".to_owned(), "999".to_owned()),
                ("connection".to_owned(), "upgrade".to_owned()),
                ("Transfer-Encoding".to_owned(), "chunked".to_owned()),
                ("X-Injected".to_owned(), "a\r\nX-Evil: 1".to_owned()),
                ("Bad Name".to_owned(), "v".to_owned()),
            ],
            body: b"hello".to_vec(),
        };
        assert_eq!(
            written(&response, false, true).await,
            "HTTP/1.1 200 OK\r\ncontent-TYPE: text/plain\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"
        );
        let response = Response::new(404).header("date", DATE);
        assert_eq!(
            written(&response, false, false).await,
            "HTTP/1.1 404 Not Found\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let response = Response::new(799).header("Date", DATE);
        assert_eq!(
            written(&response, false, false).await,
            "HTTP/1.1 799 \r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn write_response_adds_date() {
        let text = written(&Response::new(502), false, true).await;
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "HTTP/1.1 502 Bad Gateway");
        let date = lines[1].strip_prefix("Date: ").unwrap();
        assert_eq!(date.len(), 29);
        assert!(date.ends_with(" GMT"));
        assert_eq!(&lines[2..], ["Content-Length: 0", "Connection: keep-alive", "", ""]);
    }

    #[tokio::test]
    async fn write_response_head_only_keeps_length() {
        let response =
            Response { status: 200, headers: vec![("Date".to_owned(), DATE.to_owned())], body: b"hello".to_vec() };
        assert_eq!(
            written(&response, true, true).await,
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn write_response_bodiless_statuses() {
        for (status, reason) in [(204, "No Content"), (304, "Not Modified"), (100, "Continue")] {
            let response =
                Response { status, headers: vec![("Date".to_owned(), DATE.to_owned())], body: b"ignored".to_vec() };
            assert_eq!(
                written(&response, false, true).await,
                format!("HTTP/1.1 {status} {reason}\r\nDate: {DATE}\r\nConnection: keep-alive\r\n\r\n")
            );
        }
    }

    #[test]
    fn imf_fixdate_formats() {
        let format = |seconds| String::from_utf8(imf_fixdate(seconds).to_vec()).unwrap();
        assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format(784_111_777), DATE);
        assert_eq!(format(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(format(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(format(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT");
    }

    #[test]
    fn imf_fixdate_clamps_past_year_9999() {
        assert_eq!(&imf_fixdate(u64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
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

    #[tokio::test]
    async fn large_body_read_across_writes() {
        let limits = Limits { max_body: 1 << 20, ..LIMITS };
        let (mut connection, mut client) = pair();
        let body: Vec<u8> = (0..300_000u32).map(|index| index as u8).collect();
        let expected = body.clone();
        let writer = tokio::spawn(async move {
            client
                .write_all(format!("PUT / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes())
                .await
                .unwrap();
            client.write_all(&body).await.unwrap();
            client.write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
            for piece in body.chunks(70_000) {
                client.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await.unwrap();
                client.write_all(piece).await.unwrap();
                client.write_all(b"\r\n").await.unwrap();
            }
            client.write_all(b"0\r\n\r\n").await.unwrap();
            client
        });
        assert_eq!(connection.read_request(&limits).await.unwrap().body, expected);
        assert_eq!(connection.read_request(&limits).await.unwrap().body, expected);
        let _client = writer.await.unwrap();
    }
}
