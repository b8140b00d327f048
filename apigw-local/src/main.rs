//! `apigw-local`: serves an API Gateway stage on a local port, with the function run as local processes under a
//! Runtime API it hosts (`--function`) or behind a Lambda Invoke endpoint (`--invoke-url`).

use std::io::{self, IsTerminal as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use apigw_local::backend::Backend;
use apigw_local::backend::invoke::InvokeClient;
use apigw_local::backend::runtime_api::{FunctionConfig, RuntimeApiHost};
use apigw_local::config::Args;
use apigw_local::event::Api;
use apigw_local::gateway::Gateway;
use apigw_local::routes::{RouteTable, configured_routes};
use apigw_local::server;
use apigw_local::telemetry::{InvokedFunction, Telemetry};
use apigw_local::trace_view::{LocalCollection, TraceView};
use apigw_local::xray_daemon::{Shown, XrayDaemon};
use apigw_local::{message, open_files, output};
use clap::Parser;
use tokio::net::{TcpListener, TcpSocket};

// One thread: the gateway's work per request is a few short steps (client read, event, `/next` answer, `/response`
// read, 202, client write) handed between tasks, and the functions are separate processes. On the multi-thread
// runtime those hand-offs woke the other worker (futex) and bounced the request between cores: measured under
// `wrk -t1 -c16` with 2 functions: 2.9 context switches and 1.3 futex calls per request there, 1.3 and none here.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Before any socket is opened: a thousand clients would not fit in the common default of 1,024 descriptors.
    if let Err(error) = open_files::raise_to_hard_limit() {
        message!("cannot raise the open files limit, keeping it: {error}");
    }
    let code = match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            message!("{error}");
            ExitCode::FAILURE
        }
    };
    // The last messages and access log lines, as far as their readers take them: a reader that stopped reading
    // cannot hold the exit up.
    output::flush(EXIT_FLUSH);
    code
}

/// How long the exit waits for the output queues to be written.
const EXIT_FLUSH: Duration = Duration::from_secs(1);

async fn run(args: Args) -> Result<(), String> {
    let listener = listen(args.listen).map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    let configured = configured_routes(&args.routes, args.routes_file.as_deref()).map_err(|error| error.to_string())?;
    for skipped in &configured.skipped {
        message!("not served: {skipped}");
    }
    let routes = RouteTable::new(args.stage.clone(), configured.routes).map_err(|error| error.to_string())?;
    let api = Api {
        api_id: args.api_id.clone().unwrap_or_else(Api::random_id),
        account_id: args.account_id.clone(),
        stage: args.stage.clone(),
        deployment_id: Api::random_id(),
        binary_media_types: args.binary_media_types.clone(),
    };
    let function = InvokedFunction { name: args.function_name.clone(), region: args.region.clone() };
    // Bound before the functions start, which are told where it is.
    let xray = args.xray_daemon.map(|address| start_xray_daemon(address, args.trace_view)).transpose()?;
    // Without a collector configured, the traces of the gateway and its functions are shown here; with the X-Ray
    // daemon the functions send theirs to it, as on Lambda, and the view shows the gateway's.
    let functions_export_here = args.function.is_some() && xray.is_none();
    let view = LocalCollection::from_env(args.trace_view, functions_export_here);
    let telemetry = match &view {
        Some(view) => Telemetry::shown_here(function, view.gateway_spans()),
        None => Telemetry::from_env(function),
    };
    for route in routes.routes() {
        message!("{} http://{address}/{}{}", route.method(), routes.stage(), route.resource());
    }
    if let Some(executable) = args.function.clone() {
        let config = FunctionConfig {
            executable,
            name: args.function_name.clone(),
            memory_mb: args.memory_size,
            region: args.region.clone(),
            account_id: args.account_id.clone(),
            // The trace view's endpoint first: the function's own variables may name another.
            environment: view
                .as_ref()
                .filter(|_| functions_export_here)
                .map(LocalCollection::function_environment)
                .unwrap_or_default()
                .into_iter()
                .chain(xray.as_ref().map(XrayDaemon::function_environment))
                .chain(args.function_env.clone())
                .collect(),
        };
        let host =
            RuntimeApiHost::start(config, usize::from(args.concurrency)).await.map_err(|error| error.to_string())?;
        message!("listening on http://{address} -> Runtime API host, {} environment(s)", args.concurrency);
        let gateway = Gateway { routes, api, backend: host, timeout: args.timeout, telemetry };
        serve(listener, gateway).await.map_err(|error| format!("cannot handle SIGTERM: {error}"))
    } else {
        let url = args.invoke_url.clone().unwrap_or_default();
        let client = InvokeClient::new(&url).map_err(|error| error.to_string())?;
        message!("listening on http://{address} -> Invoke {url}");
        let gateway = Gateway { routes, api, backend: client, timeout: args.timeout, telemetry };
        serve(listener, gateway).await.map_err(|error| format!("cannot handle SIGTERM: {error}"))
    }
}

/// The X-Ray daemon's stand-in on `address`, its documents shown as `--trace-view` says; said on stderr.
fn start_xray_daemon(address: SocketAddr, trace_view: TraceView) -> Result<XrayDaemon, String> {
    let shown = Shown::for_view(trace_view, io::stdout().is_terminal());
    let daemon = XrayDaemon::start(address, shown)
        .map_err(|error| format!("cannot listen for X-Ray segments on udp {address}: {error}"))?;
    let format = if shown == Shown::Json { "JSON lines" } else { "text" };
    message!("X-Ray segment documents -> stdout as {format} (daemon at udp {})", daemon.address());
    Ok(daemon)
}

/// Connections that may wait to be accepted. tokio's default of 1,024 is less than a burst of a thousand clients once
/// the connections still in their handshake count too: past it the kernel drops handshakes or, with SYN cookies,
/// resets connections the client already thinks open. The kernel caps it at `net.core.somaxconn` (4,096 by default).
const LISTEN_BACKLOG: u32 = 4096;

fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted gateway can listen again while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves until SIGINT or SIGTERM, then stops the back end and exports the last spans.
async fn serve<B: Backend>(listener: TcpListener, gateway: Gateway<B>) -> io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let gateway = Arc::new(gateway);
    tokio::select! {
        never = server::serve(listener, gateway.clone()) => match never {},
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    // Side by side, so that stopping takes the longer of the two (each bounded), not their sum. On a thread of its
    // own, not tokio's blocking pool, which the runtime waits for at exit however long it takes: should the export's
    // shutdown get stuck (writing to a stderr that nobody reads), the exit does not wait past TELEMETRY_SHUTDOWN.
    let telemetry = gateway.telemetry.clone();
    let (flushed, telemetry_flushed) = tokio::sync::oneshot::channel();
    let flushing = std::thread::Builder::new().name("telemetry flush".into()).spawn(move || {
        telemetry.shutdown();
        let _ = flushed.send(());
    });
    if let Err(error) = flushing {
        message!("the last spans are lost: {error}");
    }
    gateway.backend.shutdown().await;
    let _ = tokio::time::timeout(TELEMETRY_SHUTDOWN, telemetry_flushed).await;
    Ok(())
}

/// The longest the exit waits for the last spans' export, which gives up after about a second itself.
const TELEMETRY_SHUTDOWN: Duration = Duration::from_secs(2);
