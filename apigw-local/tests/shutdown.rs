//! Stopping apigw-local (SIGTERM from a service manager, Ctrl-C in a terminal) with the Runtime API host: each
//! execution environment goes through Lambda's shutdown phase, and the gateway exports the spans it still holds.
//! functions/scripted.py records in a file what it is sent.

mod common;
#[path = "common/otlp.rs"]
mod otlp;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{client, json, scripted_function, send};
use otlp::{Mode, Protocol, Receiver, SpanKind};

/// apigw-local, started in a process group of its own (as a shell starts a job) with scripted.py.
struct Running {
    gateway: Child,
    base: String,
    /// scripted.py's SCRIPTED_SHUTDOWN_FILE.
    file: PathBuf,
}

/// What one run recorded.
struct Stopped {
    status: ExitStatus,
    /// From the signal to apigw-local's exit.
    took: Duration,
    /// The lines the function appended to its shutdown file.
    recorded: Vec<String>,
}

impl Running {
    /// Tracing is off unless `env` turns it on.
    fn start(env: &[(&str, &str)]) -> Self {
        let file = std::env::temp_dir().join(format!("apigw-local-shutdown-{}", uuid::Uuid::new_v4()));
        let mut gateway = Command::new(env!("CARGO_BIN_EXE_apigw-local"))
            .args(["--listen", "127.0.0.1:0", "--function", scripted_function().to_str().unwrap()])
            .env("OTEL_SDK_DISABLED", "true")
            .env("SCRIPTED_SHUTDOWN_FILE", &file)
            .envs(env.iter().copied())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start apigw-local");
        let base = listening_on(&mut gateway);
        Self { gateway, base, file }
    }

    /// Serves one request; returns how long it took and the function's process id.
    async fn request(&self) -> (Duration, i32) {
        let sent = Instant::now();
        let (status, _, body) = send(client().get(format!("{}/test/helloworld", self.base))).await;
        let took = sent.elapsed();
        assert_eq!(status, 200, "{body}");
        (took, i32::try_from(json(&body)["pid"].as_i64().expect("the echo names its pid")).unwrap())
    }

    /// Sends `signal` to apigw-local or, with `to_group`, to its whole process group as a terminal's Ctrl-C does, and
    /// waits for it to exit.
    async fn stop(mut self, signal: libc::c_int, to_group: bool) -> Stopped {
        let gateway_pid = i32::try_from(self.gateway.id()).unwrap();
        let target = if to_group { -gateway_pid } else { gateway_pid };
        // SAFETY: kill(2) takes no pointers; the pid is that of a child not yet waited for (or its process group).
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(target, signal) };
        assert_eq!(sent, 0, "{}", std::io::Error::last_os_error());
        let signalled = Instant::now();
        let status = wait_for_exit(&mut self.gateway, Duration::from_secs(10)).await;
        let took = signalled.elapsed();
        let recorded = std::fs::read_to_string(&self.file).unwrap_or_default().lines().map(str::to_string).collect();
        let _ = std::fs::remove_file(&self.file);
        Stopped { status, took, recorded }
    }
}

/// One request, then `signal`: what the function recorded, and its process id.
async fn serve_one_request_then_signal(env: &[(&str, &str)], signal: libc::c_int, to_group: bool) -> (Stopped, i32) {
    let running = Running::start(env);
    let (_, function_pid) = running.request().await;
    (running.stop(signal, to_group).await, function_pid)
}

