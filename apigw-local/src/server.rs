//! The stage's HTTP front: accepts connections and serves requests on them, keep-alive included.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::backend::Backend;
use crate::gateway::{Gateway, Peers};
use crate::gateway_response::GatewayResponse;
use crate::http1::{Connection, Limits, ReadError};

/// API Gateway's request limits (10,240 bytes of request line and headers, 10 MB of body) and timeouts that keep a
/// slow or idle client from holding a connection for ever.
pub const LIMITS: Limits = Limits {
    max_head: 10_240,
    max_body: 10 * 1024 * 1024,
    head_timeout: Duration::from_secs(10),
    body_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(60),
};

/// Serves the stage on `listener` for as long as it is polled: neither a failed `accept` nor a connection that fails
/// ends it.
pub async fn serve<B: Backend>(listener: TcpListener, gateway: Arc<Gateway<B>>) -> Infallible {
    loop {
        let (stream, client) = accept(&listener, "stage").await;
        // A connection reset before it could be asked is that connection's problem, not the stage's.
        let Ok(local) = stream.local_addr() else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, Peers { client, local }, gateway.clone()));
    }
}

/// How long accepting pauses after an error.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// The next connection on `listener` (`name` says which, in messages). An error (out of file descriptors, mostly) is
/// said and followed by a pause instead of an immediate retry, which would spin as long as it lasts; the connections
/// already open are served meanwhile.
pub(crate) async fn accept(listener: &TcpListener, name: &str) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(error) => {
                crate::message!("{name}: accept failed: {error}");
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

async fn serve_connection<B: Backend>(stream: TcpStream, peers: Peers, gateway: Arc<Gateway<B>>) {
    let mut connection = Connection::new(stream);
    loop {
        let refusal = match connection.read_request(&LIMITS).await {
            Ok(request) => {
                let keep_alive = request.keep_alive();
                let response = gateway.handle(&request, peers).await;
                let head_only = request.method == "HEAD";
                if connection.write_response(&response, head_only, keep_alive).await.is_err() || !keep_alive {
                    return;
                }
                continue;
            }
            Err(ReadError::Closed | ReadError::Io(_)) => return,
            Err(ReadError::HeadTooLarge) => GatewayResponse::RequestHeaderFieldsTooLarge,
            Err(ReadError::BodyTooLarge) => GatewayResponse::RequestTooLarge,
            Err(ReadError::Malformed(_)) => GatewayResponse::BadRequest,
            Err(ReadError::Timeout) => GatewayResponse::RequestTimeout,
        };
        // The rest of the stream cannot be trusted to be at a request boundary: answer and close.
        let _ = connection.write_response(&gateway.refuse(refusal, peers), false, false).await;
        return;
    }
}
