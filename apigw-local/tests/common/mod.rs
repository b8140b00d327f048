//! Runs `apigw-local` as a real process on a free port and talks to it over real sockets.

#![allow(dead_code)] // Each test crate uses its own part of this module.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The function binary of this workspace, built next to apigw-local.
pub fn bootstrap() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_apigw-local")).with_file_name("bootstrap");
    assert!(path.exists(), "{} is missing: build the workspace first (cargo build --workspace)", path.display());
    path
}

/// A scripted Runtime API client that misbehaves on request (see functions/scripted.py).
pub fn scripted_function() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/functions/scripted.py")
}

pub struct Gateway {
    child: Child,
    pub base: String,
    stdout: mpsc::Receiver<String>,
}

impl Gateway {
    /// Starts apigw-local with these arguments (plus `--listen 127.0.0.1:0`) and waits until it listens.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
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
        let base = loop {
            let line = stderr_lines.recv_timeout(Duration::from_secs(20)).expect("apigw-local did not start listening");
            if let Some(rest) = line.strip_prefix("apigw-local: listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        Self { child, base, stdout }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// The lines apigw-local and its functions have written to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.try_iter().collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// Status, headers and body text of a response.
pub async fn send(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}
