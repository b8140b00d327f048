//! A stand-in for the X-Ray daemon Lambda runs beside a function with active tracing: a UDP socket that counts the
//! (sub)segments of every document it receives, so that the deployed defaults' row reports spans per invocation like
//! the rows that export OTLP. It reads on a thread of its own, unthrottled, as the real daemon runs outside the
//! function's CPU share.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// The daemon protocol's first line, before each document.
const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

pub(crate) struct Daemon {
    address: String,
    segments: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Daemon {
    pub(crate) fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the daemon's UDP socket");
        // Wakes the reader now and then to see whether it should stop.
        socket.set_read_timeout(Some(Duration::from_millis(50))).expect("a read timeout");
        let address = socket.local_addr().expect("the daemon's address").to_string();
        let segments = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = std::thread::spawn({
            let (segments, stop) = (segments.clone(), stop.clone());
            move || {
                let mut datagram = vec![0; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(length) = socket.recv(&mut datagram) else { continue };
                    let text = std::str::from_utf8(&datagram[..length]).expect("a UTF-8 datagram");
                    let document = text.strip_prefix(HEADER).unwrap_or_else(|| panic!("no daemon header: {text}"));
                    let document: Value = serde_json::from_str(document).expect("a JSON segment document");
                    segments.fetch_add(count(&document), Ordering::Relaxed);
                }
            }
        });
        Self { address, segments, stop, reader: Some(reader) }
    }

    /// What Lambda sets for a function with active tracing, pointing here.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        vec![("AWS_XRAY_DAEMON_ADDRESS".to_string(), self.address.clone())]
    }

    /// (Sub)segments received so far, nested ones included.
    pub(crate) fn segments(&self) -> usize {
        self.segments.load(Ordering::Relaxed)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// A document and the subsegments nested in it: each stands for one span.
fn count(document: &Value) -> usize {
    1 + document["subsegments"].as_array().map_or(0, |nested| nested.iter().map(count).sum())
}
