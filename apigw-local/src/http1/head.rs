//! The request line and header fields, and what they say about the body's framing (RFC 9112 §6).

use super::host::is_valid_host;
use super::{Header, ReadError, Request};

/// Headers a request may carry (more is refused as [`ReadError::HeadTooLarge`]); trailers share the limit.
pub(super) const MAX_HEADERS: usize = 128;

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

/// A complete head, parsed: the request without its body.
pub(super) struct Head {
    /// Bytes of the buffer the head takes up, through its final empty line.
    pub(super) len: usize,
    pub(super) request: Request,
    pub(super) framing: Framing,
    pub(super) expect_continue: bool,
}

/// Parses a complete head at the start of `buffer`; `None` while it is still partial.
pub(super) fn parse_head(buffer: &[u8], max_head: usize) -> Result<Option<Head>, ReadError> {
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
    let mut body_headers = BodyHeaders::default();
    for header in headers {
        body_headers.add(header)?;
    }
    Ok((body_headers.framing(minor_version)?, body_headers.expect_continue && minor_version == 1))
}

/// The headers that frame the body, gathered from all of them: the framing can only be decided once all are seen.
#[derive(Default)]
struct BodyHeaders {
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
    other_coding: bool,
    expect_continue: bool,
}

impl BodyHeaders {
    fn add(&mut self, header: &httparse::Header<'_>) -> Result<(), ReadError> {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            self.add_content_length(header.value)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            self.add_transfer_encoding(header.value);
        } else if name.eq_ignore_ascii_case("expect") {
            self.expect_continue |= trim_ows(header.value).eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }

    /// A list of lengths is allowed if they are all the same (RFC 9110 §8.6): a proxy may have joined repeated fields.
    fn add_content_length(&mut self, value: &[u8]) -> Result<(), ReadError> {
        for token in value.split(|&byte| byte == b',').map(trim_ows) {
            if token.is_empty() || !token.iter().all(u8::is_ascii_digit) {
                return Err(ReadError::Malformed("invalid Content-Length".to_owned()));
            }
            // Too many digits for a u64 is too large for any limit.
            let value = token.iter().try_fold(0u64, |value, &digit| {
                value.checked_mul(10).and_then(|value| value.checked_add(u64::from(digit - b'0')))
            });
            let value = value.unwrap_or(u64::MAX);
            match self.content_length {
                Some(previous) if previous != value => {
                    return Err(ReadError::Malformed("conflicting Content-Length values".to_owned()));
                }
                _ => self.content_length = Some(value),
            }
        }
        Ok(())
    }

    fn add_transfer_encoding(&mut self, value: &[u8]) {
        self.transfer_encoding = true;
        for token in value.split(|&byte| byte == b',').map(trim_ows).filter(|token| !token.is_empty()) {
            // Chunked must be the one and only coding: anything before it would be a coding we cannot undo.
            if token.eq_ignore_ascii_case(b"chunked") && !self.chunked {
                self.chunked = true;
            } else {
                self.other_coding = true;
            }
        }
    }

    /// Both headers, or a coding other than chunked, could be read differently by another server on the path: refused
    /// rather than guessed at (request smuggling).
    fn framing(&self, minor_version: u8) -> Result<Framing, ReadError> {
        if !self.transfer_encoding {
            return Ok(match self.content_length {
                None | Some(0) => Framing::Empty,
                Some(length) => Framing::Length(length),
            });
        }
        if self.content_length.is_some() {
            return Err(ReadError::Malformed("both Content-Length and Transfer-Encoding".to_owned()));
        }
        if minor_version == 0 {
            return Err(ReadError::Malformed("Transfer-Encoding in an HTTP/1.0 request".to_owned()));
        }
        if !self.chunked || self.other_coding {
            return Err(ReadError::Malformed("unsupported Transfer-Encoding".to_owned()));
        }
        Ok(Framing::Chunked)
    }
}

/// Strips optional whitespace (spaces and tabs, RFC 9110 §5.6.3) from both ends.
pub(super) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&byte| byte != b' ' && byte != b'\t').unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&byte| byte != b' ' && byte != b'\t').map_or(start, |end| end + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::MAX_HEADERS;
    use crate::http1::test_support::{LIMITS, names, pair, read_one};
    use crate::http1::{Limits, ReadError};

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
}
