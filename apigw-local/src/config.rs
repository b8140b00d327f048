//! The command line; every flag can also come from an `APIGW_LOCAL_*` environment variable (for compose files).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser};

use crate::routes::Route;
use crate::trace_view::TraceView;

/// The command line; every flag can also be set by its `APIGW_LOCAL_*` variable.
#[derive(Debug, Parser)]
#[command(name = "apigw-local", version, about = "A local API Gateway REST API with Lambda proxy integration")]
#[command(group(ArgGroup::new("backend").required(true).args(["function", "invoke_url"])))]
pub struct Args {
    /// Address to serve the stage on.
    #[arg(long, env = "APIGW_LOCAL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Stage name: requests are served under /{stage}/.
    #[arg(long, env = "APIGW_LOCAL_STAGE", default_value = "test", value_parser = parse_stage)]
    pub stage: String,

    /// A resource and its method, `METHOD /path` (METHOD: ANY, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT; the
    /// path may hold variables, `/users/{id}`, and end in a greedy one, `/files/{proxy+}`). Repeat the flag, or
    /// separate with commas in the environment variable. Without routes here or in --routes-file: ANY /helloworld.
    #[arg(long = "route", env = "APIGW_LOCAL_ROUTES", value_delimiter = ',')]
    pub routes: Vec<Route>,

    /// An OpenAPI document (JSON), as API Gateway imports and exports it: each operation with an
    /// x-amazon-apigateway-integration of type aws_proxy is a route, besides those of --route.
    #[arg(long, env = "APIGW_LOCAL_ROUTES_FILE")]
    pub routes_file: Option<PathBuf>,

    /// Back end 1: host the Lambda Runtime API here and run this `bootstrap` executable as the function.
    #[arg(long, env = "APIGW_LOCAL_FUNCTION")]
    pub function: Option<PathBuf>,

    /// With --function: how many execution environments (processes) serve requests in parallel.
    #[arg(long, env = "APIGW_LOCAL_CONCURRENCY", default_value_t = 1, conflicts_with = "invoke_url",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Back end 2: forward events to this Lambda Invoke URL, e.g. the Runtime Interface Emulator's
    /// http://lambda:8080/2015-03-31/functions/function/invocations
    #[arg(long, env = "APIGW_LOCAL_INVOKE_URL")]
    pub invoke_url: Option<String>,

    /// Integration timeout (API Gateway's default: 29s), e.g. 29s, 500ms, 1m. With --function it is also the
    /// function's timeout: an environment that overruns it is replaced, as Lambda does.
    #[arg(long, env = "APIGW_LOCAL_TIMEOUT", default_value = "29s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Function name, as the function sees it in AWS_LAMBDA_FUNCTION_NAME and its ARN.
    #[arg(long, env = "APIGW_LOCAL_FUNCTION_NAME", default_value = "GetStartedLambdaProxyIntegration")]
    pub function_name: String,

    /// A variable of the function's environment, NAME=VALUE (repeatable), as Lambda's function configuration sets
    /// them; e.g. OTEL_SERVICE_NAME=greeter. The functions inherit the gateway's environment, but not its service
    /// name: OTEL_SERVICE_NAME and a service.name in OTEL_RESOURCE_ATTRIBUTES name the gateway only. Values keep their
    /// commas (OTEL_TRACES_EXPORTER=otlp,xray; OTEL_RESOURCE_ATTRIBUTES=a=1,b=2): in APIGW_LOCAL_FUNCTION_ENV, variables
    /// are separated by newlines.
    #[arg(long = "function-env", env = "APIGW_LOCAL_FUNCTION_ENV", value_delimiter = '\n', value_parser = parse_variable)]
    pub function_env: Vec<(String, String)>,

    /// Memory size in MB, as the function sees it in AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
    #[arg(long, env = "APIGW_LOCAL_MEMORY_SIZE", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(128..=10240))]
    pub memory_size: u32,

    /// AWS region the emulated API and function claim to be in.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,

    /// API id in requestContext.apiId (default: a random one, like API Gateway's).
    #[arg(long, env = "APIGW_LOCAL_API_ID")]
    pub api_id: Option<String>,

    /// Account id in requestContext.accountId and the function's ARN.
    #[arg(long, env = "APIGW_LOCAL_ACCOUNT_ID", default_value = "123456789012")]
    pub account_id: String,

    /// Content type whose bodies travel base64-encoded (API Gateway's binaryMediaTypes), e.g. image/png or */*.
    #[arg(long = "binary-media-type", env = "APIGW_LOCAL_BINARY_MEDIA_TYPES", value_delimiter = ',')]
    pub binary_media_types: Vec<String>,

    /// With no OTLP endpoint configured, the traces of the gateway and its functions are collected here and each
    /// request is shown on stdout: as text (auto: if stdout is a terminal) or JSON lines (auto: if not). `off`: no
    /// view, traces go to the default OTLP endpoint.
    #[arg(long, env = "APIGW_LOCAL_TRACE_VIEW", value_enum, default_value_t = TraceView::Auto)]
    pub trace_view: TraceView,

