//! The function's `tests/fixtures/apigw-local-*.json` are events apigw-local really sends: each test sends one request
//! through a real apigw-local, catches the event at an Invoke endpoint, normalizes the fields that change from run to
//! run, and compares the pretty-printed result with the committed file, byte for byte.
//!
//! With `UPDATE_FIXTURES=1` in the environment the tests write the files instead of comparing them:
//! `UPDATE_FIXTURES=1 cargo nextest run -p apigw-local --test fixtures_from_apigw_local`, then review the diff.

mod common;

use std::path::PathBuf;

use common::{catch_event, catch_raw_event, client};
use serde_json::{Value, json};

/// What a volatile string field or header value becomes.
const NORMALIZED: &str = "normalized";

/// `requestContext` fields that differ on every request or every start of apigw-local (`domainName` and
/// `domainPrefix` come from the `Host` header, which names a free port).
const VOLATILE_CONTEXT: [&str; 7] =
    ["requestId", "extendedRequestId", "requestTime", "apiId", "deploymentId", "domainName", "domainPrefix"];

/// Headers whose values differ on every run (a free port, a fresh trace id); names compared case-insensitively.
const VOLATILE_HEADERS: [&str; 3] = ["Host", "X-Amzn-Trace-Id", "X-Forwarded-Port"];

const SEED_QUERY: &str = "/test/helloworld?name=John&city=Seattle";

/// The tutorial's curl: `POST /test/helloworld?name=John&city=Seattle`, `day: Thursday`, `{ "time": "evening" }`.
#[tokio::test]
async fn seed_post_fixture_is_what_apigw_local_sends() {
    let event = catch_event(|gateway| {
        client()
            .post(gateway.url(SEED_QUERY))
            .header("content-type", "application/json")
            .header("day", "Thursday")
            .body(r#"{ "time": "evening" }"#)
    })
    .await;
    check_fixture("seed-post", &event);
}

/// The tutorial's browser visit: `GET /test/helloworld?name=John&city=Seattle`, no body.
#[tokio::test]
async fn seed_get_fixture_is_what_apigw_local_sends() {
    let event = catch_event(|gateway| client().get(gateway.url(SEED_QUERY))).await;
    check_fixture("seed-get", &event);
}

/// A repeated query parameter and a `day` header in upper case, written raw: reqwest would send the name in lower case.
#[tokio::test]
async fn repeated_query_fixture_is_what_apigw_local_sends() {
    let event = catch_raw_event(
        "GET /test/helloworld?name=a&name=b HTTP/1.1\r\n\
         host: {host}\r\n\
         accept: */*\r\n\
         DAY: Friday\r\n\
         connection: close\r\n\
         \r\n",
    )
    .await;
    check_fixture("repeated-query", &event);
}

/// A `POST` without query string, headers of its own or body.
#[tokio::test]
async fn empty_body_fixture_is_what_apigw_local_sends() {
    let event = catch_event(|gateway| client().post(gateway.url("/test/helloworld")).body("")).await;
    check_fixture("empty-body", &event);
}

fn fixture_path(name: &str) -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("apigw-local is a member").to_path_buf();
    workspace.join(format!("tests/fixtures/apigw-local-{name}.json"))
}

/// Compares the normalized event with the committed fixture, or writes it there under `UPDATE_FIXTURES=1`.
fn check_fixture(name: &str, event: &[u8]) {
    let path = fixture_path(name);
    let mut text = serde_json::to_string_pretty(&normalize(event)).unwrap();
    text.push('\n');
    if std::env::var_os("UPDATE_FIXTURES").is_some_and(|value| value == "1") {
        std::fs::write(&path, &text).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        eprintln!("UPDATE_FIXTURES=1: wrote {}", path.display());
        return;
    }
    let regenerate = "If apigw-local's events changed on purpose, regenerate the fixtures with \
        `UPDATE_FIXTURES=1 cargo nextest run -p apigw-local --test fixtures_from_apigw_local` and review the diff \
        (the function's tests in tests/handler.rs read them).";
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}\n{regenerate}", path.display()));
    if committed != text {
        let same = committed.lines().zip(text.lines()).take_while(|(old, new)| old == new).count();
        let (old, new) = (committed.lines().nth(same).unwrap_or_default(), text.lines().nth(same).unwrap_or_default());
        panic!(
            "{} is not what apigw-local sends now; first difference at line {}:\n  committed: {old}\n  now:       {new}\n\
             --- what apigw-local sends, normalized:\n{text}\n{regenerate}",
            path.display(),
            same + 1
        );
    }
}

/// The event as JSON with the volatile fields replaced by fixed placeholders: `"normalized"`, and `0` for
/// `requestTimeEpoch`, which stays a number so that `lambda_http` still accepts the event.
fn normalize(event: &[u8]) -> Value {
    let mut event: Value = serde_json::from_slice(event).expect("apigw-local sends a JSON event");
    take_traceparent(&mut event);
    let context = event["requestContext"].as_object_mut().expect("the event has a requestContext");
    for field in VOLATILE_CONTEXT {
        // Only fields that are there: one apigw-local stopped sending must show up as a difference.
        if let Some(value) = context.get_mut(field) {
            *value = json!(NORMALIZED);
        }
    }
    if let Some(epoch) = context.get_mut("requestTimeEpoch") {
        *epoch = json!(0);
    }
    for map in ["headers", "multiValueHeaders"] {
        let Some(headers) = event[map].as_object_mut() else { continue };
        for (name, value) in headers {
            if VOLATILE_HEADERS.iter().any(|volatile| volatile.eq_ignore_ascii_case(name)) {
                *value = match value {
                    Value::Array(values) => values.iter().map(|_| json!(NORMALIZED)).collect(),
                    _ => json!(NORMALIZED),
                };
            }
        }
    }
    event
}

/// With tracing on, apigw-local adds a `traceparent` that names the same trace and caller as `X-Amzn-Trace-Id`. API
/// Gateway adds none, so it is checked here and taken out: the fixtures stay API Gateway's events.
fn take_traceparent(event: &mut Value) {
    let xray = event["headers"]["X-Amzn-Trace-Id"].as_str().unwrap_or_default().to_string();
    for map in ["headers", "multiValueHeaders"] {
        let Some(traceparent) = event[map].as_object_mut().and_then(|headers| headers.remove("traceparent")) else {
            continue;
        };
        let traceparent = traceparent.as_str().or_else(|| traceparent[0].as_str()).unwrap_or_default();
        let fields: Vec<&str> = traceparent.split('-').collect();
        let [_, trace, parent, flags] = fields[..] else { panic!("{map}: traceparent {traceparent:?}") };
        let sampled = u8::from(flags == "01");
        let expected = format!("Root=1-{}-{};Parent={parent};Sampled={sampled}", &trace[..8], &trace[8..]);
        assert_eq!(xray, expected, "{map}: traceparent {traceparent} and X-Amzn-Trace-Id name the same span");
    }
}
