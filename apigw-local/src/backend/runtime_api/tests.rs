//! The Extensions API and Lambda's shutdown phase, through a host running a shell script as its function.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep};

use super::api::EXTENSION_ID;
use super::process::SHUTDOWN_BUDGET;
use super::*;

/// A "function" that only writes its Runtime API address next to itself, and on SIGTERM writes `SIGTERM` there too;
/// the test drives the Extensions API in its place.
const SCRIPT: &str = r#"#!/bin/sh
trap 'echo SIGTERM >> "$0.log"; kill $! 2>/dev/null; exit 0' TERM
echo "$AWS_LAMBDA_RUNTIME_API" > "$0.api.tmp" && mv "$0.api.tmp" "$0.api"
while :; do
    sleep 1 </dev/null >/dev/null 2>&1 &
    wait $!
done
"#;

struct Script {
    directory: PathBuf,
    path: PathBuf,
}

impl Script {
    fn new() -> Self {
        let directory = std::env::temp_dir().join(format!("apigw-local-extensions-{}", crate::random::uuid_v4()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("function");
        std::fs::write(&path, SCRIPT).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { directory, path }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        self.path.with_file_name(format!("function{suffix}"))
    }

    async fn runtime_api(&self) -> String {
        let api = self.sibling(".api");
        for _ in 0..200 {
            if let Ok(address) = std::fs::read_to_string(&api) {
                return address.trim().to_string();
            }
            sleep(Duration::from_millis(25)).await;
        }
        panic!("the function did not start");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.sibling(".log")).unwrap_or_default()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

async fn host(script: &Path) -> RuntimeApiHost {
    let config = FunctionConfig {
        executable: script.to_path_buf(),
        name: "Extended".into(),
        memory_mb: 128,
        region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        environment: Vec::new(),
    };
    RuntimeApiHost::start(config, 1).await.unwrap()
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection; `None` when the host hung up without answering.
async fn call(api: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Option<Answer> {
    let mut stream = TcpStream::connect(api).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines.filter_map(|line| line.split_once(": ")).map(|(n, v)| (n.into(), v.into())).collect();
    Some(Answer { status, headers, body: serde_json::from_str(body).unwrap_or_default() })
}

async fn register(api: &str, events: &str) -> Answer {
    let headers = [("Lambda-Extension-Name", "test-extension")];
    call(api, "POST", "/2020-01-01/extension/register", &headers, events).await.expect("an answer")
}

async fn next_event(api: &str, extension_id: Option<&str>) -> Option<Answer> {
    let headers: Vec<(&str, &str)> = extension_id.map(|id| (EXTENSION_ID, id)).into_iter().collect();
    call(api, "GET", "/2020-01-01/extension/event/next", &headers, "").await
}

#[tokio::test]
async fn extensions_register_and_only_shutdown_subscribers_get_shutdown_then_sigterm_follows() {
    let script = Script::new();
    let host = host(&script.path).await;
    let api = script.runtime_api().await;

    let subscribed = register(&api, r#"{"events":["SHUTDOWN"]}"#).await;
    assert_eq!(subscribed.status, 200);
    let id = subscribed.header(EXTENSION_ID).expect("an identifier").to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let expected = serde_json::json!({"functionName": "Extended", "functionVersion": "$LATEST", "handler": "function"});
    assert_eq!(subscribed.body, expected);
    let silent = register(&api, r#"{"events":[]}"#).await;
    let silent_id = silent.header(EXTENSION_ID).unwrap().to_string();
    assert_ne!(silent_id, id);

    assert_eq!(next_event(&api, None).await.unwrap().status, 403);
    assert_eq!(next_event(&api, Some("not-registered")).await.unwrap().status, 403);

    let shutdown_event = tokio::spawn({
        let api = api.clone();
        async move { next_event(&api, Some(&id)).await }
    });
    let pending = tokio::spawn({
        let api = api.clone();
        async move { next_event(&api, Some(&silent_id)).await }
    });
    sleep(Duration::from_millis(200)).await;
    assert!(!shutdown_event.is_finished(), "event/next answers only at shutdown");

    let stopping = Instant::now();
    host.shutdown().await;
    let took = stopping.elapsed();
    let event = shutdown_event.await.unwrap().expect("the SHUTDOWN event");
    assert_eq!(
        (event.status, &event.body["eventType"], &event.body["shutdownReason"]),
        (200, &"SHUTDOWN".into(), &"spindown".into())
    );
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let deadline_ms = event.body["deadlineMs"].as_i64().unwrap();
    assert!((now_ms - 1_000..=now_ms + 500).contains(&deadline_ms), "deadline {deadline_ms}, now {now_ms}");
    assert!(event.header("Lambda-Extension-Event-Identifier").is_some());
    assert!(pending.await.unwrap().is_none(), "no event for an extension that subscribed to none");
    assert_eq!(script.log(), "SIGTERM\n", "the process got SIGTERM");
    assert!(took < SHUTDOWN_BUDGET, "it exited on SIGTERM, no need to wait for the budget: {took:?}");
}

#[tokio::test]
async fn without_extensions_the_process_is_killed_without_sigterm() {
    let script = Script::new();
    let host = host(&script.path).await;
    script.runtime_api().await;
    host.shutdown().await;
    assert_eq!(script.log(), "", "Lambda sends SIGTERM only to a function with extensions");
}

#[tokio::test]
async fn registrations_that_cannot_be_served_are_refused() {
    let script = Script::new();
    let _host = host(&script.path).await;
    let api = script.runtime_api().await;
    for body in [r#"{"events":["SHUTDOWN","PLATFORM"]}"#, r#"{"events":["LOGS"]}"#, "not json"] {
        let refused = register(&api, body).await;
        assert_eq!(refused.status, 400, "{body}");
        assert!(refused.header(EXTENSION_ID).is_none());
    }
    let unnamed = call(&api, "POST", "/2020-01-01/extension/register", &[], "{}").await.unwrap();
    assert_eq!(unnamed.status, 400);
    assert_eq!(register(&api, "{}").await.status, 200, "no events at all is fine: it only asks for SIGTERM");
}

const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

#[tokio::test]
async fn an_invoke_subscriber_gets_each_invoke_and_holds_the_next_until_it_is_back() {
    let script = Script::new();
    let host = Arc::new(host(&script.path).await);
    let api = script.runtime_api().await;
    let id = register(&api, r#"{"events":["INVOKE"]}"#).await.header(EXTENSION_ID).unwrap().to_string();

    // The test plays the runtime.
    let runtime_next = tokio::spawn({
        let api = api.clone();
        async move { call(&api, "GET", "/2018-06-01/runtime/invocation/next", &[], "").await }
    });
    let invocation = Invocation {
        request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
        trace_header: TRACE.into(),
        payload: b"{}".to_vec(),
        deadline: Instant::now() + Duration::from_secs(10),
        deadline_wall: SystemTime::now() + Duration::from_secs(10),
    };
    let invoked = tokio::spawn({
        let host = host.clone();
        async move { host.invoke(invocation).await }
    });
    sleep(Duration::from_millis(200)).await;
    assert!(!runtime_next.is_finished(), "the event waits for the extension to be back in event/next");

    let event = next_event(&api, Some(&id)).await.expect("the INVOKE event");
    assert_eq!(event.body["eventType"], "INVOKE");
    assert_eq!(event.body["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
    assert_eq!(event.body["invokedFunctionArn"], "arn:aws:lambda:eu-west-1:123456789012:function:Extended");
    assert_eq!(event.body["tracing"], serde_json::json!({"type": "X-Amzn-Trace-Id", "value": TRACE}));
    let runtime_event = runtime_next.await.unwrap().expect("the runtime's event");
    assert_eq!(runtime_event.header("Lambda-Runtime-Aws-Request-Id"), Some("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));

    let path = "/2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response";
    assert_eq!(call(&api, "POST", path, &[], r#"{"statusCode":200}"#).await.unwrap().status, 202);
    assert_eq!(invoked.await.unwrap(), Ok(br#"{"statusCode":200}"#.to_vec()));
    host.shutdown().await;
    assert_eq!(script.log(), "SIGTERM\n");
}

#[test]
fn the_gateways_service_name_is_taken_out_of_the_functions_resource_attributes() {
    use super::environment::without_service_name;
    assert_eq!(without_service_name("service.name=gw,team=greeting, service.name = x,k=v"), "team=greeting,k=v");
    assert_eq!(without_service_name("team=greeting"), "team=greeting");
    assert_eq!(without_service_name(""), "");
}
