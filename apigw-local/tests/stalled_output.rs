//! apigw-local whose stdout and stderr nobody reads (a terminal paused with Ctrl-S, `make run | pager` left open, a
//! log driver that falls behind): once the pipes are full, it still answers every request and still stops on SIGTERM,
//! and what it had to drop it says at exit.

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::bootstrap;
use futures::future::join_all;

/// More output than a 64 KiB pipe and the gateway's 1 MiB queue hold together: an access log line (some 300 bytes) and
/// a function log line per request.
const REQUESTS: usize = 5_000;
const CLIENTS: usize = 4;
const QUERY: &str = "/test/helloworld?name=Ok&city=Here";
const GREETING: &str = r#"{"greeting":"Good day, Ok of Here."}"#;
/// A request answered later than this is one that waited for something other than the function.
const ANSWERED_WITHIN: Duration = Duration::from_secs(5);

/// apigw-local with its stdout and stderr on pipes that are kept open and, once it listens, never read.
struct Unread {
    gateway: Child,
    base: String,
    _stdout: ChildStdout,
    stderr: BufReader<ChildStderr>,
}

impl Unread {
    fn start() -> Self {
        let mut gateway = Command::new(env!("CARGO_BIN_EXE_apigw-local"))
            .args(["--listen", "127.0.0.1:0", "--function", bootstrap().to_str().unwrap(), "--concurrency", "2"])
            .env("OTEL_SDK_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start apigw-local");
        let stdout = gateway.stdout.take().unwrap();
        let stderr = BufReader::new(gateway.stderr.take().unwrap());
        // Read on a thread of its own, so that a gateway that never says where it listens fails the test in time.
        let (found, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stderr = stderr;
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|read| read > 0) {
                if let Some(rest) = line.strip_prefix("apigw-local: listening on ") {
                    let base = rest.split_whitespace().next().unwrap_or_default().to_string();
                    let _ = found.send((base, stderr));
                    return;
                }
                line.clear();
            }
        });
        let (base, stderr) =
            listening.recv_timeout(Duration::from_secs(20)).expect("apigw-local did not start listening");
        Self { gateway, base, _stdout: stdout, stderr }
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; returns the status, and the rest of stderr.
    fn terminate(mut self, limit: Duration) -> (ExitStatus, Duration, String) {
        let pid = libc::pid_t::try_from(self.gateway.id()).unwrap();
        // SAFETY: kill(2) takes no pointers; the pid is that of a child not yet waited for.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "{}", std::io::Error::last_os_error());
        let signalled = Instant::now();
        let status = loop {
            if let Some(status) = self.gateway.try_wait().unwrap() {
                break status;
            }
            assert!(signalled.elapsed() < limit, "apigw-local did not exit within {limit:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = signalled.elapsed();
        let mut rest = String::new();
        let _ = self.stderr.read_to_string(&mut rest);
        (status, took, rest)
    }
}

impl Drop for Unread {
    fn drop(&mut self) {
        let _ = self.gateway.kill();
        let _ = self.gateway.wait();
    }
}

/// `count` requests one after the other on one keep-alive connection; the first wrong answer, if any.
async fn keep_alive_requests(base: String, count: usize) -> Result<(), String> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    for sent in 0..count {
        let response = tokio::time::timeout(ANSWERED_WITHIN, async {
            let response = client.get(format!("{base}{QUERY}")).send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        })
        .await;
        match response {
            Ok(Ok((200, body))) if body == GREETING => {}
            Ok(Ok((status, body))) => return Err(format!("request {sent}: {status} {body}")),
            Ok(Err(error)) => return Err(format!("request {sent}: {error}")),
            Err(_) => return Err(format!("request {sent}: no answer within {ANSWERED_WITHIN:?}")),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stdout_and_stderr_unread_every_request_is_answered_and_sigterm_stops_the_gateway() {
    let gateway = Unread::start();
    let started = Instant::now();
    let clients = (0..CLIENTS).map(|_| tokio::spawn(keep_alive_requests(gateway.base.clone(), REQUESTS / CLIENTS)));
    let wrong: Vec<String> = join_all(clients).await.into_iter().filter_map(|client| client.unwrap().err()).collect();
    assert!(wrong.is_empty(), "with nobody reading its output, the gateway stopped answering: {wrong:?}");
    eprintln!("{REQUESTS} requests answered in {:.1?} with stdout and stderr unread", started.elapsed());

    let (status, took, stderr) = gateway.terminate(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    eprintln!("stopped {took:.1?} after SIGTERM; the rest of its stderr: {stderr}");
    // The lines that did not fit are counted, and the count is told where it can still be read.
    assert!(stderr.contains("lines dropped: stdout was not being read"), "{stderr}");
}
