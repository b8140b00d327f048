//! The handler driven the way Lambda drives it: API Gateway REST (v1) proxy events, parsed by `lambda_http`.
//!
//! Every event starts from a recorded shape in `fixtures/` (the tutorial's two requests, and the AWS examples shipped
//! with `aws_lambda_events`) and is edited as JSON, so what `lambda_http` makes of the event is part of what is tested.
//! The `apigw-local-*` fixtures are taken as they are: events apigw-local really sends, kept so by its test
//! `fixtures_from_apigw_local` (which regenerates them under `UPDATE_FIXTURES=1`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hello_lambda_otel::handler::{MAX_VALUE_CHARS, handle};
use lambda_http::http::header::{CONTENT_TYPE, HeaderValue};
use lambda_http::{Body, Request};
use serde_json::{Value, json};

/// The tutorial's curl: `POST /test/helloworld?name=John&city=Seattle`, `day: Thursday`, `{ "time": "evening" }`.
const SEED_POST: &str = include_str!("fixtures/seed-post.json");
/// The tutorial's browser visit: `GET /test/helloworld?name=John&city=Seattle`, no body.
const SEED_GET: &str = include_str!("fixtures/seed-get.json");
const AWS_EXAMPLE: &str = include_str!("fixtures/example-apigw-request.json");
const AWS_EXAMPLE_MULTI_VALUE: &str = include_str!("fixtures/example-apigw-request-multi-value-parameters.json");
/// apigw-local's event for the tutorial's curl.
const APIGW_LOCAL_SEED_POST: &str = include_str!("fixtures/apigw-local-seed-post.json");
/// apigw-local's event for the tutorial's browser visit.
const APIGW_LOCAL_SEED_GET: &str = include_str!("fixtures/apigw-local-seed-get.json");
/// apigw-local's event for `GET /test/helloworld?name=a&name=b` with the header `DAY: Friday`.
const APIGW_LOCAL_REPEATED_QUERY: &str = include_str!("fixtures/apigw-local-repeated-query.json");
/// apigw-local's event for `POST /test/helloworld` without a body.
const APIGW_LOCAL_EMPTY_BODY: &str = include_str!("fixtures/apigw-local-empty-body.json");

const SEED_POST_ANSWER: &str = r#"{"greeting":"Good evening, John of Seattle. Happy Thursday!"}"#;

fn event(fixture: &str) -> Value {
    serde_json::from_str(fixture).expect("fixtures are JSON")
}

/// Sets a query parameter as API Gateway does: every value in the multi-value map, the last in the single-value one.
fn set_query(event: &mut Value, key: &str, values: &[&str]) {
    event["multiValueQueryStringParameters"][key] = json!(values);
    event["queryStringParameters"][key] = json!(values.last());
}

/// Sets a header as API Gateway does, replacing it whatever the casing it had.
fn set_header(event: &mut Value, name: &str, values: &[&str]) {
    for map in ["headers", "multiValueHeaders"] {
        if let Some(headers) = event[map].as_object_mut() {
            headers.retain(|key, _| !key.eq_ignore_ascii_case(name));
        }
    }
    event["multiValueHeaders"][name] = json!(values);
    event["headers"][name] = json!(values.last());
}

fn set_method(event: &mut Value, method: &str) {
    event["httpMethod"] = json!(method);
    event["requestContext"]["httpMethod"] = json!(method);
}

fn set_body(event: &mut Value, body: Option<&str>) {
    event["body"] = json!(body);
    event["isBase64Encoded"] = json!(false);
}

fn set_base64_body(event: &mut Value, bytes: &[u8]) {
    event["body"] = json!(BASE64.encode(bytes));
    event["isBase64Encoded"] = json!(true);
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("lambda_http accepts the event")
}

/// The status and body of the handler's answer, after checking what every answer shares.
async fn answer(request: Request) -> (u16, String) {
    let Ok(response) = handle(request).await;
    assert_eq!(response.headers().get_all(CONTENT_TYPE).iter().collect::<Vec<_>>(), ["application/json"]);
    let Body::Text(body) = response.body() else { panic!("a JSON body is text, got {:?}", response.body()) };
    (response.status().as_u16(), body.clone())
}

