//! The smallest Lambda function there is, std only: one keep-alive connection to the Runtime API, `GET /next`, discard
//! the event, `POST` a fixed proxy response, repeat. The invocation benchmark runs it to measure what the Runtime API
//! host and process spawning cost on their own, so that each real function's own share is what it measures minus this.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// The tutorial's greeting for the benchmark's event, as a proxy response, so the benchmark checks it like the others'.
const RESPONSE: &str = r#"{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"greeting\":\"Good evening, John of Seattle. Happy Thursday!\"}"}"#;

fn main() -> io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API is set by the Runtime API host");
    let stream = TcpStream::connect(&api)?;
    // Each request goes out in one write; without this, Nagle holds it back behind the previous one's ACK.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let next = format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n");
    loop {
        writer.write_all(next.as_bytes())?;
        let request_id = read_response(&mut reader)?.expect("/next names the request id");
        let post = format!(
            "POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: {api}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{RESPONSE}",
            RESPONSE.len()
        );
        writer.write_all(post.as_bytes())?;
        read_response(&mut reader)?;
    }
}

/// Reads one response (head and `Content-Length` body, which is dropped); returns its
/// `Lambda-Runtime-Aws-Request-Id`, if any.
fn read_response(reader: &mut BufReader<TcpStream>) -> io::Result<Option<String>> {
    let (mut request_id, mut length) = (None, 0);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| io::Error::other("bad Content-Length"))?;
            } else if name.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                request_id = Some(value.trim().to_string());
            }
        }
    }
    io::copy(&mut reader.by_ref().take(length), &mut io::sink())?;
    Ok(request_id)
}
