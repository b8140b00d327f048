//! CloudWatch metrics from the function's log, end to end: apigw-local runs the real `bootstrap`, requests of several
//! methods and statuses go through it, and the EMF lines the function writes to its stdout (which apigw-local passes on
//! to its own) are checked against the EMF specification (lambda-otel/tests/emf_spec: AWS's schema and the rules of
//! the text) and counted. The names they carry are pinned by tests/fixtures/emf-metrics.json, which the CloudWatch
//! dashboard is checked against. The spans go to an OTLP receiver meanwhile, which shows whether metrics went there too.

mod common;
#[path = "../../lambda-otel/tests/emf_spec/mod.rs"]
mod emf_spec;
#[path = "common/otlp.rs"]
mod otlp;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Gateway, bootstrap, client, send};
use futures::future::join_all;
use otlp::{Receiver, Span, SpanKind};
use serde_json::{Value, json};

/// The names every EMF line must carry: what a real run emits, and what the dashboard reads.
const FIXTURE: &str = include_str!("../../tests/fixtures/emf-metrics.json");
/// apigw-local's default function name: the function's service name, hence its `Service` dimension.
const FUNCTION_NAME: &str = "GetStartedLambdaProxyIntegration";
const NAMESPACE: &str = "emf-lines-test";
const QUERY: &str = "/test/helloworld?name=John&city=Seattle";
const ARRIVAL: Duration = Duration::from_secs(20);
const TEST_LIMIT: Duration = Duration::from_secs(120);

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, test).await.expect("the test ran past its time limit")
}

