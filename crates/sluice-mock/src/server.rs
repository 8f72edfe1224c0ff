//! The accept loop and connections: HTTP/1.1 (keep-alive) and h2c on one port, graceful
//! shutdown with a bounded drain, and real TCP resets for the `reset` fault.
//!
//! The mock runs its own loop rather than `axum::serve` because a fault must be able to
//! kill a connection without answering, which needs a hand on the socket.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::app::{self, App};
use crate::faults::ResetConnection;
use crate::stats::bump;

/// How long shutdown waits for in-flight requests before dropping them: a stalled
/// request must not hold shutdown forever.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Serves `app` on `listener` until `shutdown` resolves, then drains (bounded).
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = app::router(app.clone());
    // Tells connections to finish their current request and close.
    let (drain_tx, drain_rx) = watch::channel(false);
    // Owning the connection tasks means dropping (aborting) this future ends them all.
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    bump(&app.stats.connections);
                    connections.spawn(serve_connection(stream, router.clone(), drain_rx.clone()));
                }
                Err(err) => {
                    // Usually out of file descriptors: wait rather than spin.
                    tracing::debug!(%err, "sluice-mock accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = drain_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            left = connections.len(),
            "sluice-mock drain timed out; dropping connections"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// The per-connection flag a `reset` answer raises.
#[derive(Default)]
struct ResetSignal {
    raised: AtomicBool,
    notify: Notify,
}

impl ResetSignal {
    fn raise(&self) {
        self.raised.store(true, Ordering::Relaxed);
        // `notify_one` keeps a permit, so the connection task sees it even if not waiting yet.
        self.notify.notify_one();
    }
}

/// The error the service returns to make hyper drop the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by the sluice-mock `reset` fault")]
struct ResetError;

async fn serve_connection(stream: TcpStream, router: Router, mut drain: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(ResetSignal::default());
    let io = TokioIo::new(ResettableStream {
        inner: stream,
        reset: reset.clone(),
    });
    let tower = TowerToHyperService::new(router);
    let signal = reset.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let answer = tower.call(request);
        let signal = signal.clone();
        async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<ResetConnection>().is_some() {
                signal.raise();
                return Err(ResetError);
            }
            Ok(response)
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            // Dropping the connection drops the socket; its Drop sends the RST.
            () = reset.notify.notified() => break,
            _ = drain.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A TCP stream that, when a `reset` was raised, closes with SO_LINGER 0: the kernel
/// sends RST instead of FIN, as a crashed upstream or a killing proxy does.
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<ResetSignal>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.raised.load(Ordering::Relaxed) {
            // Linger 0 does not block: the close discards buffers and resets at once.
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
