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

/// The routing tests' stage: a static resource beside a greedy one, path variables at two depths with methods of
/// their own, and the root. Evidence for each expectation is in docs/apigw-conformance.md; [L] marks requests and
/// answers AWS itself recorded in LocalStack's `test_apigateway_lambda.snapshot.json`
/// (`test_lambda_aws_proxy_integration`) and `test_apigateway_common.py` (`TestApigatewayRouting`).
const ROUTES: [&str; 8] = [
    "ANY /{proxy+}",
    "ANY /hardcoded",
    "GET /users/{id}",
    "DELETE /users/{id}",
    "ANY /users/{id}",
    "GET /users/{id}/files/{path+}",
    "PATCH /users/me",
    "GET /",
];

fn routed() -> Gateway {
    let function = scripted_function();
    let mut args = vec!["--function", function.to_str().unwrap(), "--timeout", "10s"];
    for route in ROUTES {
        args.extend(["--route", route]);
    }
    Gateway::start(&args)
}

/// What `METHOD target` reached: the routing fields of the event the function got (plus its method), or the
/// gateway's own answer.
fn route_of(gateway: &Gateway, method: &str, target: &str) -> Result<Value, (u16, String)> {
    let request = format!("{method} {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let response = parse(&exchange(gateway, request.as_bytes()));
    if response.status != 200 {
        return Err((response.status, response.body));
    }
    let (event, _) = echoed(&response);
    let context = &event["requestContext"];
    Ok(json!({
        "method": event["httpMethod"],
        "resource": event["resource"],
        "path": event["path"],
        "pathParameters": event["pathParameters"],
        "resourcePath": context["resourcePath"],
        "contextPath": context["path"],
        "resourceId": context["resourceId"],
    }))
}

/// The event's routing fields when `resource` is matched: `resourcePath` is the resource too.
fn reached(resource: &str, path: &str, parameters: Value, context_path: &str) -> Value {
    json!({"resource": resource, "path": path, "pathParameters": parameters, "contextPath": context_path})
}

/// [`route_of`] without the fields [`reached`] leaves out, after checking that `resourcePath` names the resource.
fn reached_by(gateway: &Gateway, method: &str, target: &str) -> Value {
    let mut fields = route_of(gateway, method, target).unwrap_or_else(|answer| panic!("{method} {target}: {answer:?}"));
    assert_eq!(fields["resourcePath"], fields["resource"], "{method} {target}");
    assert_eq!(fields["method"], method, "{method} {target}");
    let object = fields.as_object_mut().unwrap();
    for key in ["method", "resourcePath", "resourceId"] {
        object.remove(key);
    }
    fields
}

#[test]
fn item_26_path_variables_and_greedy_variables_at_any_depth() {
    let gateway = routed();
    assert_eq!(
        reached_by(&gateway, "GET", "/test/users/42"),
        reached("/users/{id}", "/users/42", json!({"id": "42"}), "/test/users/42")
    );
    assert_eq!(
        reached_by(&gateway, "GET", "/test/users/42/files/docs/a.txt?download=1"),
        reached(
            "/users/{id}/files/{path+}",
            "/users/42/files/docs/a.txt",
            json!({"id": "42", "path": "docs/a.txt"}),
            "/test/users/42/files/docs/a.txt"
        )
    );
    // [L] invocation-payload-without-trailing-slash.
    assert_eq!(
        reached_by(&gateway, "GET", "/test/proxy-value"),
        reached("/{proxy+}", "/proxy-value", json!({"proxy": "proxy-value"}), "/test/proxy-value")
    );
    assert_eq!(
        reached_by(&gateway, "POST", "/test/a/b/c/d"),
        reached("/{proxy+}", "/a/b/c/d", json!({"proxy": "a/b/c/d"}), "/test/a/b/c/d")
    );
}

#[test]
fn item_27_precedence_static_then_variable_then_greedy_and_methods_decide_between_them() {
    let gateway = routed();
    // A static part beats a variable: /users/me for PATCH, the method it has.
    assert_eq!(
        reached_by(&gateway, "PATCH", "/test/users/me"),
        reached("/users/me", "/users/me", Value::Null, "/test/users/me")
    );
    // /users/me has no GET: the request goes on to /users/{id} (measured on AWS, floci-io/floci#3399).
    assert_eq!(
        reached_by(&gateway, "GET", "/test/users/me"),
        reached("/users/{id}", "/users/me", json!({"id": "me"}), "/test/users/me")
    );
    // A static part beats a greedy variable ([L] invocation-hardcoded), a variable beats it too.
    assert_eq!(
        reached_by(&gateway, "GET", "/test/hardcoded"),
        reached("/hardcoded", "/hardcoded", Value::Null, "/test/hardcoded")
    );
    assert_eq!(reached_by(&gateway, "PUT", "/test/users/7")["resource"], "/users/{id}");
    // A static branch that ends short falls back on the greedy variable ([L] routing_with_hardcoded_resource_sibling_order).
    assert_eq!(
        reached_by(&gateway, "GET", "/test/hardcoded/more"),
        reached("/{proxy+}", "/hardcoded/more", json!({"proxy": "hardcoded/more"}), "/test/hardcoded/more")
    );
    assert_eq!(
        reached_by(&gateway, "GET", "/test/users/7/files"),
        reached("/{proxy+}", "/users/7/files", json!({"proxy": "users/7/files"}), "/test/users/7/files")
    );
    // /users/{id}/files/{path+} has GET only: a POST goes to the greedy variable at the root.
    assert_eq!(reached_by(&gateway, "POST", "/test/users/7/files/x")["resource"], "/{proxy+}");
}

#[test]
fn item_28_methods_on_the_same_resource() {
    let gateway = routed();
    let ids: Vec<Value> = ["GET", "DELETE", "POST", "OPTIONS", "PATCH"]
        .into_iter()
        .map(|method| {
            let fields = route_of(&gateway, method, "/test/users/42").unwrap();
            assert_eq!((fields["method"].as_str(), &fields["resource"]), (Some(method), &json!("/users/{id}")));
            fields["resourceId"].clone()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one resource, one resourceId: {ids:?}");
    let other = route_of(&gateway, "GET", "/test/hardcoded").unwrap()["resourceId"].clone();
    assert_ne!(other, ids[0]);
    // HEAD on /users/{id} is served by ANY there, not by GET; its answer has no body to look into.
    let response = exchange(&gateway, b"HEAD /test/users/42 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
}

#[test]
fn item_29_variables_with_encoded_characters_arrive_as_sent() {
    let gateway = routed();
    // [L] invocation-payload-with-path-encoded-email.
    let path = "/proxy-value/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com";
    assert_eq!(
        reached_by(&gateway, "GET", &format!("/test{path}")),
        reached("/{proxy+}", path, json!({"proxy": &path[1..]}), &format!("/test{path}"))
    );
    // An encoded slash stays in its segment (aws/aws-sam-cli#3524); spaces and UTF-8 stay encoded (hotsock/voker's
    // captures of REST API events).
    for id in ["my-id%2F100", "a%20b", "%CE%BB-%E4%B8%96", "50%25", "q%3Fx%23y"] {
        assert_eq!(
            reached_by(&gateway, "GET", &format!("/test/users/{id}")),
            reached("/users/{id}", &format!("/users/{id}"), json!({ "id": id }), &format!("/test/users/{id}")),
            "{id}"
        );
    }
}

#[test]
fn item_30_repeated_slashes_are_matched_and_reported_as_aws_does() {
    let gateway = routed();
    // [L] invocation-payload-with-double-slash.
    assert_eq!(
        reached_by(&gateway, "GET", "/test/proxy-value//double-slash"),
        reached(
            "/{proxy+}",
            "/proxy-value//double-slash",
            json!({"proxy": "proxy-value//double-slash"}),
            "/test/proxy-value//double-slash"
        )
    );
    // [L] invocation-payload-with-prepended-slash-to-stage.
    assert_eq!(
        reached_by(&gateway, "GET", "//test/proxy-value"),
        reached("/{proxy+}", "/proxy-value", json!({"proxy": "proxy-value"}), "/test/proxy-value")
    );
    // [L] invocation-payload-with-prepended-slash.
    assert_eq!(
        reached_by(&gateway, "GET", "/test//proxy-value"),
        reached("/{proxy+}", "/proxy-value", json!({"proxy": "proxy-value"}), "/test//proxy-value")
    );
    // [L] invocation-hardcoded.
    assert_eq!(
        reached_by(&gateway, "GET", "/test//hardcoded"),
        reached("/hardcoded", "/hardcoded", Value::Null, "/test//hardcoded")
    );
}

#[test]
fn item_31_trailing_slashes_and_the_root() {
    let gateway = routed();
    // [L] invocation-payload-with-trailing-slash-and-query-params.
    assert_eq!(
        reached_by(&gateway, "GET", "/test/proxy-value/?urlparam=test"),
        reached("/{proxy+}", "/proxy-value/", json!({"proxy": "proxy-value"}), "/test/proxy-value/")
    );
    assert_eq!(
        reached_by(&gateway, "GET", "/test/users/42/"),
        reached("/users/{id}", "/users/42/", json!({"id": "42"}), "/test/users/42/")
    );
    assert_eq!(reached_by(&gateway, "GET", "/test/"), reached("/", "/", Value::Null, "/test/"));
    assert_eq!(reached_by(&gateway, "GET", "/test"), reached("/", "/", Value::Null, "/test"));
}

#[test]
fn item_02_paths_and_methods_that_match_nothing_are_missing_authentication_token() {
    let gateway = routed();
    let cases = [
        ("POST", "/test/"),          // the root has GET only, and /{proxy+} does not match it
        ("HEAD", "/test/"),          // GET does not serve HEAD
        ("TRACE", "/test/anything"), // not a method ANY stands for
        ("GET", "/prod/users/1"),    // another stage
        ("GET", "/users/1"),         // no stage
        ("GET", "/testusers/1"),     // not the stage
    ];
    for (method, target) in cases {
        let request = format!("{method} {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let response = parse(&exchange(&gateway, request.as_bytes()));
        assert_eq!(response.status, 403, "{method} {target}");
        assert_eq!(
            response.header("x-amzn-ErrorType"),
            Some("MissingAuthenticationTokenException"),
            "{method} {target}"
        );
        if method != "HEAD" {
            assert_eq!(response.body, r#"{"message":"Missing Authentication Token"}"#);
        }
    }
}

/// An OpenAPI document as API Gateway exports it: a Lambda proxy integration on two resources, a mock CORS preflight
/// and the integration's URI left as the template Terraform fills in.
const OPENAPI: &str = r#"{
  "openapi": "3.0.1",
  "info": {"title": "routes", "version": "1"},
  "paths": {
    "/pets/{petId}": {
      "get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": "${invoke_arn}"}},
      "options": {"x-amazon-apigateway-integration": {"type": "mock"}}
    },
    "/pets": {
      "x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "${invoke_arn}"}}
    }
  }
}"#;

/// A scratch file holding `text`, removed when dropped.
struct ScratchFile(std::path::PathBuf);

impl ScratchFile {
    fn new(text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("apigw-local-routes-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn item_34_routes_come_from_an_openapi_document_and_from_flags() {
    let file = ScratchFile::new(OPENAPI);
    let function = scripted_function();
    let gateway = Gateway::start(&[
        "--function",
        function.to_str().unwrap(),
        "--routes-file",
        file.0.to_str().unwrap(),
        "--route",
        "GET /health",
    ]);
    assert_eq!(
        reached_by(&gateway, "GET", "/test/pets/7"),
        reached("/pets/{petId}", "/pets/7", json!({"petId": "7"}), "/test/pets/7")
    );
    assert_eq!(reached_by(&gateway, "DELETE", "/test/pets"), reached("/pets", "/pets", Value::Null, "/test/pets"));
    assert_eq!(reached_by(&gateway, "GET", "/test/health"), reached("/health", "/health", Value::Null, "/test/health"));
    // The mock preflight is not served, and the tutorial's default route is not added.
    assert_eq!(route_of(&gateway, "OPTIONS", "/test/pets/7").unwrap_err().0, 403);
    assert_eq!(route_of(&gateway, "GET", "/test/helloworld").unwrap_err().0, 403);
}

/// Runs apigw-local with `args`, expecting it to refuse to start, and returns what it wrote on stderr.
fn refused(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_apigw-local"))
        .args(["--listen", "127.0.0.1:0", "--invoke-url", "http://127.0.0.1:9/"])
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{args:?} should be refused");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn item_34_route_tables_api_gateway_would_refuse_stop_apigw_local_at_start() {
    // [L] test_create_proxy_resource_validation: CreateResource's words.
    let stderr = refused(&["--route", "ANY /{proxy+}", "--route", "GET /{id}"]);
    assert!(stderr.contains("a variable path part -- only one is allowed"), "{stderr}");
    let stderr = refused(&["--route", "GET /{proxy+}/child"]);
    assert!(stderr.contains("a greedy path variable cannot have children"), "{stderr}");
    let file = ScratchFile::new(r#"{"openapi": "3.0.1", "paths": {"/a": {"get": {}}}}"#);
    let stderr = refused(&["--routes-file", file.0.to_str().unwrap()]);
    assert!(stderr.contains("no operation has an x-amazon-apigateway-integration of type aws_proxy"), "{stderr}");
    let stderr = refused(&["--routes-file", "/nonexistent/api.json"]);
    assert!(stderr.contains("route file /nonexistent/api.json: cannot read it"), "{stderr}");
}
