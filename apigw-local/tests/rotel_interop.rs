//! Interoperability with an OTLP collector this project did not write: rotel (an OpenTelemetry collector in Rust,
//! PyPI `rotel`, installed by `make tools`), with its debug log of what it received. apigw-local and `bootstrap`
//! export the seed's curl to it over gRPC and then over HTTP/protobuf; rotel must accept both and show the spans and
//! metrics with their attributes.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Gateway, bootstrap, client, free_port, rotel_agent, send, start_rotel};

const SEED_GREETING: &str = r#"{"greeting":"Good evening, John of Seattle. Happy Thursday!"}"#;

/// rotel on two free ports, exporting to nowhere and logging what it receives in detail.
struct Rotel {
    child: Child,
    grpc: u16,
    http: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Rotel {
    fn start(agent: &Path) -> Self {
        let (grpc, http) = (free_port(), free_port());
        let pid_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rotel-{grpc}.pid"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        let child = start_rotel(agent, (grpc, http), &["traces", "metrics"], &pid_file, move |line| {
            kept.lock().unwrap().push(line)
        });
        let mut rotel = Self { child, grpc, http, lines };
        let started = Instant::now();
        for port in [grpc, http] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = rotel.child.try_wait() {
                    panic!("rotel-agent exited ({status}): {}", rotel.output(0).join("\n"));
                }
                assert!(started.elapsed() < Duration::from_secs(20), "rotel-agent did not listen on {port}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        rotel
    }

    /// rotel's output from line `from` on.
    fn output(&mut self, from: usize) -> Vec<String> {
        self.lines.lock().unwrap()[from..].to_vec()
    }

    fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Waits until rotel's output from line `from` on holds every one of `expected`; panics naming what is missing.
    async fn wait_for(&mut self, from: usize, expected: &[String], timeout: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let output = self.output(from);
            let missing: Vec<&String> =
                expected.iter().filter(|want| !output.iter().any(|line| line.contains(want.as_str()))).collect();
            if missing.is_empty() {
                return output;
            }
            if started.elapsed() > timeout {
                panic!("rotel's debug log lacks {missing:?} after {timeout:?}:\n{}", output.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the seed's curl through apigw-local + `bootstrap` exporting with `protocol` to `endpoint`, and checks what
/// rotel logged after line `from`.
async fn seed_curl_reaches_rotel(rotel: &mut Rotel, protocol: &str, endpoint: &str) {
    let from = rotel.line_count();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("LAMBDA_OTEL_FLUSH_TIMEOUT_MS", "5000"),
        // Every invocation exported, so that the few requests' telemetry can be waited for.
        ("LAMBDA_OTEL_EXPORT_INTERVAL_MS", "0"),
        ("LAMBDA_OTEL_METRICS_INTERVAL_MS", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let gateway = Gateway::start_with_env(&["--function", bootstrap().to_str().unwrap()], &env);
    let (status, headers, body) = send(
        client()
            .post(gateway.url("/test/helloworld?name=John&city=Seattle"))
            .header("content-type", "application/json")
            .header("day", "Thursday")
            .header("user-agent", "curl/8.5.0")
            .body(r#"{ "time": "evening" }"#),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, SEED_GREETING));
    let request_id = headers["x-amzn-requestid"].to_str().unwrap();
    let expected: Vec<String> = [
        // The spans, with their kinds, services and typed attributes as rotel decoded them.
        "Name           : POST /helloworld",
        "Name           : Lambda.Invoke",
        "Kind           : SPAN_KIND_SERVER",
        "Kind           : SPAN_KIND_CLIENT",
        "-> service.name: Str(apigw-local)",
        "-> service.name: Str(GetStartedLambdaProxyIntegration)",
        &format!("-> faas.invocation_id: Str({request_id})"),
        "-> http.response.status_code: Int(200)",
        "-> http.route: Str(/helloworld)",
        "-> faas.trigger: Str(http)",
        "-> faas.coldstart: Bool(true)",
        "-> user_agent.original: Str(curl/8.5.0)",
        // The metrics, with their units and attributes.
        "-> Name: http.server.request.duration",
        "-> Unit: s",
        "-> Name: faas.invocations",
        "-> Name: faas.coldstarts",
        "-> http.request.method: Str(POST)",
    ]
    .iter()
    .map(|line| line.to_string())
    .collect();
    let output = rotel.wait_for(from, &expected, Duration::from_secs(20)).await;
    eprintln!("rotel accepted the seed's curl over {protocol}: {} lines of debug log", output.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_accepts_and_shows_the_spans_and_metrics_over_grpc_and_http_protobuf() {
    let Some(agent) = rotel_agent() else {
        assert!(std::env::var("CI").is_err(), "rotel-agent is required in CI (make tools installs it)");
        eprintln!("SKIPPED: rotel-agent not installed (make tools); the rotel interoperability test did not run");
        return;
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut rotel = Rotel::start(&agent);
        let grpc = format!("http://127.0.0.1:{}", rotel.grpc);
        seed_curl_reaches_rotel(&mut rotel, "grpc", &grpc).await;
        let http = format!("http://127.0.0.1:{}", rotel.http);
        seed_curl_reaches_rotel(&mut rotel, "http/protobuf", &http).await;
    })
    .await
    .expect("the rotel test ran past its time limit");
}