fn listening_on(gateway: &mut Child) -> String {
    let stderr = BufReader::new(gateway.stderr.take().unwrap());
    let (found, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            eprintln!("[apigw-local] {line}");
            if let Some(rest) = line.strip_prefix("apigw-local: listening on ") {
                let _ = found.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    listening.recv_timeout(Duration::from_secs(20)).expect("apigw-local did not start listening")
}

async fn wait_for_exit(gateway: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = gateway.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = gateway.kill();
            panic!("apigw-local did not exit within {limit:?} of the signal");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn is_running(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    #[allow(unsafe_code)]
    let exists = unsafe { libc::kill(pid, 0) };
    exists == 0
}

/// The `SHUTDOWN {json}` line's event.
fn shutdown_event(recorded: &[String]) -> serde_json::Value {
    let line = recorded.iter().find_map(|line| line.strip_prefix("SHUTDOWN "));
    json(line.unwrap_or_else(|| panic!("no SHUTDOWN event recorded: {recorded:?}")))
}

#[tokio::test]
async fn sigterm_gives_a_function_with_an_extension_its_shutdown_event_and_sigterm() {
    let (stopped, function_pid) =
        serve_one_request_then_signal(&[("SCRIPTED_EXTENSION", "1")], libc::SIGTERM, false).await;
    assert!(stopped.status.success(), "{:?}", stopped.status);
    assert_eq!(stopped.recorded.len(), 2, "{:?}", stopped.recorded);
    assert_eq!(stopped.recorded[1], "SIGTERM", "the event comes first: {:?}", stopped.recorded);
    let event = shutdown_event(&stopped.recorded);
    assert_eq!((event["eventType"].as_str(), event["shutdownReason"].as_str()), (Some("SHUTDOWN"), Some("spindown")));
    assert!(event["deadlineMs"].as_u64().is_some(), "{event}");
    assert!(
        stopped.took < Duration::from_secs(3),
        "a function that exits on SIGTERM ends it early: {:?}",
        stopped.took
    );
    assert!(!is_running(function_pid));
}

#[tokio::test]
async fn ctrl_c_in_a_terminal_reaches_only_the_gateway_which_shuts_the_function_down() {
    let (stopped, function_pid) =
        serve_one_request_then_signal(&[("SCRIPTED_EXTENSION", "1")], libc::SIGINT, true).await;
    assert!(stopped.status.success(), "{:?}", stopped.status);
    // The terminal's SIGINT would have ended the function before its SIGTERM, and it would have had no time to flush.
    assert_eq!(stopped.recorded.last().map(String::as_str), Some("SIGTERM"), "{:?}", stopped.recorded);
    assert!(!stopped.recorded.contains(&"SIGINT".to_string()), "{:?}", stopped.recorded);
    shutdown_event(&stopped.recorded);
    assert!(!is_running(function_pid));
}

#[tokio::test]
async fn a_function_without_extensions_is_stopped_without_sigterm_as_on_lambda() {
    let (stopped, function_pid) = serve_one_request_then_signal(&[], libc::SIGTERM, false).await;
    assert!(stopped.status.success(), "{:?}", stopped.status);
    assert_eq!(stopped.recorded, Vec::<String>::new());
    assert!(!is_running(function_pid));
}

#[tokio::test]
async fn a_function_that_ignores_sigterm_is_killed_after_500_ms() {
    let env = [("SCRIPTED_EXTENSION", "1"), ("SCRIPTED_SIGTERM", "ignore")];
    let (stopped, function_pid) = serve_one_request_then_signal(&env, libc::SIGTERM, false).await;
    assert!(stopped.status.success(), "{:?}", stopped.status);
    assert!(stopped.recorded.contains(&"SIGTERM".to_string()), "{:?}", stopped.recorded);
    assert!(stopped.took >= Duration::from_millis(500), "the budget is waited out: {:?}", stopped.took);
    assert!(stopped.took < Duration::from_secs(3), "and not much longer: {:?}", stopped.took);
    assert!(!is_running(function_pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exports_the_spans_the_gateway_still_holds_over_either_protocol() {
    for receiver in [Receiver::http().await, Receiver::grpc().await] {
        let mut env: Vec<(&str, &str)> = vec![("OTEL_SDK_DISABLED", "false")];
        let receiver_env = receiver.env();
        env.extend(receiver_env.iter().map(|(key, value)| (key.as_str(), value.as_str())));
        // The batch processor's default 5 s delay has not passed: only the export at shutdown can deliver the span.
        let (stopped, _) = serve_one_request_then_signal(&env, libc::SIGTERM, false).await;
        assert!(stopped.status.success(), "{:?}", stopped.status);
        let received = receiver
            .wait_until("the gateway's span", Duration::from_secs(2), |received| {
                received.spans_of("apigw-local").any(|span| span.kind == SpanKind::Server)
            })
            .await;
        let span = received.spans_of("apigw-local").find(|span| span.kind == SpanKind::Server).unwrap();
        assert_eq!(span.name, "GET /helloworld");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_neither_slows_requests_nor_holds_up_stopping() {
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let receiver = Receiver::start(protocol, Mode::Hang).await;
        let mut env: Vec<(&str, &str)> = vec![("OTEL_SDK_DISABLED", "false"), ("OTEL_BSP_SCHEDULE_DELAY", "1")];
        let receiver_env = receiver.env();
        env.extend(receiver_env.iter().map(|(key, value)| (key.as_str(), value.as_str())));
        let running = Running::start(&env);
        running.request().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while receiver.requests() == 0 {
            assert!(Instant::now() < deadline, "{protocol:?}: no export reached the receiver");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The export now hangs (OTLP's default timeout is 10 s); requests go on as before.
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            slowest = slowest.max(running.request().await.0);
        }
        assert!(slowest < Duration::from_secs(1), "{protocol:?}: a request took {slowest:?}");
        let stopped = running.stop(libc::SIGTERM, false).await;
        assert!(stopped.status.success(), "{:?}", stopped.status);
        // About a second for the last export, and a margin for a loaded machine.
        assert!(stopped.took < Duration::from_millis(2500), "{protocol:?}: stopping took {:?}", stopped.took);
    }
}
