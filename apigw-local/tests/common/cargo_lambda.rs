//! cargo-lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`), a Lambda host this project did not
//! write. Shared by the cargo-lambda peer test and the end-to-end benchmark (through `#[path]`), so it depends on std
//! alone.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the emulator on a free port of 127.0.0.1, from an empty Cargo project at `project`, and waits until it
/// listens. Returns it and its port: the Runtime API is at `/.rt`, the Invoke API at `/2015-03-31/functions/…`.
pub(crate) fn start_emulator(cargo_lambda: &Path, project: &Path) -> (Child, u16) {
    // cargo-lambda wants a Cargo project to sit in even when it only serves the Lambda APIs; `[workspace]` keeps it
    // from being taken for a member of this workspace, inside whose target directory it lives.
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"peer\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(project.join("src/main.rs"), "fn main() {}\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut emulator = Command::new(cargo_lambda)
        .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
        .current_dir(project)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cargo lambda watch");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = emulator.kill();
            panic!("cargo lambda watch did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (emulator, port)
}
