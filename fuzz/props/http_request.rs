//! Property of the `http_request` fuzz target: whatever bytes a client sends, the gateway's HTTP reader and event
//! builder never panic, reading does not depend on how the bytes are split into reads, and every request routed to
//! the function becomes a proxy event that carries it faithfully.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use apigw_local::event::{Api, RequestMeta, build};
use apigw_local::http1::{Connection, Limits, ReadError, Request};
use apigw_local::routes::RouteTable;
use apigw_local::server::LIMITS;
use apigw_local::telemetry::TraceHeaders;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::Runtime;

/// The gateway's limits, shrunk so that inputs of a few kilobytes (libFuzzer's default `-max_len` is 4096) reach them.
const FUZZ_LIMITS: Limits = Limits { max_head: 1024, max_body: 1024, ..LIMITS };

/// What the fuzz inputs are split into in the second reading: small and odd, so heads, chunk-size lines and bodies
/// arrive in pieces at every offset.
const SMALL_READ: usize = 7;

/// Every key of a REST (v1) proxy event.
const EVENT_KEYS: [&str; 12] = [
    "body",
    "headers",
    "httpMethod",
    "isBase64Encoded",
    "multiValueHeaders",
    "multiValueQueryStringParameters",
    "path",
    "pathParameters",
    "queryStringParameters",
    "requestContext",
    "resource",
    "stageVariables",
];

const XRAY: &str = "Root=1-5c92a4a6-0123456789abcdef01234567;Parent=00f067aa0ba902b7;Sampled=1";
const SOURCE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

/// One runtime for every input (timers enabled: the reader's deadlines need them, though an in-memory stream never
/// makes them expire).
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a current-thread runtime builds")
});

/// The tutorial's stage and resource, and resources with path variables so that fuzzed paths reach them too.
static ROUTES: LazyLock<RouteTable> = LazyLock::new(|| {
    let routes = ["ANY /helloworld", "GET /users/{id}", "ANY /files/{proxy+}"];
    RouteTable::new("test", routes.iter().map(|route| route.parse().expect("a valid route")).collect())
        .expect("a valid table")
});

/// Reads `data` as what one client sent on one connection, and checks every request the function would get.
pub(crate) fn check(data: &[u8]) {
    let whole = read_all(data, usize::MAX);
    let pieces = read_all(data, SMALL_READ);
    assert_eq!(whole, pieces, "the requests read depend on how the bytes arrived");
    for request in &whole.requests {
        check_event(request);
    }
}

/// The requests read from one connection, and whether it ended cleanly (the client closed between requests).
#[derive(Debug, PartialEq)]
struct Exchange {
    requests: Vec<Request>,
    closed_cleanly: bool,
}

fn read_all(data: &[u8], read_size: usize) -> Exchange {
    RUNTIME.block_on(async {
        let mut connection = Connection::new(Wire { input: data, read_size });
        let mut requests = Vec::new();
        loop {
            // The server stops at `Connection: close`; reading on finds more to check in the bytes after it.
            match connection.read_request(&FUZZ_LIMITS).await {
                Ok(request) => requests.push(request),
                Err(error) => return Exchange { requests, closed_cleanly: matches!(error, ReadError::Closed) },
            }
        }
    })
}

