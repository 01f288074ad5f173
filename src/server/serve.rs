//! The accept loop: HTTP/1 with a header-read timeout and a write timeout, connections
//! capped in total and per client address, the client's address for the handlers, and a
//! graceful drain (hyper-util's `GracefulShutdown`).

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::{IpAddr, Ipv6Addr},
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{extract::ConnectInfo, Extension, Router};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::Layer;

use super::client::Proxies;

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

/// How many connections may be open at once, in all and from one client.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub total: usize,
    pub per_client: usize,
    /// Peers that are trusted proxies speak for many clients: only `total` bounds them.
    pub proxies: Proxies,
}

impl Default for ConnectionLimits {
    /// The defaults of `MAX_CONNECTIONS` and `MAX_CONNECTIONS_PER_CLIENT`.
    fn default() -> Self {
        Self {
            total: 10_000,
            per_client: 1_000,
            proxies: Proxies::None,
        }
    }
}

/// Starts serving on `listener` until `shutdown` resolves, with the default connection
/// limits; see [`serve_with_limits`].
pub async fn serve_with_timeout(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
) -> std::io::Result<()> {
    serve_with_limits(listener, app, shutdown, header_timeout, ConnectionLimits::default()).await
}

/// Starts serving on `listener` until `shutdown` resolves, then lets every connection
/// finish its request in flight and returns. A connection that has not sent a complete
/// request head within `header_timeout` (a new one, a half-open one, an idle keep-alive)
/// is closed: axum::serve has no such bound, and one silent client would hold a drain.
/// So is one whose answer has waited `header_timeout` to be written (a client that stopped
/// reading). A connection past `limits` is closed as soon as it is accepted, before any
/// byte is read: under a flood, refusing must cost less than serving.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let open = OpenConnections::new(limits);
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
        let Some(slot) = open.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        // Connection info gives handlers the client's address, for the rate limit.
        let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(app.clone()));
        let stream = WriteTimeout::new(stream, header_timeout);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    // Each connection finishes the request in flight, then closes.
    graceful.shutdown().await;
    Ok(())
}

/// The connections open now, in all and by client; a [`Slot`] per admitted connection.
#[derive(Clone)]
struct OpenConnections {
    limits: Arc<ConnectionLimits>,
    counts: Arc<Mutex<Counts>>,
    refused: Arc<AtomicU64>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// One admitted connection's place, given back when the connection ends.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    client: Option<IpAddr>,
}

impl OpenConnections {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits: Arc::new(limits),
            counts: Arc::default(),
            refused: Arc::default(),
        }
    }

    /// A place for a connection from `peer`, or `None` (and a log line) past a limit.
    fn admit(&self, peer: IpAddr) -> Option<Slot> {
        // A trusted proxy carries many people's connections: only the total bounds it.
        let client = (!self.limits.proxies.trusts_peer(peer)).then(|| client_key(peer));
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let refusal = if counts.total >= self.limits.total {
            Some("MAX_CONNECTIONS")
        } else if client.is_some_and(|c| counts.by_client.get(&c).copied().unwrap_or(0) >= self.limits.per_client) {
            Some("MAX_CONNECTIONS_PER_CLIENT")
        } else {
            None
        };
        if let Some(limit) = refusal {
            drop(counts);
            self.log_refusal(limit);
            return None;
        }
        counts.total += 1;
        if let Some(client) = client {
            *counts.by_client.entry(client).or_default() += 1;
        }
        Some(Slot {
            counts: self.counts.clone(),
            client,
        })
    }

    /// At warn for the first refusal and every thousandth after (a flood must not flood
    /// the log too), else at debug. Never the address: it may identify a person.
    fn log_refusal(&self, limit: &'static str) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if refused == 1 || refused.is_multiple_of(1_000) {
            tracing::warn!(
                limit,
                refused,
                "too many open connections: a new one was closed at once"
            );
        } else {
            tracing::debug!(
                limit,
                refused,
                "too many open connections: a new one was closed at once"
            );
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total -= 1;
        if let Some(client) = self.client {
            if let Some(n) = counts.by_client.get_mut(&client) {
                *n -= 1;
                if *n == 0 {
                    counts.by_client.remove(&client);
                }
            }
        }
    }
}

/// The client a connection counts against: an IPv4 address, or an IPv6 /64 (one
/// subscriber's prefix: any address in it is theirs to use).
fn client_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// A stream whose writes fail once one has waited `timeout` without progress: hyper
/// bounds reading a request head, not writing an answer, so a client that stops reading
/// would hold its connection (and a drain) forever.
struct WriteTimeout<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteTimeout<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// `result` of a write-side poll: progress disarms the timer, waiting arms it, and
    /// waiting past it is an error that ends the connection.
    fn bound<T>(&mut self, cx: &mut Context<'_>, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::debug!("closing a connection whose client stopped reading");
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client read nothing within the write timeout",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.bound(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.bound(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.bound(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.bound(cx, result)
    }
}
