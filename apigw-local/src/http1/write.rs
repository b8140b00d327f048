//! Writing a response: the framing headers are ours to write, so that whatever headers a function returns cannot break
//! or smuggle a response into the stream.

use std::cell::Cell;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{Connection, KEEP_CAPACITY, Response};

/// Headers that frame the response: [`Response::headers`] cannot set them.
const FRAMING_HEADERS: [&str; 3] = ["content-length", "connection", "transfer-encoding"];
/// The last second httpdate formats: it panics on later ones (year 10000), so a clock that far off writes this one.
const LAST_FORMATTABLE_SECOND: u64 = 253_402_300_799;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
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
    if !encode_headers(output, &response.headers) {
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

/// Writes the headers that may be written as given; whether one of them is a `Date`.
fn encode_headers(output: &mut Vec<u8>, headers: &[(String, String)]) -> bool {
    let mut has_date = false;
    for (name, value) in headers {
        let ours = FRAMING_HEADERS.iter().any(|framing| name.eq_ignore_ascii_case(framing));
        // A header that would break the framing (or smuggle another one in) is not written.
        if ours || !is_token(name) || value.bytes().any(|byte| matches!(byte, b'\r' | b'\n' | 0)) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case("date");
        output.extend_from_slice(name.as_bytes());
        output.extend_from_slice(b": ");
        output.extend_from_slice(value.as_bytes());
        output.extend_from_slice(b"\r\n");
    }
    has_date
}

/// Whether `name` is a field name as RFC 9110 §5.1 has it (a token).
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
    use tokio::io::AsyncReadExt;

    use super::imf_fixdate;
    use crate::http1::Response;
    use crate::http1::test_support::{DATE, pair};

    async fn written(response: &Response, head_only: bool, keep_alive: bool) -> String {
        let (mut connection, mut client) = pair();
        connection.write_response(response, head_only, keep_alive).await.unwrap();
        drop(connection);
        let mut bytes = Vec::new();
        client.read_to_end(&mut bytes).await.unwrap();
        String::from_utf8(bytes).unwrap()
    }

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
}
