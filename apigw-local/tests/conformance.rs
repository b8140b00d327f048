//! The event the function receives and the response the client gets, checked over raw sockets so that header casing
//! and framing are exactly what went over the wire. Item numbers are those of
//! docs/apigw-conformance.md.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use common::{Gateway, json, scripted_function};
use serde_json::{Value, json};

fn echo() -> Gateway {
    Gateway::start(&["--function", scripted_function().to_str().unwrap(), "--timeout", "10s"])
}

fn address(gateway: &Gateway) -> String {
    gateway.base.trim_start_matches("http://").to_string()
}

/// Sends raw bytes on a fresh connection and reads until the server closes it.
fn exchange(gateway: &Gateway, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address(gateway)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

struct Parsed {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Parsed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn parse(response: &str) -> Parsed {
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete head");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.map(|line| line.split_once(": ").unwrap()).map(|(n, v)| (n.into(), v.into())).collect();
    Parsed { status, headers, body: body.to_string() }
}

/// The event and Runtime API headers the echo function received.
fn echoed(response: &Parsed) -> (Value, Value) {
    assert_eq!(response.status, 200, "{}", response.body);
    let echoed = json(&response.body);
    (echoed["event"].clone(), echoed["runtime"].clone())
}

#[test]
fn items_1_5_6_7_8_10_13_the_event_is_what_api_gateway_sends() {
    let gateway = echo();
    let request = "POST /test/helloworld?name=J%C3%B6hn+Doe&a=1&a=2&plus=%2B&empty=#frag HTTP/1.1\r\n\
                   Host: example.local:8080\r\n\
                   content-type: application/json\r\n\
                   DAY: Thursday\r\n\
                   X-Custom: one\r\n\
                   X-Custom: two\r\n\
                   User-Agent: conformance/1\r\n\
                   Connection: close\r\n\
                   Content-Length: 21\r\n\r\n\
                   { \"time\": \"evening\" }";
    let response = parse(&exchange(&gateway, request.as_bytes()));
    let (event, runtime) = echoed(&response);

    // 1: resource, path and stage.
    assert_eq!(event["resource"], "/helloworld");
    assert_eq!(event["path"], "/helloworld");
    assert_eq!(event["httpMethod"], "POST");
    let context = &event["requestContext"];
    assert_eq!(context["path"], "/test/helloworld");
    assert_eq!(context["resourcePath"], "/helloworld");
    assert_eq!(context["stage"], "test");
    // 5, 6: client casing, last value wins in the single map, all values in order in the multi map.
    assert_eq!(event["headers"]["DAY"], "Thursday");
    assert_eq!(event["headers"]["content-type"], "application/json");
    assert_eq!(event["headers"]["X-Custom"], "two");
    assert_eq!(event["multiValueHeaders"]["X-Custom"], json!(["one", "two"]));
    // 7: framing headers dropped, API Gateway's own added.
    assert!(event["headers"].get("Content-Length").is_none());
    assert!(event["headers"].get("Connection").is_none());
    assert_eq!(event["headers"]["X-Forwarded-For"], "127.0.0.1");
    assert_eq!(event["headers"]["X-Forwarded-Proto"], "http");
    let port = address(&gateway).rsplit(':').next().unwrap().to_string();
    assert_eq!(event["headers"]["X-Forwarded-Port"], port.as_str());
    // 8, 10: decoded query values, repeated keys, empty values, fragment dropped.
    assert_eq!(event["queryStringParameters"]["name"], "Jöhn Doe");
    assert_eq!(event["queryStringParameters"]["a"], "2");
    assert_eq!(event["multiValueQueryStringParameters"]["a"], json!(["1", "2"]));
    assert_eq!(event["queryStringParameters"]["plus"], "+");
    assert_eq!(event["queryStringParameters"]["empty"], "");
    // 9: no path parameters or stage variables.
    assert_eq!(event["pathParameters"], Value::Null);
    assert_eq!(event["stageVariables"], Value::Null);
    // 11: text body verbatim.
    assert_eq!(event["body"], r#"{ "time": "evening" }"#);
    assert_eq!(event["isBase64Encoded"], false);
    // 13: request context, tied to the response's and the runtime's ids.
    assert_eq!(context["domainName"], "example.local:8080");
    assert_eq!(context["protocol"], "HTTP/1.1");
    assert_eq!(context["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["identity"]["userAgent"], "conformance/1");
    assert_eq!(context["httpMethod"], "POST");
    assert_eq!(context["requestId"].as_str(), response.header("x-amzn-RequestId"));
    assert_eq!(context["extendedRequestId"].as_str(), response.header("x-amz-apigw-id"));
    let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
    let epoch = context["requestTimeEpoch"].as_i64().unwrap();
    assert!((now_ms - epoch).abs() < 60_000, "requestTimeEpoch {epoch} is now");
    // 21 and the Runtime API: the same request id and trace header everywhere.
    assert_eq!(runtime["lambda-runtime-aws-request-id"].as_str(), response.header("x-amzn-RequestId"));
    assert_eq!(runtime["lambda-runtime-trace-id"].as_str(), response.header("X-Amzn-Trace-Id"));
    assert_eq!(event["headers"]["X-Amzn-Trace-Id"].as_str(), response.header("X-Amzn-Trace-Id"));
    assert_eq!(
        runtime["lambda-runtime-invoked-function-arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:GetStartedLambdaProxyIntegration"
    );
    let deadline: i64 = runtime["lambda-runtime-deadline-ms"].as_str().unwrap().parse().unwrap();
    assert!((deadline - epoch - 10_000).abs() < 1_000, "deadline is the request time plus the 10 s timeout");
}

#[test]
fn items_9_11_13_a_bare_get_has_null_maps_and_fresh_ids() {
    let gateway = echo();
    let request = b"GET /test/helloworld/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let first = parse(&exchange(&gateway, request));
    let second = parse(&exchange(&gateway, request));
    let (event, _) = echoed(&first);
    // 4: the trailing slash reaches the resource and stays in the path.
    assert_eq!(event["resource"], "/helloworld");
    assert_eq!(event["path"], "/helloworld/");
    assert_eq!(event["queryStringParameters"], Value::Null);
    assert_eq!(event["multiValueQueryStringParameters"], Value::Null);
    assert_eq!(event["body"], Value::Null);
    assert_eq!(event["isBase64Encoded"], false);
    let (again, _) = echoed(&second);
    assert_ne!(event["requestContext"]["requestId"], again["requestContext"]["requestId"]);
    assert_ne!(first.header("X-Amzn-Trace-Id"), second.header("X-Amzn-Trace-Id"));
}

#[test]
fn item_21_a_client_trace_header_is_passed_on_and_echoed() {
    let gateway = echo();
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let request =
        format!("GET /test/helloworld HTTP/1.1\r\nHost: h\r\nX-Amzn-Trace-Id: {trace}\r\nConnection: close\r\n\r\n");
    let response = parse(&exchange(&gateway, request.as_bytes()));
    let (event, runtime) = echoed(&response);
    // The client's trace goes on. With tracing on (the default), `Parent` names the gateway's span that invokes the
    // function, as API Gateway's own segment does with X-Ray on; with tracing off the header passes on unchanged.
    let echoed = response.header("X-Amzn-Trace-Id").unwrap();
    assert!(echoed.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;"), "{echoed}");
    assert_eq!(event["headers"]["X-Amzn-Trace-Id"], echoed);
    assert_eq!(runtime["lambda-runtime-trace-id"], echoed);
}

#[test]
fn item_3_head_goes_to_the_function_as_head_and_no_body_comes_back() {
    let gateway = echo();
    let response = exchange(&gateway, b"HEAD /test/helloworld HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "", "no body bytes after a HEAD response");
    let length: usize = parse(&response).header("Content-Length").unwrap().parse().unwrap();
    assert!(length > 0, "the length of the body a GET would get");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let gateway = echo();
    let one = "GET /test/helloworld?n=1 HTTP/1.1\r\nHost: h\r\n\r\n";
    let two = "GET /test/helloworld?n=2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let response = exchange(&gateway, format!("{one}{two}").as_bytes());
    assert_eq!(response.matches("HTTP/1.1 200").count(), 2, "{response}");
}

#[test]
fn item_25_oversized_requests_get_api_gateways_errors() {
    let gateway = echo();
    let announced = "POST /test/helloworld HTTP/1.1\r\nHost: h\r\nContent-Length: 10485761\r\n\r\n";
    let response = parse(&exchange(&gateway, announced.as_bytes()));
    assert_eq!((response.status, response.body.as_str()), (413, r#"{"message":"Request Too Long"}"#));

    let headers = format!("GET /test/helloworld HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n", "b".repeat(10_240));
    let response = parse(&exchange(&gateway, headers.as_bytes()));
    assert_eq!(response.status, 431);
    assert_eq!(response.header("x-amzn-ErrorType"), Some("RequestHeaderFieldsTooLargeException"));

    let garbage = parse(&exchange(&gateway, b"NOT HTTP AT ALL\r\n\r\n"));
    assert_eq!((garbage.status, garbage.body.as_str()), (400, r#"{"message":"Bad Request"}"#));

    // The server is still answering.
    let ok = parse(&exchange(&gateway, b"GET /test/helloworld HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    assert_eq!(ok.status, 200);
}

#[test]
fn items_14_to_19_proxy_output_is_mapped_like_api_gateway() {
    let gateway = echo();
    let output = r#"{"statusCode":201,"headers":{"X-One":"a","X-Flag":true},"multiValueHeaders":{"X-Many":["1","2"],"X-One":["b"]},"body":"done"}"#;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("act", "raw")
        .append_pair("output", output)
        .finish();
    let request = format!("GET /test/helloworld?{query} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let response = parse(&exchange(&gateway, request.as_bytes()));
    assert_eq!((response.status, response.body.as_str()), (201, "done"));
    assert_eq!(response.header("X-Flag"), Some("true"));
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    let many: Vec<_> = response.headers.iter().filter(|(n, _)| n == "X-Many").map(|(_, v)| v.as_str()).collect();
    assert_eq!(many, ["1", "2"]);
    let ones: Vec<_> = response.headers.iter().filter(|(n, _)| n == "X-One").map(|(_, v)| v.as_str()).collect();
    assert_eq!(ones.len(), 2, "both the single and the multi-value header are sent: {ones:?}");
}
