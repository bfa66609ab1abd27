//! The time side of the slow-consumer rule: a writer's socket writes (one batch of
//! frames and its flush) must finish within `ServerConfig::slow_consumer_timeout`,
//! else the connection is closed as a slow consumer, its queued frames dropped, and
//! the close counted (`write_stalls`). The byte side is the queue's own bound
//! (`outbound::queue`). Together they bound a server's memory per connection whatever
//! a client does, without closing a healthy client in a burst.
//!
//! A stalled socket is dropped without a close handshake: its send buffer is full, so
//! the handshake would wait on the very client that stopped reading. This module must
//! not write to sockets itself. Guarded by `tests/server/slow_consumer.rs`
//! (`a_client_that_stops_reading_is_closed_and_counted`,
//! `stalled_clients_keep_the_server_memory_bounded`).

use std::future::Future;

use futures_util::FutureExt;

use super::Shared;
use crate::outbound::OutboundQueue;

/// Runs `write` under the time bound; `None` when it stalled, after closing the
/// connection `queue` finds (when the socket carries one) as a slow consumer and
/// counting it. `queue` is asked only then, so a write that finishes costs no lookup.
pub(crate) async fn bounded<T, Q: std::ops::Deref<Target = OutboundQueue>>(
    shared: &Shared,
    queue: impl FnOnce() -> Option<Q>,
    write: impl Future<Output = T>,
) -> Option<T> {
    let mut write = std::pin::pin!(write);
    // Most writes finish at once (the socket had room): no timer is armed for them,
    // so the bound costs nothing on the delivery path of a client that keeps up.
    if let Some(done) = write.as_mut().now_or_never() {
        return Some(done);
    }
    match tokio::time::timeout(shared.config.slow_consumer_timeout, write).await {
        Ok(done) => Some(done),
        Err(_) => {
            match queue() {
                Some(queue) => shared.hub.close_stalled(&queue),
                None => shared.hub.count_write_stall(),
            }
            tracing::warn!("closed a connection whose socket write stalled");
            None
        }
    }
}
