//! `bootstrap` under a Runtime API that this project did not write: cargo-lambda's emulator, fed an event that
//! apigw-local produced. Proves the function and the events are right, not merely consistent with each other.

#[path = "common/cargo_lambda.rs"]
mod cargo_lambda;
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use apigw_local::event::Api;
use apigw_local::response::map_output;
use cargo_lambda::start_emulator;
use common::{bootstrap, catch_event, client, send};

/// cargo-lambda from `CARGO_LAMBDA`, the project's tool venv, or PATH.
fn cargo_lambda() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/cargo-lambda");
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("cargo-lambda")).find(|p| p.exists()));
    std::env::var_os("CARGO_LAMBDA")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or(venv.exists().then_some(venv))
        .or(on_path)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn bootstrap_answers_an_apigw_local_event_under_cargo_lambdas_runtime_api() {
    let Some(cargo_lambda) = cargo_lambda() else {
        assert!(std::env::var("CI").is_err(), "cargo-lambda is required in CI (make tools installs it)");
        eprintln!("SKIPPED: cargo-lambda not installed (make tools); this peer test did not run");
        return;
    };
    // The event apigw-local sends for the seed's curl.
    let event = catch_event(|gateway| {
        client()
            .post(gateway.url("/test/helloworld?name=John&city=Seattle"))
            .header("content-type", "application/json")
            .header("day", "Thursday")
            .body(r#"{ "time": "evening" }"#)
    })
    .await;

    let project = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cargo-lambda-peer");
    let (emulator, port) = start_emulator(&cargo_lambda, &project);
    let _emulator = Killed(emulator);
    let _function = Killed(
        Command::new(bootstrap())
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .stdin(Stdio::null())
            .spawn()
            .expect("start bootstrap"),
    );

    let invoke = format!("http://127.0.0.1:{port}/2015-03-31/functions/_/invocations");
    let (status, _, output) = send(client().post(invoke).body(event)).await;
    assert_eq!(status, 200, "{output}");
    let proxy: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(proxy["statusCode"], 200, "{output}");
    assert_eq!(proxy["body"], r#"{"greeting":"Good evening, John of Seattle. Happy Thursday!"}"#);

    // And the function's output, mapped back the way apigw-local maps it, is what the client would see.
    let api = Api {
        api_id: "peer".into(),
        account_id: "123456789012".into(),
        stage: "test".into(),
        deployment_id: "peer".into(),
        binary_media_types: vec![],
    };
    let response = map_output(output.as_bytes(), None, &api).expect("a valid proxy response");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"greeting":"Good evening, John of Seattle. Happy Thursday!"}"#);
}
