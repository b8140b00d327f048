//! The stage's HTTP front: accepts connections and serves requests on them, keep-alive included.

use std::io;
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

pub async fn serve<B: Backend>(listener: TcpListener, gateway: Arc<Gateway<B>>) -> io::Result<()> {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: pause instead of spinning, and keep serving the open ones.
                crate::message!("accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let local = stream.local_addr()?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, Peers { client, local }, gateway.clone()));
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
