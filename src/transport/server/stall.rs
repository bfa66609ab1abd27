//! The time side of the slow-consumer rule: while a writer's socket write (one batch of
//! frames and its flush) is pending, the socket must take at least one byte in every
//! `ServerConfig::slow_consumer_timeout`, else the connection is closed as a slow
//! consumer, its queued frames dropped, and the close counted
//! (`slow_consumer_closes{reason="stalled"}`). Progress is what the socket accepted
//! ([`Counted`] counts it), so a client that reads slowly but steadily through a long
//! batch is kept, and one that stopped reading is closed between one and two periods
//! after its last byte. The byte side is the queue's own bound (`outbound::queue`).
//! Together they bound a server's memory per connection whatever a client does,
//! without closing a healthy client in a burst.
//!
//! A stalled socket is dropped without a close handshake: its send buffer is full, so
//! the handshake would wait on the very client that stopped reading. This module must
//! not write to sockets itself. Guarded by `tests/slow_consumer` (`time.rs`:
//! `a_client_that_stops_reading_is_closed_by_the_time_bound`,
//! `a_client_that_reads_slowly_but_steadily_is_kept`; `memory.rs`:
//! `stalled_clients_keep_the_server_memory_bounded`).

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Shared;
use crate::outbound::OutboundQueue;

/// Bytes a socket has accepted from its writer so far, shared by the socket
/// ([`Counted`]) and the writer's time bound ([`bounded`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress(Arc<AtomicU64>);

impl Progress {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A socket whose writes are counted into its [`Progress`]: one relaxed add per write
/// call, on the task that owns the socket.
#[derive(Debug)]
pub(crate) struct Counted<T> {
    io: T,
    progress: Progress,
}

impl<T> Counted<T> {
    /// Wraps `io`, with nothing written yet.
    pub(crate) fn new(io: T) -> Self {
        Self {
            io,
            progress: Progress::default(),
        }
    }

    /// The handle the writer's time bound reads.
    pub(crate) fn progress(&self) -> Progress {
        self.progress.clone()
    }

    fn count(&self, written: &Poll<std::io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = written {
            self.progress.0.fetch_add(*n as u64, Ordering::Relaxed);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.count(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.count(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Runs `write` under the time bound; `None` when it stalled (a whole period passed
/// with no byte taken by the socket whose writes `progress` counts), after closing the
/// connection `queue` finds (when the socket carries one) as a slow consumer and
/// counting it. `queue` is asked only then, so a write that finishes costs no lookup.
pub(crate) async fn bounded<T, Q: std::ops::Deref<Target = OutboundQueue>>(
    shared: &Shared,
    progress: &Progress,
    queue: impl FnOnce() -> Option<Q>,
    write: impl Future<Output = T>,
) -> Option<T> {
    let mut write = std::pin::pin!(write);
    // Most writes finish at once (the socket had room): no timer is armed for them,
    // so the bound costs nothing on the delivery path of a client that keeps up.
    if let Some(done) = write.as_mut().now_or_never() {
        return Some(done);
    }
    let period = shared.config.slow_consumer_timeout;
    let mut seen = progress.get();
    loop {
        if let Ok(done) = tokio::time::timeout(period, write.as_mut()).await {
            return Some(done);
        }
        let now = progress.get();
        if now == seen {
            break;
        }
        // The client read something in this period: a slow reader, not a stalled one.
        seen = now;
    }
    match queue() {
        Some(queue) => shared.hub.close_stalled(&queue),
        None => shared.hub.count_write_stall(),
    }
    tracing::warn!("closed a connection whose socket write stalled");
    None
}
