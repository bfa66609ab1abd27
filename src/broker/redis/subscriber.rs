//! The subscriber thread: other nodes' messages from the one channel, decoded, with this
//! node's own and stale ones dropped, handed to the hub. Must not decide change.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Shared, open};
use crate::broker::{Envelope, Message};

impl Shared {
    fn deliver(&self, payload: &[u8]) {
        // A node's own recovery request comes back as a marker: its place in the
        // channel tells the node which other nodes' emits the holder already had
        // (`hub/handoff.rs`). Its other messages are skipped before being decoded.
        if Envelope::is_own(payload, &self.node_id) {
            return;
        }
        let envelope = match Envelope::decode(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "dropped a malformed broker message");
                return;
            }
        };
        if envelope.origin == self.node_id
            && !matches!(envelope.message, Message::RecoveryRequest(_))
        {
            return;
        }
        if let Some((key, seq)) = &envelope.claim {
            let mut applied = self.applied.lock();
            let last = applied.entry(key.clone()).or_insert(0);
            if *last >= *seq {
                self.stale.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *last = *seq;
        }
        self.received.fetch_add(1, Ordering::Relaxed);
        let node = self.node.lock().clone();
        if let Some(node) = node {
            node.receive(envelope);
        }
    }

    /// Receives other nodes' messages; `subscribed` is told once the first subscription
    /// is in place, so a hub's `build` returns only when it hears the cluster.
    pub(super) fn subscriber_loop(self: Arc<Self>, subscribed: std::sync::mpsc::Sender<()>) {
        while !self.stop.load(Ordering::SeqCst) {
            if self.down.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            // A new connection asks the target again: after a Sentinel or Cluster
            // failover it reaches the promoted master (a Cluster's PUBLISH reaches every
            // node, so the slot's master hears all nodes).
            let Ok(mut connection) = open(&self.client) else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            let mut pubsub = connection.as_pubsub();
            if pubsub.subscribe(&self.channel).is_err()
                || pubsub
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .is_err()
            {
                continue;
            }
            let _ = subscribed.send(());
            while !self.stop.load(Ordering::SeqCst) && !self.down.load(Ordering::SeqCst) {
                match pubsub.get_message() {
                    Ok(message) => self.deliver(message.get_payload_bytes()),
                    Err(error) if error.is_timeout() => {}
                    Err(_) => break,
                }
            }
        }
    }
}
