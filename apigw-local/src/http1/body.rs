//! Reading a body as its framing delimits it: what the head's read already buffered, then the rest from the stream,
//! without trusting an announced length for the memory to reserve.

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::{Instant, timeout_at};

use super::head::Framing;
use super::{CLOSED_MID_REQUEST, Connection, Limits, ReadError};

/// Body bytes read straight from the socket are reserved at most this much at a time, so a client announcing a large
/// body it never sends does not make the server allocate all of it.
const BODY_READ_CHUNK: usize = 64 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Reads the body that starts at `pos` in the buffer, within the body timeout; `pos` ends after it. A length over
    /// the limit has already been refused.
    pub(super) async fn read_body(
        &mut self,
        framing: Framing,
        pos: &mut usize,
        limits: &Limits,
    ) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + limits.body_timeout;
        match framing {
            Framing::Empty => Ok(Vec::new()),
            // Not above max_body, checked before.
            Framing::Length(length) => self.read_sized(length as usize, pos, deadline).await,
            Framing::Chunked => self.read_chunked(pos, limits, deadline).await,
        }
    }

    async fn read_sized(&mut self, length: usize, pos: &mut usize, deadline: Instant) -> Result<Vec<u8>, ReadError> {
        let available = length.min(self.buffer.len() - *pos);
        let mut body = Vec::with_capacity(length.min(available.max(BODY_READ_CHUNK)));
        self.append_body(&mut body, length, pos, deadline).await?;
        Ok(body)
    }

    /// Appends `size` bytes of body starting at `pos`: those in the buffer, then the rest from the stream.
    pub(super) async fn append_body(
        &mut self,
        body: &mut Vec<u8>,
        size: usize,
        pos: &mut usize,
        deadline: Instant,
    ) -> Result<(), ReadError> {
        let available = size.min(self.buffer.len() - *pos);
        body.extend_from_slice(&self.buffer[*pos..*pos + available]);
        *pos += available;
        if available < size {
            // Everything buffered is body: the rest is read straight into it, not through the buffer.
            self.buffer.clear();
            *pos = 0;
            self.read_body_bytes(body, size - available, deadline).await?;
        }
        Ok(())
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

    /// Drops the consumed bytes before `pos` and appends more; end of stream here is mid-request.
    pub(super) async fn fill_body(&mut self, pos: &mut usize, deadline: Instant) -> Result<(), ReadError> {
        if *pos > 0 {
            self.buffer.drain(..*pos);
            *pos = 0;
        }
        match self.fill(deadline).await? {
            0 => Err(ReadError::Malformed(CLOSED_MID_REQUEST.to_owned())),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use crate::http1::test_support::{LIMITS, pair, read_one};
    use crate::http1::{Limits, ReadError};

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
    async fn body_stall_times_out() {
        let limits = Limits { body_timeout: Duration::from_millis(50), ..LIMITS };
        let (result, _client) = read_one(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhe", &limits).await;
        assert!(matches!(result, Err(ReadError::Timeout)), "{result:?}");
        let (result, _client) =
            read_one(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", &limits).await;
        assert!(matches!(result, Err(ReadError::Timeout)), "{result:?}");
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