fn check_event(request: &Request) {
    let Some(route) = ROUTES.find(&request.method, request.path()) else { return };
    let meta = RequestMeta {
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
        extended_request_id: "AbCdEfGhIjKlMnO=".into(),
        received_at: UNIX_EPOCH + Duration::from_millis(1_553_114_310_123),
        source_ip: SOURCE_IP,
        local_port: 8080,
        // Traced, so that a client's `traceparent` is replaced too.
        trace: TraceHeaders {
            xray: XRAY.into(),
            traceparent: Some("00-5c92a4a60123456789abcdef01234567-00f067aa0ba902b7-01".into()),
        },
    };
    let event = build(request, &route, &api(), &meta);

    let object = event.as_object().expect("the event is a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, EVENT_KEYS, "event keys");
    let text = serde_json::to_string(&event).expect("the event serializes");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("the event parses back"), event, "round trip");

    assert_eq!(event["httpMethod"], request.method.as_str());
    check_path(request, &event);
    check_maps(&event["headers"], &event["multiValueHeaders"]);
    check_maps(&event["queryStringParameters"], &event["multiValueQueryStringParameters"]);
    let headers = event["headers"].as_object().expect("the gateway always adds headers");
    for name in headers.keys() {
        assert!(
            !apigw_local::event::DROPPED_HEADERS.iter().any(|dropped| dropped.eq_ignore_ascii_case(name)),
            "{name} passed on"
        );
    }
    assert_eq!(headers["X-Amzn-Trace-Id"], XRAY);
    let forwarded_for = headers["X-Forwarded-For"].as_str().expect("X-Forwarded-For is text");
    assert!(forwarded_for.ends_with(&SOURCE_IP.to_string()), "X-Forwarded-For {forwarded_for:?}");

    let body = match (&event["body"], &event["isBase64Encoded"]) {
        (Value::Null, Value::Bool(false)) => Vec::new(),
        (Value::String(text), Value::Bool(false)) => text.clone().into_bytes(),
        (Value::String(encoded), Value::Bool(true)) => BASE64.decode(encoded).expect("the body is base64"),
        other => panic!("body and isBase64Encoded {other:?}"),
    };
    assert_eq!(body, request.body, "the event's body is not the request's");
}

/// The paths are the request's (only the slashes before the stage dropped, and those after it collapsed in `path`),
/// and every path parameter is a piece of `path`, as sent.
fn check_path(request: &Request, event: &Value) {
    let context_path = event["requestContext"]["path"].as_str().expect("requestContext.path is text");
    assert_eq!(context_path.trim_start_matches('/'), request.path().trim_start_matches('/'), "requestContext.path");
    let path = event["path"].as_str().expect("path is text");
    assert!(path.starts_with('/') && !path.starts_with("//"), "path {path:?}");
    assert!(context_path.ends_with(path.trim_start_matches('/')), "path {path:?} in {context_path:?}");
    if let Some(parameters) = event["pathParameters"].as_object() {
        for (name, value) in parameters {
            let value = value.as_str().expect("path parameters are text");
            assert!(!value.is_empty() && path.contains(value), "{name}: {value:?} is not in {path:?}");
        }
    }
}

/// A single-value map and its multi-value map (headers or query): both null, or the same names with the last of the
/// values as the single value.
fn check_maps(single: &Value, multi: &Value) {
    if single.is_null() && multi.is_null() {
        return;
    }
    let (Some(single), Some(multi)) = (single.as_object(), multi.as_object()) else {
        panic!("maps {single:?} and {multi:?}");
    };
    assert!(single.keys().eq(multi.keys()), "names {single:?} vs {multi:?}");
    for (name, values) in multi {
        let values = values.as_array().expect("multi-value entries are arrays");
        assert!(values.iter().all(Value::is_string), "{name}: {values:?}");
        assert_eq!(values.last(), Some(&single[name]), "{name}");
    }
}

fn api() -> Api {
    Api {
        api_id: "abc123defg".into(),
        account_id: "123456789012".into(),
        stage: "test".into(),
        deployment_id: "dep001".into(),
        binary_media_types: vec!["image/*".into()],
    }
}

/// A connection whose client sent `input` and then closed: reads hand out at most `read_size` bytes each and never
/// wait; what the server writes (`100 Continue`) is dropped.
struct Wire<'a> {
    input: &'a [u8],
    read_size: usize,
}

impl AsyncRead for Wire<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let len = self.input.len().min(self.read_size).min(buf.remaining());
        let (read, rest) = self.input.split_at(len);
        buf.put_slice(read);
        self.input = rest;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Wire<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
