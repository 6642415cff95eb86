//! The accept loop: hyper with limits axum's `serve` does not expose.
//! Each connection gets the peer address (`ConnectInfo`), HTTP/1.1 only, a
//! header read timeout (which also closes idle keep-alive connections: the
//! timer runs whenever the server waits for a request head, so slowloris
//! clients that dribble headers, or hold connections open without
//! sending, are cut off), a cap on header bytes and on the number of
//! headers (431 beyond). Request bodies are bounded by the request
//! timeout and body limit middleware. Graceful shutdown stops accepting,
//! lets in-flight requests finish, and gives up after the drain timeout.
//! With a TLS configuration ([`super::tls`]) connections are TLS 1.3.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Limits on what a client may send before its request reaches the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a complete request head; also the keep-alive idle limit.
    pub header_read_timeout: Duration,
    /// Bytes of request line and headers (at least 8192, hyper's minimum buffer).
    pub max_header_bytes: usize,
    /// Number of header fields.
    pub max_headers: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { header_read_timeout: Duration::from_secs(10), max_header_bytes: 32 * 1024, max_headers: 64 }
    }
}

/// Serves `app` on `listener` until `shutdown` completes (see the module docs).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    serve_with_tls(listener, app, shutdown, drain_timeout, limits, None).await
}

/// As [`serve`], terminating TLS with `tls` when given. The TLS handshake
/// must finish within the header read timeout.
pub async fn serve_with_tls(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
    limits: ConnectionLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let address: SocketAddr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%address, "listening on {scheme}://{address}");
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request
        });
        let service = TowerToHyperService::new(service);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let served = match acceptor {
                None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await;
                    let Ok(Ok(stream)) = handshake else {
                        tracing::debug!(%remote, "TLS handshake failed or timed out");
                        return;
                    };
                    watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await
                }
            };
            if let Err(error) = served {
                tracing::debug!(error = %error, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {
            tracing::info!("stopped");
        }
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!(seconds = drain_timeout.as_secs(), "in-flight requests did not finish in time; exiting anyway");
        }
    }
    Ok(())
}