async fn assert_answer(event: &Value, status: u16, body: &str) {
    assert_eq!(answer(request(event)).await, (status, body.to_owned()));
}

async fn assert_bad_request(event: &Value, message: &str) {
    assert_answer(event, 400, &json!({ "message": message }).to_string()).await;
}

// The tutorial's requests.

#[tokio::test]
async fn seed_curl_post() {
    assert_answer(&event(SEED_POST), 200, SEED_POST_ANSWER).await;
}

#[tokio::test]
async fn seed_browser_get() {
    assert_answer(&event(SEED_GET), 200, r#"{"greeting":"Good day, John of Seattle."}"#).await;
}

#[tokio::test]
async fn every_method_of_any_is_answered_alike() {
    for method in ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"] {
        let mut event = event(SEED_POST);
        set_method(&mut event, method);
        let request = request(&event);
        assert_eq!(request.method().as_str(), method);
        assert_eq!(answer(request).await, (200, SEED_POST_ANSWER.to_owned()), "{method}");
    }
}

// The AWS examples: a proxy resource with unrelated headers, stage variables and a JSON body without `time`.

#[tokio::test]
async fn aws_example_event() {
    assert_answer(&event(AWS_EXAMPLE), 200, r#"{"greeting":"Good day, me of World."}"#).await;
}

#[tokio::test]
async fn aws_example_multi_value_event_takes_the_last_value() {
    // Its maps disagree (`me` vs `["me", "me2"]`); `lambda_http` prefers the multi-value map, whose last value is the
    // one API Gateway itself puts in the single-value map.
    assert_answer(&event(AWS_EXAMPLE_MULTI_VALUE), 200, r#"{"greeting":"Good day, me2 of World."}"#).await;
}

// Events apigw-local really sends, unedited.

#[tokio::test]
async fn apigw_local_fixture_seed_post() {
    assert_answer(&event(APIGW_LOCAL_SEED_POST), 200, SEED_POST_ANSWER).await;
}

#[tokio::test]
async fn apigw_local_fixture_seed_get() {
    assert_answer(&event(APIGW_LOCAL_SEED_GET), 200, r#"{"greeting":"Good day, John of Seattle."}"#).await;
}

#[tokio::test]
async fn apigw_local_fixture_repeated_query_and_upper_case_day_header() {
    assert_answer(&event(APIGW_LOCAL_REPEATED_QUERY), 200, r#"{"greeting":"Good day, b of World. Happy Friday!"}"#)
        .await;
}

#[tokio::test]
async fn apigw_local_fixture_empty_body() {
    assert_answer(&event(APIGW_LOCAL_EMPTY_BODY), 200, r#"{"greeting":"Good day, you of World."}"#).await;
}

// Query string.

#[tokio::test]
async fn defaults_when_there_is_no_query_string() {
    let mut event = event(SEED_GET);
    event["queryStringParameters"] = Value::Null;
    event["multiValueQueryStringParameters"] = Value::Null;
    assert_answer(&event, 200, r#"{"greeting":"Good day, you of World."}"#).await;
}

#[tokio::test]
async fn defaults_when_the_query_maps_are_empty() {
    let mut event = event(SEED_GET);
    event["queryStringParameters"] = json!({});
    event["multiValueQueryStringParameters"] = json!({});
    assert_answer(&event, 200, r#"{"greeting":"Good day, you of World."}"#).await;
}

#[tokio::test]
async fn other_query_parameters_are_ignored() {
    let mut event = event(SEED_GET);
    set_query(&mut event, "time", &["night"]);
    set_query(&mut event, "day", &["Sunday"]);
    assert_answer(&event, 200, r#"{"greeting":"Good day, John of Seattle."}"#).await;
}

#[tokio::test]
async fn repeated_query_parameter_last_value_wins() {
    let mut event = event(SEED_GET);
    set_query(&mut event, "name", &["a", "b"]);
    set_query(&mut event, "city", &["Paris", "Rome", "Oslo"]);
    assert_answer(&event, 200, r#"{"greeting":"Good day, b of Oslo."}"#).await;
}

#[tokio::test]
async fn repeated_query_parameter_ending_empty_is_absent() {
    // `?name=John&name=` reaches the function as `name: ""` in API Gateway's single-value map.
    let mut event = event(SEED_GET);
    set_query(&mut event, "name", &["John", ""]);
    assert_answer(&event, 200, r#"{"greeting":"Good day, you of Seattle."}"#).await;
}

#[tokio::test]
async fn single_value_query_map_alone_is_used() {
    let mut event = event(SEED_GET);
    event["multiValueQueryStringParameters"] = Value::Null;
    event["queryStringParameters"] = json!({ "name": "Ada", "city": "London" });
    assert_answer(&event, 200, r#"{"greeting":"Good day, Ada of London."}"#).await;
}

#[tokio::test]
async fn empty_query_values_are_absent() {
    let mut event = event(SEED_GET);
    set_query(&mut event, "name", &[""]);
    set_query(&mut event, "city", &[""]);
    assert_answer(&event, 200, r#"{"greeting":"Good day, you of World."}"#).await;
}

#[tokio::test]
async fn unicode_query_values() {
    let mut event = event(SEED_GET);
    set_query(&mut event, "name", &["Zoë"]);
    set_query(&mut event, "city", &["São Paulo"]);
    assert_answer(&event, 200, r#"{"greeting":"Good day, Zoë of São Paulo."}"#).await;
}

#[tokio::test]
async fn values_are_escaped_as_json() {
    let mut event = event(SEED_GET);
    set_query(&mut event, "name", &["\"Bobby\" \\ Tables"]);
    set_query(&mut event, "city", &["line\nbreak"]);
    assert_answer(&event, 200, r#"{"greeting":"Good day, \"Bobby\" \\ Tables of line\nbreak."}"#).await;
}

// The `day` header.

#[tokio::test]
async fn day_header_name_is_case_insensitive() {
    for name in ["day", "Day", "DAY", "dAy"] {
        let mut event = event(SEED_POST);
        set_header(&mut event, name, &["Friday"]);
        assert_eq!(
            answer(request(&event)).await,
            (200, r#"{"greeting":"Good evening, John of Seattle. Happy Friday!"}"#.to_owned()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn no_day_header_no_wish() {
    let mut event = event(SEED_POST);
    for map in ["headers", "multiValueHeaders"] {
        event[map].as_object_mut().expect("headers are a map").remove("day");
    }
    assert_answer(&event, 200, r#"{"greeting":"Good evening, John of Seattle."}"#).await;
}

#[tokio::test]
async fn empty_day_header_no_wish() {
    let mut event = event(SEED_POST);
    set_header(&mut event, "day", &[""]);
    assert_answer(&event, 200, r#"{"greeting":"Good evening, John of Seattle."}"#).await;
}

#[tokio::test]
async fn repeated_day_header_last_value_wins() {
    let mut event = event(SEED_POST);
    set_header(&mut event, "day", &["Monday", "Tuesday"]);
    assert_answer(&event, 200, r#"{"greeting":"Good evening, John of Seattle. Happy Tuesday!"}"#).await;
}

#[tokio::test]
async fn repeated_day_header_only_in_the_multi_value_map_last_value_wins() {
    let mut event = event(SEED_POST);
    set_header(&mut event, "day", &["Monday", "Tuesday"]);
    event["headers"].as_object_mut().expect("headers are a map").remove("day");
    assert_answer(&event, 200, r#"{"greeting":"Good evening, John of Seattle. Happy Tuesday!"}"#).await;
}

#[tokio::test]
async fn utf8_day_header() {
    let mut event = event(SEED_POST);
    set_header(&mut event, "day", &["Sábado 🎉"]);
    assert_answer(&event, 200, r#"{"greeting":"Good evening, John of Seattle. Happy Sábado 🎉!"}"#).await;
}

#[tokio::test]
async fn day_header_not_utf8() {
    // Latin-1 `ü`: a byte HTTP allows in a header value but that is no UTF-8.
    let mut request = request(&event(SEED_POST));
    request.headers_mut().insert("day", HeaderValue::from_bytes(b"Th\xFCrsday").expect("obs-text is allowed"));
    assert_eq!(answer(request).await, (400, r#"{"message":"header `day` is not valid UTF-8"}"#.to_owned()));
}

// The body.

#[tokio::test]
async fn null_body_is_no_time() {
    let mut event = event(SEED_POST);
    set_body(&mut event, None);
    assert_answer(&event, 200, r#"{"greeting":"Good day, John of Seattle. Happy Thursday!"}"#).await;
}

#[tokio::test]
async fn empty_body_is_no_time() {
    let mut event = event(SEED_POST);
    set_body(&mut event, Some(""));
    assert_answer(&event, 200, r#"{"greeting":"Good day, John of Seattle. Happy Thursday!"}"#).await;
}

#[tokio::test]
async fn empty_base64_body_is_no_time() {
    let mut event = event(SEED_POST);
    set_base64_body(&mut event, b"");
    assert_answer(&event, 200, r#"{"greeting":"Good day, John of Seattle. Happy Thursday!"}"#).await;
}

#[tokio::test]
async fn object_without_time_is_no_time() {
    let mut event = event(SEED_POST);
    set_body(&mut event, Some(r#"{"name":"Eve","city":"Lyon","day":"Monday"}"#));
    assert_answer(&event, 200, r#"{"greeting":"Good day, John of Seattle. Happy Thursday!"}"#).await;
}

#[tokio::test]
async fn null_time_is_no_time() {
    let mut event = event(SEED_POST);
    set_body(&mut event, Some(r#"{"time":null}"#));
    assert_answer(&event, 200, r#"{"greeting":"Good day, John of Seattle. Happy Thursday!"}"#).await;
}

#[tokio::test]
async fn empty_time_is_no_time() {
    let mut event = event(SEED_POST);
    set_body(&mut event, Some(r#"{"time":""}"#));
    assert_answer(&event, 200, r#"{"greeting":"Good day, John of Seattle. Happy Thursday!"}"#).await;
}

#[tokio::test]
async fn unicode_time_with_escapes() {
    let mut event = event(SEED_POST);
    set_body(&mut event, Some(r#"{"time":"\u00e9t\u00e9 \ud83c\udf05"}"#));
    assert_answer(&event, 200, r#"{"greeting":"Good été 🌅, John of Seattle. Happy Thursday!"}"#).await;
}

#[tokio::test]
async fn base64_body() {
    let mut event = event(SEED_POST);
    set_base64_body(&mut event, br#"{"time":"morning"}"#);
    assert_answer(&event, 200, r#"{"greeting":"Good morning, John of Seattle. Happy Thursday!"}"#).await;
}

#[tokio::test]
async fn base64_body_not_utf8() {
    let mut event = event(SEED_POST);
    set_base64_body(&mut event, b"{\"time\":\"\xFF\xFE\"}");
    assert_bad_request(&event, "request body is not valid UTF-8").await;
}

#[tokio::test]
async fn body_not_json() {
    for (body, message) in [
        ("evening", "request body is not valid JSON: expected value at line 1 column 1"),
        (" ", "request body is not valid JSON: EOF while parsing a value at line 1 column 1"),
        (r#"{ "time": "#, "request body is not valid JSON: EOF while parsing a value at line 1 column 10"),
        ("{ \"time\": \"evening\" }\n}", "request body is not valid JSON: trailing characters at line 2 column 1"),
        ("{'time': 'evening'}", "request body is not valid JSON: key must be a string at line 1 column 2"),
    ] {
        let mut event = event(SEED_POST);
        set_body(&mut event, Some(body));
        assert_eq!(answer(request(&event)).await, (400, json!({ "message": message }).to_string()), "{body:?}");
    }
}

#[tokio::test]
async fn body_not_a_json_object() {
    for (body, message) in [
        ("null", "request body must be a JSON object, not null"),
        ("true", "request body must be a JSON object, not a boolean"),
        ("42", "request body must be a JSON object, not a number"),
        (r#""evening""#, "request body must be a JSON object, not a string"),
        (r#"[{"time":"evening"}]"#, "request body must be a JSON object, not an array"),
    ] {
        let mut event = event(SEED_POST);
        set_body(&mut event, Some(body));
        assert_eq!(answer(request(&event)).await, (400, json!({ "message": message }).to_string()), "{body:?}");
    }
}

#[tokio::test]
async fn time_not_a_string() {
    for (body, message) in [
        (r#"{"time":false}"#, "body field `time` must be a string, not a boolean"),
        (r#"{"time":18}"#, "body field `time` must be a string, not a number"),
        (r#"{"time":["evening"]}"#, "body field `time` must be a string, not an array"),
        (r#"{"time":{"of":"day"}}"#, "body field `time` must be a string, not an object"),
    ] {
        let mut event = event(SEED_POST);
        set_body(&mut event, Some(body));
        assert_eq!(answer(request(&event)).await, (400, json!({ "message": message }).to_string()), "{body:?}");
    }
}

// Length limits: counted in characters, so multi-byte text gets the same allowance as ASCII.

fn chars(n: usize) -> String {
    "ß".repeat(n)
}

#[tokio::test]
async fn name_at_and_over_the_limit() {
    let mut event = event(SEED_GET);
    set_query(&mut event, "name", &[&chars(MAX_VALUE_CHARS)]);
    let greeting = format!("Good day, {} of Seattle.", chars(256));
    assert_answer(&event, 200, &json!({ "greeting": greeting }).to_string()).await;

    set_query(&mut event, "name", &[&chars(MAX_VALUE_CHARS + 1)]);
    assert_bad_request(&event, "query parameter `name` is longer than 256 characters").await;
}

#[tokio::test]
async fn city_at_and_over_the_limit() {
    let mut event = event(SEED_GET);
    set_query(&mut event, "city", &[&chars(MAX_VALUE_CHARS)]);
    let greeting = format!("Good day, John of {}.", chars(256));
    assert_answer(&event, 200, &json!({ "greeting": greeting }).to_string()).await;

    set_query(&mut event, "city", &[&chars(MAX_VALUE_CHARS + 1)]);
    assert_bad_request(&event, "query parameter `city` is longer than 256 characters").await;
}

#[tokio::test]
async fn day_at_and_over_the_limit() {
    let mut event = event(SEED_POST);
    set_header(&mut event, "day", &[&chars(MAX_VALUE_CHARS)]);
    let greeting = format!("Good evening, John of Seattle. Happy {}!", chars(256));
    assert_answer(&event, 200, &json!({ "greeting": greeting }).to_string()).await;

    set_header(&mut event, "day", &[&chars(MAX_VALUE_CHARS + 1)]);
    assert_bad_request(&event, "header `day` is longer than 256 characters").await;
}

#[tokio::test]
async fn time_at_and_over_the_limit() {
    let mut event = event(SEED_POST);
    set_body(&mut event, Some(&json!({ "time": chars(MAX_VALUE_CHARS) }).to_string()));
    let greeting = format!("Good {}, John of Seattle. Happy Thursday!", chars(256));
    assert_answer(&event, 200, &json!({ "greeting": greeting }).to_string()).await;

    set_body(&mut event, Some(&json!({ "time": chars(MAX_VALUE_CHARS + 1) }).to_string()));
    assert_bad_request(&event, "body field `time` is longer than 256 characters").await;
}

#[tokio::test]
async fn only_the_winning_value_of_a_repeated_parameter_is_checked() {
    let mut event = event(SEED_GET);
    set_query(&mut event, "name", &[&chars(MAX_VALUE_CHARS + 1), "John"]);
    assert_answer(&event, 200, r#"{"greeting":"Good day, John of Seattle."}"#).await;
}

#[tokio::test]
async fn only_the_first_problem_is_reported_query_then_header_then_body() {
    let mut event = event(SEED_POST);
    set_query(&mut event, "city", &[&chars(MAX_VALUE_CHARS + 1)]);
    set_header(&mut event, "day", &[&chars(MAX_VALUE_CHARS + 1)]);
    set_body(&mut event, Some("evening"));
    assert_bad_request(&event, "query parameter `city` is longer than 256 characters").await;

    set_query(&mut event, "city", &["Seattle"]);
    assert_bad_request(&event, "header `day` is longer than 256 characters").await;

    set_header(&mut event, "day", &["Thursday"]);
    assert_bad_request(&event, "request body is not valid JSON: expected value at line 1 column 1").await;
}