/// apigw-local running `bootstrap` on `concurrency` environments, with `function_env` for the function, and its spans
/// going to `receiver` through the variables in `env` (apigw-local passes its environment on to the function).
fn gateway(concurrency: usize, function_env: &[&str], env: &[(String, String)]) -> Gateway {
    let (bootstrap, concurrency) = (bootstrap(), concurrency.to_string());
    let mut args = vec!["--function", bootstrap.to_str().unwrap(), "--concurrency", &concurrency];
    args.extend(function_env.iter().flat_map(|variable| ["--function-env", *variable]));
    let mut env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
    // Spans are exported after every invocation, under a generous deadline: this test counts metrics, not time.
    env.extend([("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "5000"), ("LAMBDA_OTEL_EXPORT_INTERVAL_MS", "0")]);
    Gateway::start_with_env(&args, &env)
}

#[derive(Debug, Clone, Copy)]
enum Request {
    Get,
    Post,
    /// A body that is not JSON: the handler answers 400.
    BadPost,
}

impl Request {
    fn method(self) -> &'static str {
        match self {
            Request::Get => "GET",
            Request::Post | Request::BadPost => "POST",
        }
    }

    /// Sends it; returns its status.
    async fn send(self, gateway: &Gateway) -> u16 {
        let url = gateway.url(QUERY);
        let request = match self {
            Request::Get => client().get(url),
            Request::Post => {
                client().post(url).header("content-type", "application/json").body(r#"{"time":"evening"}"#)
            }
            Request::BadPost => client().post(url).header("content-type", "application/json").body("{ not json"),
        };
        let (status, _, body) = send(request).await;
        let expected = if matches!(self, Request::BadPost) { 400 } else { 200 };
        assert_eq!(status, expected, "{self:?}: {body}");
        status
    }
}

/// The EMF lines among apigw-local's stdout lines (beside the access log and the function's log lines), each checked
/// against the specification.
fn emf_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter(|line| line.contains(r#""_aws""#))
        .map(|line| {
            let violations = emf_spec::violations(line);
            assert!(violations.is_empty(), "not valid EMF: {line}\n{violations:#?}");
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

/// What a line says its metrics are, without the namespace: the fixture's form.
fn names(line: &Value) -> Value {
    let directives: Vec<Value> = line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|directive| {
            let metrics: Vec<Value> = directive["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|metric| json!({"name": metric["Name"], "unit": metric["Unit"]}))
                .collect();
            json!({"dimensions": directive["Dimensions"], "metrics": metrics})
        })
        .collect();
    json!({ "directives": directives })
}

fn sum(lines: &[Value], name: &str) -> u64 {
    lines.iter().map(|line| line[name].as_u64().unwrap_or_else(|| panic!("{name} in {line}"))).sum()
}

fn is_function_server(span: &Span) -> bool {
    span.service() == FUNCTION_NAME && span.kind == SpanKind::Server
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emf_lines_count_every_request_by_method_and_status_class_and_carry_the_pinned_names() {
    bounded(async {
        let started_ms = now_ms();
        let receiver = Receiver::http().await;
        let namespace = format!("LAMBDA_OTEL_EMF_NAMESPACE={NAMESPACE}");
        let mut gateway = gateway(2, &["OTEL_METRICS_EXPORTER=emf", &namespace], &receiver.env());

        // Two at a time on two environments; the default pacing (a line per group and second at most), so that the
        // lines still waiting at the end go out at SHUTDOWN.
        let requests = [Request::Get, Request::Post, Request::BadPost, Request::Post, Request::Get, Request::BadPost];
        let mut sent: BTreeMap<(String, String), u64> = BTreeMap::new();
        for pair in requests.chunks(2) {
            for (request, status) in join_all(pair.iter().map(|&request| {
                let gateway = &gateway;
                async move { (request, request.send(gateway).await) }
            }))
            .await
            {
                *sent.entry((request.method().to_string(), format!("{}xx", status / 100))).or_default() += 1;
            }
        }
        let received =
            receiver.wait_for_spans("the function's SERVER spans", requests.len(), ARRIVAL, is_function_server).await;
        // The environments that served a request, told apart by faas.instance (each has its own log stream).
        let environments: BTreeSet<String> = received
            .spans
            .iter()
            .filter(|span| is_function_server(span))
            .filter_map(|span| Some(span.resource.get("faas.instance")?.as_str()?.to_string()))
            .collect();
        assert!(!environments.is_empty());

        let lines = emf_lines(&gateway.terminate().1);
        assert!(!lines.is_empty(), "no EMF line on apigw-local's stdout");

        // Every request counted once, in its method's and status class's group, its duration with it.
        let mut counted: BTreeMap<(String, String), u64> = BTreeMap::new();
        for line in &lines {
            let key = (line["Method"].as_str().unwrap().to_string(), line["StatusClass"].as_str().unwrap().to_string());
            let durations = line["Duration"].as_array().unwrap();
            assert_eq!(line["Requests"].as_u64(), Some(durations.len() as u64), "{line}");
            assert!(durations.iter().all(|duration| duration.as_f64().is_some_and(|ms| ms > 0.0)), "{line}");
            *counted.entry(key).or_default() += line["Requests"].as_u64().unwrap();
            let timestamp = line["_aws"]["Timestamp"].as_u64().unwrap();
            assert!((started_ms..=now_ms()).contains(&timestamp), "the first recording's time: {line}");
            assert_eq!(line["Service"], FUNCTION_NAME);
            for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                assert_eq!(directive["Namespace"], NAMESPACE);
            }
        }
        assert_eq!(counted, sent, "requests by (Method, StatusClass)");
        assert_eq!(sum(&lines, "Errors"), 0, "a 400 is the client's error, not the function's");
        assert_eq!(sum(&lines, "ColdStarts"), environments.len() as u64, "one per environment: {environments:?}");

        // The names, exactly as the fixture pins them.
        let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
        let emitted: BTreeSet<String> = lines.iter().map(|line| names(line).to_string()).collect();
        assert_eq!(emitted, BTreeSet::from([fixture.to_string()]), "tests/fixtures/emf-metrics.json");

        // emf alone: no OTLP metrics pipeline, so no metrics export, not even the one at SHUTDOWN (the gateway's own
        // metrics do go there).
        let received = receiver.received();
        let exported = received.metrics.iter().filter(|metric| metric.service() == FUNCTION_NAME).count();
        assert_eq!(exported, 0, "{}", received.summary());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_otlp_and_emf_the_metrics_go_both_ways() {
    bounded(async {
        let receiver = Receiver::http().await;
        // Through apigw-local's environment, which its functions inherit: `--function-env` takes a comma as the
        // separator of its variables.
        let mut env = receiver.env();
        env.push(("OTEL_METRICS_EXPORTER".to_string(), "otlp,emf".to_string()));
        let gateway = gateway(1, &["LAMBDA_OTEL_METRICS_INTERVAL_MS=0"], &env);
        Request::Get.send(&gateway).await;
        receiver
            .wait_until("the request's duration over OTLP", ARRIVAL, |received| {
                let counts =
                    received.histogram_counts_by(FUNCTION_NAME, "http.server.request.duration", "http.request.method");
                counts.get("GET") == Some(&1)
            })
            .await;
        // Written right after the invocation: every invocation's with an interval of 0.
        let lines = emf_lines(&gateway.stdout_until(|line| line.contains(r#""_aws""#)));
        let [line] = &lines[..] else { panic!("one EMF line: {lines:?}") };
        assert_eq!(
            (&line["Method"], &line["StatusClass"], &line["Requests"]),
            (&json!("GET"), &json!("2xx"), &json!(1))
        );
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], FUNCTION_NAME, "the service name by default");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lambda_without_an_otlp_endpoint_for_metrics_they_are_emf_lines_by_default() {
    bounded(async {
        let receiver = Receiver::http().await;
        // Only the traces have an endpoint (which also turns apigw-local's trace view off, so the function is given
        // none); apigw-local sets AWS_LAMBDA_FUNCTION_NAME, as Lambda does.
        let env = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_string(), format!("{}/v1/traces", receiver.endpoint())),
            ("OTEL_EXPORTER_OTLP_PROTOCOL".to_string(), "http/protobuf".to_string()),
        ];
        let gateway = gateway(1, &[], &env);
        Request::Post.send(&gateway).await;
        // The environment's first invocation is written at once under the default pacing.
        let lines = emf_lines(&gateway.stdout_until(|line| line.contains(r#""_aws""#)));
        let [line] = &lines[..] else { panic!("one EMF line: {lines:?}") };
        assert_eq!((&line["Method"], &line["ColdStarts"]), (&json!("POST"), &json!(1)));
        // The spans still go over OTLP.
        receiver.wait_for_spans("the function's SERVER span", 1, ARRIVAL, is_function_server).await;
    })
    .await;
}