    /// A UDP address to receive X-Ray segment documents on, standing in for the X-Ray daemon Lambda runs beside the
    /// function (e.g. 127.0.0.1:2000; port 0: a free one). Each document is shown on stdout, in --trace-view's format
    /// (auto and off: text on a terminal, JSON lines if not). With --function the functions get
    /// AWS_XRAY_DAEMON_ADDRESS and send their traces here, not to the trace view, which then shows the gateway's
    /// spans; behind --invoke-url, give the function's container the variable, and listen where it can reach.
    #[arg(long, env = "APIGW_LOCAL_XRAY_DAEMON")]
    pub xray_daemon: Option<SocketAddr>,
}

fn parse_stage(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 128
        && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid { Ok(text.to_string()) } else { Err("a stage name is 1 to 128 of A-Z, a-z, 0-9, - and _".into()) }
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() && !name.contains('\0') && !value.contains('\0') => {
            Ok((name.to_string(), value.to_string()))
        }
        _ => Err(format!("{text:?}: a variable is NAME=VALUE")),
    }
}

/// `29s`, `500ms`, `1m`, or a bare number of seconds; API Gateway accepts 50 ms and more.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, "s"), |at| text.split_at(at));
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 29s or 500ms"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        _ => return Err(format!("{text:?}: unit must be ms, s or m")),
    };
    if duration < Duration::from_millis(50) {
        return Err(format!("{text:?}: the integration timeout is at least 50ms"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("apigw-local").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_follow_the_tutorial() {
        let args = parse(&["--function", "bootstrap"]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.stage, "test");
        assert_eq!(args.routes, [], "the tutorial's route is the default of crate::routes::configured_routes");
        assert_eq!(args.routes_file, None);
        assert_eq!(args.concurrency, 1);
        assert_eq!(args.timeout, Duration::from_secs(29));
        assert_eq!(args.function_name, "GetStartedLambdaProxyIntegration");
        assert_eq!(args.trace_view, TraceView::Auto);
        assert_eq!(args.xray_daemon, None);
    }

    #[test]
    fn exactly_one_back_end() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--function", "b", "--invoke-url", "http://x/"]).is_err());
        assert!(parse(&["--invoke-url", "http://x/"]).is_ok());
        assert!(parse(&["--invoke-url", "http://x/", "--concurrency", "2"]).is_err(), "concurrency needs --function");
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            &["--function", "b", "--concurrency", "0"][..],
            &["--function", "b", "--stage", "a/b"],
            &["--function", "b", "--route", "TRACE /x"],
            &["--function", "b", "--route", "GET /{proxy+}/x"],
            &["--function", "b", "--route", "GET /a b"],
            &["--function", "b", "--timeout", "10ms"],
            &["--function", "b", "--timeout", "3h"],
            &["--function", "b", "--listen", "localhost"],
            &["--function", "b", "--trace-view", "html"],
            &["--function", "b", "--xray-daemon", "localhost:2000"],
            &["--function", "b", "--xray-daemon", "2000"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn routes_and_durations_parse() {
        let args = parse(&[
            "--function",
            "b",
            "--route",
            "GET /a",
            "--route",
            "POST /users/{id}",
            "--routes-file",
            "api.json",
            "--timeout",
            "500ms",
        ])
        .unwrap();
        let routes: Vec<String> = args.routes.iter().map(ToString::to_string).collect();
        assert_eq!(routes, ["GET /a", "POST /users/{id}"]);
        assert_eq!(args.routes_file, Some(PathBuf::from("api.json")));
        assert_eq!(args.timeout, Duration::from_millis(500));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        let args = parse(&["--function", "b", "--trace-view", "json"]).unwrap();
        assert_eq!(args.trace_view, TraceView::Json);
    }

    #[test]
    fn the_xray_daemon_is_an_address_from_the_flag_or_its_variable() {
        let args = parse(&["--invoke-url", "http://x/", "--xray-daemon", "127.0.0.1:2000"]).unwrap();
        assert_eq!(args.xray_daemon, Some("127.0.0.1:2000".parse().unwrap()));
        let args = parse(&["--function", "b", "--xray-daemon", "[::1]:0"]).unwrap();
        assert_eq!(args.xray_daemon, Some("[::1]:0".parse().unwrap()));
        // Read from the definition rather than by setting the variable, which would race the other tests.
        let command = <Args as clap::CommandFactory>::command();
        let flag = command.get_arguments().find(|arg| arg.get_long() == Some("xray-daemon")).unwrap();
        assert_eq!(flag.get_env().and_then(|name| name.to_str()), Some("APIGW_LOCAL_XRAY_DAEMON"));
    }

    #[test]
    fn function_variables_keep_their_commas() {
        let args = parse(&[
            "--function",
            "b",
            "--function-env",
            "OTEL_TRACES_EXPORTER=otlp,xray",
            "--function-env",
            "OTEL_RESOURCE_ATTRIBUTES=a=1,b=2",
        ])
        .unwrap();
        let expected = [("OTEL_TRACES_EXPORTER", "otlp,xray"), ("OTEL_RESOURCE_ATTRIBUTES", "a=1,b=2")];
        assert_eq!(args.function_env, expected.map(|(name, value)| (name.to_string(), value.to_string())));
        let command = <Args as clap::CommandFactory>::command();
        let flag = command.get_arguments().find(|arg| arg.get_long() == Some("function-env")).unwrap();
        assert_eq!(flag.get_value_delimiter(), Some('\n'), "APIGW_LOCAL_FUNCTION_ENV holds one variable per line");
    }
}
