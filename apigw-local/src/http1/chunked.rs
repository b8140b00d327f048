//! The chunked transfer coding (RFC 9112 §7.1): chunks de-chunked into one body under the body limit, extensions
//! ignored, trailer fields checked and dropped.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::head::MAX_HEADERS;
use super::{Connection, Limits, ReadError};

/// A chunk-size line, extensions included.
const MAX_CHUNK_LINE: usize = 4 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Decodes a chunked body starting at `pos` in the buffer, through its trailer section; `pos` ends after it.
    pub(super) async fn read_chunked(
        &mut self,
        pos: &mut usize,
        limits: &Limits,
        deadline: Instant,
    ) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let size = self.read_chunk_size(pos, deadline).await?;
            if size == 0 {
                break;
            }
            // Refused from the size line, before the chunk's data is read.
            if size > (limits.max_body - body.len()) as u64 {
                return Err(ReadError::BodyTooLarge);
            }
            self.append_body(&mut body, size as usize, pos, deadline).await?;
            self.skip_chunk_end(pos, deadline).await?;
        }
        // Trailer fields are read and checked, then dropped: nothing downstream carries them.
        self.skip_trailers(pos, limits, deadline).await?;
        Ok(body)
    }

    /// Reads the chunk-size line at `pos`; `pos` ends after it.
    async fn read_chunk_size(&mut self, pos: &mut usize, deadline: Instant) -> Result<u64, ReadError> {
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
        Ok(size)
    }

    /// Checks for the CRLF that ends a chunk's data; `pos` ends after it.
    async fn skip_chunk_end(&mut self, pos: &mut usize, deadline: Instant) -> Result<(), ReadError> {
        while self.buffer.len() - *pos < 2 {
            self.fill_body(pos, deadline).await?;
        }
        if self.buffer[*pos..*pos + 2] != *b"\r\n" {
            return Err(ReadError::Malformed("chunk data not followed by CRLF".to_owned()));
        }
        *pos += 2;
        Ok(())
    }

    /// Reads the trailer section through its final empty line, within the head's size limit; `pos` ends after it.
    async fn skip_trailers(&mut self, pos: &mut usize, limits: &Limits, deadline: Instant) -> Result<(), ReadError> {
        loop {
            if let Some(len) = parse_trailers(&self.buffer[*pos..])? {
                *pos += len;
                return Ok(());
            }
            if self.buffer.len() - *pos > limits.max_head {
                return Err(ReadError::HeadTooLarge);
            }
            self.fill_body(pos, deadline).await?;
        }
    }
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

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use crate::http1::ReadError;
    use crate::http1::test_support::{LIMITS, names, pair, read_one};

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
}
