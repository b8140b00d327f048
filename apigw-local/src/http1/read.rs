//! Reading a request off the stream: waiting for it, its head, the `100 Continue` go-ahead, then its body, each within
//! its timeout, leaving in the buffer what a pipelining client sent after it.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::head::{Framing, Head, parse_head};
use super::{CLOSED_MID_REQUEST, Connection, KEEP_CAPACITY, Limits, ReadError, Request};

/// Read at least this much per read call, so a request arrives in one or two system calls.
const READ_CHUNK: usize = 8 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Reads the next request. Answers `Expect: 100-continue` with `100 Continue` when the announced body fits the limits.
    pub async fn read_request(&mut self, limits: &Limits) -> Result<Request, ReadError> {
        self.wait_for_request(limits.idle_timeout).await?;
        let Head { len, mut request, framing, expect_continue } = self.read_head(limits).await?;
        if let Framing::Length(length) = framing
            && length > limits.max_body as u64
        {
            return Err(ReadError::BodyTooLarge);
        }
        // A client that already sent body bytes is not waiting for the go-ahead.
        if expect_continue && framing != Framing::Empty && self.buffer.len() == len {
            self.send_continue(Instant::now() + limits.body_timeout).await?;
        }
        let mut pos = len;
        request.body = self.read_body(framing, &mut pos, limits).await?;
        self.consume(pos);
        Ok(request)
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

    /// Reads until the buffer starts with a complete head, within the head timeout and size limit.
    async fn read_head(&mut self, limits: &Limits) -> Result<Head, ReadError> {
        let deadline = Instant::now() + limits.head_timeout;
        loop {
            if let Some(head) = parse_head(&self.buffer, limits.max_head)? {
                return Ok(head);
            }
            // No complete head yet: read until a line ends (only then can the parse get further).
            loop {
                if self.buffer.len() > limits.max_head {
                    return Err(ReadError::HeadTooLarge);
                }
                let before = self.buffer.len();
                if self.fill(deadline).await? == 0 {
                    return Err(ReadError::Malformed(CLOSED_MID_REQUEST.to_owned()));
                }
                if self.buffer[before..].contains(&b'\n') {
                    break;
                }
            }
        }
    }

    async fn send_continue(&mut self, deadline: Instant) -> Result<(), ReadError> {
        let sent = timeout_at(deadline, async {
            self.stream.write_all(CONTINUE).await?;
            self.stream.flush().await
        });
        match sent.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(ReadError::Io(error)),
            Err(_) => Err(ReadError::Timeout),
        }
    }

    /// Drops the request that ends at `pos`, keeping what follows it; a buffer a large request grew is trimmed back.
    fn consume(&mut self, pos: usize) {
        self.buffer.drain(..pos);
        if self.buffer.capacity() > KEEP_CAPACITY && self.buffer.len() <= KEEP_CAPACITY / 2 {
            self.buffer.shrink_to(self.buffer.len().max(READ_CHUNK));
        }
    }

    /// Appends what the stream has to the buffer; 0 at end of stream.
    pub(super) async fn fill(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        if self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 2 {
            self.buffer.reserve(READ_CHUNK);
        }
        match timeout_at(deadline, self.stream.read_buf(&mut self.buffer)).await {
            Ok(Ok(read)) => Ok(read),
            Ok(Err(error)) => Err(ReadError::Io(error)),
            Err(_) => Err(ReadError::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::CONTINUE;
    use crate::http1::test_support::{LIMITS, names, pair};
    use crate::http1::{Limits, ReadError};

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
}
