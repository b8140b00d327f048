//! apigw-local with the Runtime API host and real `bootstrap` processes, driven over HTTP like the tutorial's curl.

mod common;

use std::collections::HashSet;

use common::{Gateway, bootstrap, client, json, send};
use futures::future::join_all;

const SEED_QUERY: &str = "/test/helloworld?name=John&city=Seattle";

fn tutorial() -> Gateway {
    Gateway::start(&["--function", bootstrap().to_str().unwrap()])
}

#[tokio::test]
async fn the_seed_curl_gets_the_tutorials_greeting() {
    let gateway = tutorial();
    let (status, headers, body) = send(
        client()
            .post(gateway.url(SEED_QUERY))
            .header("content-type", "application/json")
            .header("day", "Thursday")
            .body(r#"{ "time": "evening" }"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"greeting":"Good evening, John of Seattle. Happy Thursday!"}"#);
    assert_eq!(headers["content-type"], "application/json");
    for name in ["x-amzn-requestid", "x-amz-apigw-id", "x-amzn-trace-id"] {
        assert!(headers.contains_key(name), "missing {name}");
    }
}

#[tokio::test]
async fn the_seed_browser_get_gets_the_default_time() {
    let gateway = tutorial();
    let (status, _, body) = send(client().get(gateway.url(SEED_QUERY))).await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"greeting":"Good day, John of Seattle."}"#);
}

#[tokio::test]
async fn every_method_of_any_reaches_the_function() {
    let gateway = tutorial();
    for method in ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"] {
        let request =
            client().request(method.parse().unwrap(), gateway.url("/test/helloworld")).header("DAY", "Friday");
        let (status, _, body) = send(request).await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"greeting":"Good day, you of World. Happy Friday!"}"#),
            "{method}"
        );
    }
    let (status, headers, body) = send(client().head(gateway.url("/test/helloworld"))).await;
    assert_eq!(status, 200);
    assert_eq!(body, "", "HEAD carries no body");
    let announced: usize = headers["content-length"].to_str().unwrap().parse().unwrap();
    assert_eq!(announced, r#"{"greeting":"Good day, you of World."}"#.len());
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_problem() {
    let gateway = tutorial();
    let long = "x".repeat(257);
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (client().post(gateway.url("/test/helloworld")).body("{ not json"), "JSON"),
        (client().post(gateway.url("/test/helloworld")).body("[1, 2]"), "object"),
        (client().post(gateway.url("/test/helloworld")).body(r#"{"time": 7}"#), "time"),
        (client().get(gateway.url(&format!("/test/helloworld?name={long}"))), "name"),
        (client().get(gateway.url("/test/helloworld")).header("day", long.as_str()), "day"),
        (client().post(gateway.url("/test/helloworld")).body(vec![b'{', 0xff, 0xfe, b'}']), "UTF-8"),
    ];
    for (request, named) in cases {
        let (status, headers, body) = send(request).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(headers["content-type"], "application/json");
        let message = json(&body)["message"].as_str().unwrap().to_string();
        assert!(message.contains(named), "{message:?} should name {named:?}");
    }
}

#[tokio::test]
async fn what_the_api_does_not_define_is_missing_authentication_token() {
    let gateway = tutorial();
    for path in ["/test/other", "/prod/helloworld", "/helloworld", "/test/helloworld/more", "/"] {
        let (status, headers, body) = send(client().get(gateway.url(path))).await;
        assert_eq!((status, body.as_str()), (403, r#"{"message":"Missing Authentication Token"}"#), "{path}");
        assert_eq!(headers["x-amzn-errortype"], "MissingAuthenticationTokenException");
        assert!(headers.contains_key("x-amzn-requestid"));
    }
    let (status, _, _) = send(client().request("TRACE".parse().unwrap(), gateway.url("/test/helloworld"))).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn twenty_concurrent_requests_on_four_environments_are_all_answered() {
    let gateway = Gateway::start(&["--function", bootstrap().to_str().unwrap(), "--concurrency", "4"]);
    let client = client();
    let requests = (0..20).map(|i| {
        let request = client.get(gateway.url(&format!("/test/helloworld?name=n{i}")));
        async move { (i, send(request).await) }
    });
    for (i, (status, _, body)) in join_all(requests).await {
        assert_eq!(status, 200);
        assert_eq!(body, format!(r#"{{"greeting":"Good day, n{i} of World."}}"#));
    }
}

#[tokio::test]
async fn requests_share_the_environments_fairly() {
    let gateway = Gateway::start(&["--function", common::scripted_function().to_str().unwrap(), "--concurrency", "4"]);
    let client = client();
    // Each invocation takes 300 ms, so twenty of them can only finish by spreading over all four processes.
    let requests = (0..20).map(|_| send(client.get(gateway.url("/test/helloworld?act=sleep&seconds=0.3"))));
    let mut pids = HashSet::new();
    for (status, _, body) in join_all(requests).await {
        assert_eq!(status, 200, "{body}");
        pids.insert(json(&body)["pid"].as_u64().unwrap());
    }
    assert_eq!(pids.len(), 4, "all four environments served: {pids:?}");
}
