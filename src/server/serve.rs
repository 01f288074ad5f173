//! The accept loop: HTTP/1 with a header-read timeout, the client's address for the
//! handlers, and a graceful drain (hyper-util's `GracefulShutdown`).

use std::{future::Future, time::Duration};

use axum::{extract::ConnectInfo, Extension, Router};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tower::Layer;

/// Connections are bounded by this when the caller gives no `REQUEST_TIMEOUT_MS`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(15_000);

/// Starts serving on `listener` until `shutdown` resolves, with the default
/// [`DEFAULT_REQUEST_TIMEOUT`] for idle and slow connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_timeout(listener, app, shutdown, DEFAULT_REQUEST_TIMEOUT).await
}

/// Starts serving on `listener` until `shutdown` resolves, then lets every connection
/// finish its request in flight and returns. A connection that has not sent a complete
/// request head within `header_timeout` (a new one, a half-open one, an idle keep-alive)
/// is closed: axum::serve has no such bound, and one silent client would hold a drain.
pub async fn serve_with_timeout(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
) -> std::io::Result<()> {
    // HTTP/1: the page, the API and the operators' redirects need nothing more.
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Connection info gives handlers the client's address, for the rate limit.
        let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(app.clone()));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Each connection finishes the request in flight, then closes.
    graceful.shutdown().await;
    Ok(())
}
