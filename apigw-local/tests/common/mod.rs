//! Runs `apigw-local` as a real process on a free port and talks to it over real sockets.

#![allow(dead_code)] // Each test crate uses its own part of this module.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use apigw_local::http1::{Connection, Limits, Response};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The function binary of this workspace, built next to apigw-local.
pub(crate) fn bootstrap() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_apigw-local")).with_file_name("bootstrap");
    assert!(path.exists(), "{} is missing: build the workspace first (cargo build --workspace)", path.display());
    path
}

/// A scripted Runtime API client that misbehaves on request (see functions/scripted.py).
pub(crate) fn scripted_function() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/functions/scripted.py")
}

pub(crate) struct Gateway {
    child: Child,
    pub base: String,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// What apigw-local wrote to stderr before it said where it listens.
    pub startup: Vec<String>,
}

impl Gateway {
    /// Starts apigw-local with these arguments (plus `--listen 127.0.0.1:0`) and waits until it listens.
    pub(crate) fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    pub(crate) fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_apigw-local"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start apigw-local");
        let (lines, stderr_lines) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("[apigw-local] {line}");
                let _ = lines.send(line);
            }
        });
        let (access, stdout) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = access.send(line);
            }
        });
        let mut startup = Vec::new();
        let base = loop {
            let line = stderr_lines.recv_timeout(Duration::from_secs(20)).expect("apigw-local did not start listening");
            if let Some(rest) = line.strip_prefix("apigw-local: listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
            startup.push(line);
        };
        Self { child, base, stdout, stderr: stderr_lines, startup }
    }

    /// The gateway's process id; its `bootstrap` processes are its children.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// The lines apigw-local and its functions have written to stdout so far.
    pub(crate) fn stdout_lines(&self) -> Vec<String> {
        self.stdout.try_iter().collect()
    }

    /// The lines apigw-local and its functions have written to stderr since it started listening.
    pub(crate) fn stderr_lines(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// [`Self::stdout_lines`], waiting (up to 10 s) until one of them is `found`: a line apigw-local wrote before it
    /// answered may not have come through the reader thread yet when the answer arrives.
    pub(crate) fn stdout_until(&self, found: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = self.stdout_lines();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !lines.iter().any(|line| found(line)) {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        lines
    }
}

impl Gateway {
    /// Stops apigw-local with SIGTERM, as a service manager does (its functions go through Lambda's shutdown phase),
    /// and returns how it exited and the lines it and its functions wrote to stdout that were not taken yet, up to its
    /// exit (20 s at most).
    pub(crate) fn terminate(&mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) takes no pointers; the pid is that of a child not yet waited for.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill({pid}, SIGTERM): {}", std::io::Error::last_os_error());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut lines = Vec::new();
        loop {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(line) => lines.push(line),
                // The reader saw the end of apigw-local's stdout: it exited.
                Err(mpsc::RecvTimeoutError::Disconnected) => return (self.child.wait().unwrap(), lines),
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("apigw-local did not exit within 20 s of SIGTERM"),
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// Status, headers and body text of a response.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

pub(crate) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

const CATCHER_LIMITS: Limits = Limits {
    max_head: 64 * 1024,
    max_body: 1024 * 1024,
    head_timeout: Duration::from_secs(10),
    body_timeout: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(60),
};

/// The event apigw-local sends for one request, caught by an Invoke endpoint that only records it (and answers the
/// gateway with a `200` proxy response). `request` builds the request from the gateway it is sent to.
pub(crate) async fn catch_event(request: impl FnOnce(&Gateway) -> reqwest::RequestBuilder) -> Vec<u8> {
    let (gateway, caught) = gateway_to_catcher().await;
    let (status, _, body) = send(request(&gateway)).await;
    assert_eq!(status, 200, "{body}");
    caught.await.unwrap()
}

/// [`catch_event`] for a request written byte for byte, for what reqwest cannot send, such as a header name in upper
/// case (it sends every name in lower case). `{host}` in `request` stands for the gateway's address; send
/// `connection: close`, as the response is read to the end.
pub(crate) async fn catch_raw_event(request: &str) -> Vec<u8> {
    let (gateway, caught) = gateway_to_catcher().await;
    let address = gateway.base.strip_prefix("http://").expect("the gateway serves plain HTTP");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.replace("{host}", address).as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    caught.await.unwrap()
}

/// apigw-local forwarding to an Invoke endpoint that catches one event: the body of the first invocation.
async fn gateway_to_catcher() -> (Gateway, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/2015-03-31/functions/function/invocations", listener.local_addr().unwrap());
    let caught = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut connection = Connection::new(stream);
        let request = connection.read_request(&CATCHER_LIMITS).await.unwrap();
        let output = Response::json(200, &serde_json::json!({"statusCode": 200, "body": "caught"}));
        connection.write_response(&output, false, false).await.unwrap();
        request.body
    });
    (Gateway::start(&["--invoke-url", &url]), caught)
}

/// rotel's agent binary (an OTLP collector nobody here wrote, `make tools` installs it) from `ROTEL_AGENT`, the
/// project's tool venv (`site-packages/rotel/rotel-agent`), or PATH.
pub(crate) fn rotel_agent() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ROTEL_AGENT").map(PathBuf::from) {
        assert!(path.exists(), "ROTEL_AGENT={} does not exist", path.display());
        return Some(path);
    }
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/lib");
    let in_venv = std::fs::read_dir(lib).ok().and_then(|pythons| {
        pythons
            .filter_map(Result::ok)
            .map(|python| python.path().join("site-packages/rotel/rotel-agent"))
            .find(|path| path.exists())
    });
    let on_path = || {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("rotel-agent")).find(|p| p.exists()))
    };
    in_venv.or_else(on_path)
}

/// Starts rotel's agent receiving OTLP on these ports and exporting to nowhere, logging in detail what it receives of
/// each of `signals` (`traces`, `metrics`), and hands every line it prints, without colour codes, to `line`.
pub(crate) fn start_rotel(
    agent: &Path,
    (grpc, http): (u16, u16),
    signals: &[&str],
    pid_file: &Path,
    line: impl Fn(String) + Clone + Send + 'static,
) -> Child {
    let mut child = Command::new(agent)
        .arg("start")
        .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
        .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
        .args(["--exporter", "blackhole"])
        .args(signals.iter().flat_map(|signal| ["--debug-log", signal]))
        .args(["--debug-log-verbosity", "detailed"])
        .arg("--pid-file")
        .arg(pid_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rotel-agent");
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let line = line.clone();
        std::thread::spawn(move || {
            for text in BufReader::new(stream).lines().map_while(Result::ok) {
                line(plain(&text));
            }
        });
    }
    child
}

/// A line of rotel's output without its ANSI colour sequences.
fn plain(line: &str) -> String {
    let mut text = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    text
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
