//! The Invoke-client back end against a stand-in for the Runtime Interface Emulator's Invoke endpoint, written here
//! to the RIE's documented behaviour: 200 with the output, 200 with `{errorMessage, errorType}` for a function error,
//! one invocation at a time.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use apigw_local::http1::{Connection, Limits, Response};
use common::{Gateway, client, json, send};
use futures::future::join_all;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const INVOCATIONS: &str = "/2015-03-31/functions/function/invocations";

const LIMITS: Limits = Limits {
    max_head: 64 * 1024,
    max_body: 16 * 1024 * 1024,
    head_timeout: Duration::from_secs(10),
    body_timeout: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(60),
};

/// What the emulator stand-in saw of each invoke.
struct Seen {
    invocation_type: Option<String>,
    event: Value,
}

/// Starts the stand-in on a free port; behaviour per event is chosen by the request's `act` query parameter.
async fn emulator() -> (String, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{INVOCATIONS}", listener.local_addr().unwrap());
    let (seen, received) = mpsc::unbounded_channel();
    let busy = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (seen, busy) = (seen.clone(), busy.clone());
            tokio::spawn(async move {
                let mut connection = Connection::new(stream);
                while let Ok(request) = connection.read_request(&LIMITS).await {
                    let event: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                    let _ = seen.send(Seen {
                        invocation_type: request.header("X-Amz-Invocation-Type").map(str::to_string),
                        event: event.clone(),
                    });
                    let response = if request.path() != INVOCATIONS {
                        Response::json(404, &serde_json::json!({"message": "not found"}))
                    } else {
                        invoke(&event, &busy).await
                    };
                    if connection.write_response(&response, false, request.keep_alive()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, received)
}

async fn invoke(event: &Value, busy: &AtomicUsize) -> Response {
    // The RIE refuses a second invoke while one runs.
    if busy.fetch_add(1, Ordering::SeqCst) > 0 {
        busy.fetch_sub(1, Ordering::SeqCst);
        return Response::json(
            500,
            &serde_json::json!({"errorMessage": "AlreadyReserved", "errorType": "AlreadyReserved"}),
        );
    }
    let act = event["queryStringParameters"]["act"].as_str().unwrap_or("echo");
    let response = match act {
        "error" => Response::json(200, &serde_json::json!({"errorMessage": "boom", "errorType": "Runtime.ExitError"})),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Response::json(200, &serde_json::json!({"errorMessage": "Task timed out after 2.00 seconds"}))
        }
        "slow" => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Response::json(200, &serde_json::json!({"statusCode": 200, "body": "slow"}))
        }
        "throttle" => Response::json(429, &serde_json::json!({"Type": "User", "message": "Rate Exceeded."})),
        _ => Response::json(200, &serde_json::json!({"statusCode": 200, "body": event["path"].to_string()})),
    };
    busy.fetch_sub(1, Ordering::SeqCst);
    response
}

#[tokio::test]
async fn the_event_is_invoked_synchronously_and_the_output_mapped() {
    let (url, mut seen) = emulator().await;
    let gateway = Gateway::start(&["--invoke-url", &url]);
    let (status, headers, body) = send(client().get(gateway.url("/test/helloworld?name=John"))).await;
    assert_eq!((status, body.as_str()), (200, r#""/helloworld""#));
    assert_eq!(headers["content-type"], "application/json");
    let invoke = seen.recv().await.unwrap();
    assert_eq!(invoke.invocation_type.as_deref(), Some("RequestResponse"));
    assert_eq!(invoke.event["resource"], "/helloworld");
    assert_eq!(invoke.event["queryStringParameters"]["name"], "John");
    assert_eq!(invoke.event["requestContext"]["requestId"].as_str(), headers["x-amzn-requestid"].to_str().ok());
}

#[tokio::test]
async fn an_error_payload_with_status_200_is_a_502() {
    let (url, _seen) = emulator().await;
    let gateway = Gateway::start(&["--invoke-url", &url]);
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld?act=error"))).await;
    assert_eq!((status, body.as_str()), (502, r#"{"message":"Internal server error"}"#));
    let log = gateway.stdout_until(|line| line.contains("Runtime.ExitError: boom")).join("\n");
    assert!(log.contains("Runtime.ExitError: boom"), "{log}");
}

#[tokio::test]
async fn a_hanging_endpoint_is_a_504_at_the_gateways_own_timeout() {
    let (url, _seen) = emulator().await;
    let gateway = Gateway::start(&["--invoke-url", &url, "--timeout", "300ms"]);
    let started = Instant::now();
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld?act=hang"))).await;
    assert_eq!((status, body.as_str()), (504, r#"{"message":"Endpoint request timed out"}"#));
    assert!(started.elapsed() < Duration::from_millis(1900), "did not wait for the emulator's own answer");
    // The emulator is still busy with the hung invoke; the next request waits its turn instead of being refused.
    let (status, _, _) = send(client().get(gateway.url("/test/helloworld?act=slow"))).await;
    assert_eq!(status, 504, "queued behind the hung invoke past its own timeout");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld?act=slow"))).await;
    assert_eq!((status, body.as_str()), (200, "slow"));
}

#[tokio::test]
async fn concurrent_requests_take_turns_at_the_single_invoke_endpoint() {
    let (url, _seen) = emulator().await;
    let gateway = Gateway::start(&["--invoke-url", &url]);
    let client = client();
    let requests = (0..5).map(|_| send(client.get(gateway.url("/test/helloworld?act=slow"))));
    for (status, _, body) in join_all(requests).await {
        assert_eq!((status, body.as_str()), (200, "slow"), "none refused as a concurrent invoke");
    }
}

#[tokio::test]
async fn an_invoke_the_service_refuses_is_a_500() {
    let (url, _seen) = emulator().await;
    let gateway = Gateway::start(&["--invoke-url", &url]);
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld?act=throttle"))).await;
    assert_eq!((status, json(&body)["message"].as_str()), (500, Some("Internal server error")));

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let unreachable = format!("http://{}{INVOCATIONS}", closed.local_addr().unwrap());
    drop(closed);
    let gateway = Gateway::start(&["--invoke-url", &unreachable]);
    let (status, _, body) = send(client().get(gateway.url("/test/helloworld"))).await;
    assert_eq!((status, body.as_str()), (500, r#"{"message":"Internal server error"}"#));
}
