//! Recovery of a client whose node died, from the cluster's event history
//! (`history.rs`, `broker/redis/history.rs`). Each node records, in Redis, the identity
//! and page of every recoverable connection under its pid (`<node>~<random>`), and
//! every frame it queues carries, besides its offset `X`, the mark `R`: the highest
//! history position of another node's message applied here. A client that saw `(X, R)`
//! on node A saw exactly: A's own events up to offset `X`, and other nodes' messages up
//! to position `R` (the channel's order is the positions' order). When A is dead, the
//! node B the client reconnects to takes the record once, authenticates the new
//! connection with it (never with what the client sends), notes its own `(L, R_B)`
//! (last offset, watermark), waits until its own publications are in Redis, and reads
//! the user's stream, everyone's and, for an admin, the admins'. It replays, in
//! position order, the entries the connection is entitled to (the registry decides,
//! with B's routing) that the client had not seen and that B will not deliver live:
//! position above `R`, not one of A's own up to `X`, and either B's own up to `L` or
//! another node's up to `R_B`. A change older than one of the same state kept before
//! it is skipped, as every node skips a stale change. A session ended after what the
//! client saw refuses the recovery. Replayed frames carry `(L, R_B)`.
//!
//! Must not touch sockets (the transport writes the replay). Guarded by
//! `tests/clients/node/cross_node_recovery.test.js` (SIGKILLed holder).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use super::super::Hub;
use crate::auth::{Identity, Role};
use crate::broker::HistoryEntry;
use crate::call::Step;
use crate::event::now_ms;
use crate::ids::ConnectionId;
use crate::outbound::OutboundEvent;
use crate::registry::routing::PageIndex;

/// What a client saw, from the offset it hands back: `"<X>.<R>"` (event history on).
pub(crate) fn parse_marked_offset(text: &str) -> Option<(u64, Option<u64>)> {
    match text.split_once('.') {
        Some((offset, mark)) => Some((offset.parse().ok()?, Some(mark.parse().ok()?))),
        None => Some((text.parse().ok()?, None)),
    }
}

impl Hub {
    /// Whether this hub keeps the event history.
    pub(crate) fn keeps_history(&self) -> bool {
        self.inner.handoffs.history.load(Ordering::Relaxed)
    }

    /// The pid of a new recoverable connection: `<node>~<random>` with the history on
    /// (a node recovering it finds the record by the node's name), else `random`.
    pub(crate) fn recoverable_pid(&self, random: String) -> String {
        if self.keeps_history() {
            format!("{}~{random}", self.inner.broker.origin())
        } else {
            random
        }
    }

    /// Notes the pid of a recoverable connection (history on).
    pub(crate) fn set_pid(&self, id: ConnectionId, pid: &str) {
        if self.keeps_history() {
            self.inner.handoffs.pids.lock().insert(id, pid.to_owned());
        }
    }

    /// Records connection `id`'s identity and page under its pid (history on; users
    /// and admins only).
    pub(in crate::hub) fn record_identity(&self, id: ConnectionId) {
        if !self.keeps_history() {
            return;
        }
        let Some(pid) = self.inner.handoffs.pids.lock().get(&id).cloned() else {
            return;
        };
        let Some((identity, page)) = self.inner.registry.identity(id) else {
            return;
        };
        if identity.role == Role::Device {
            return;
        }
        let record = json!({
            "identity": {"user": identity.user_id, "role": identity.role, "session": identity.session_id},
            "page": self.inner.routing.page_name(page),
            "at": now_ms(),
        });
        self.inner
            .broker
            .record_identity(&pid, Some(record.to_string()));
    }

    /// Forgets connection `id`'s record (it was detached).
    pub(in crate::hub) fn forget_identity(&self, id: ConnectionId) {
        if !self.keeps_history() {
            return;
        }
        if let Some(pid) = self.inner.handoffs.pids.lock().remove(&id) {
            self.inner.broker.record_identity(&pid, None);
        }
    }

    /// Recovers, from the history, the client of dead node's pid `pid` that saw
    /// `(offset, mark)`, on this node's unauthenticated `connection`; the frames to
    /// replay, or a refusal code (`holder_alive`: ask the holder instead).
    pub(crate) fn recover_from_history(
        &self,
        pid: &str,
        (offset, mark): (u64, u64),
        connection: ConnectionId,
        window: Duration,
    ) -> Result<Vec<Arc<OutboundEvent>>, String> {
        let (holder, identity, page) = self.take_dead_record(pid, window)?;
        let (last, watermark) = self.adopt_recovered(connection, &identity, page)?;
        self.set_pid(connection, pid);
        self.record_identity(connection);
        let broker = &self.inner.broker;
        broker.flush(Duration::from_millis(500));
        let mut streams = vec![format!("user:{}", identity.user_id), "everyone".to_owned()];
        if identity.role == Role::Admin {
            streams.push("admins".to_owned());
        }
        let entries = broker.history(&streams).ok_or("history_unreachable")?;
        let bounds = Bounds {
            holder: &holder,
            offset,
            mark,
            last,
            watermark,
        };
        self.replay(entries, &bounds, &identity, connection)
    }

    /// Takes, once, the record of dead node's pid `pid`: its node, and the identity and
    /// page it held, if its window is not over.
    fn take_dead_record(
        &self,
        pid: &str,
        window: Duration,
    ) -> Result<(String, Identity, PageIndex), String> {
        let broker = &self.inner.broker;
        let record = broker.recorded_identity(pid).ok_or("unknown_pid")?;
        if record.holder_alive {
            return Err("holder_alive".into());
        }
        let args: Value = serde_json::from_str(&record.record).map_err(|_| "malformed_record")?;
        // The holder was alive at its last heartbeat, and when it wrote the record.
        let alive_at = record.last_beat_ms.max(args["at"].as_u64().unwrap_or(0));
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        if now_ms().saturating_sub(alive_at) > window_ms {
            tracing::debug!(
                pid,
                alive_at,
                beat = record.last_beat_ms,
                "the dead holder's window is over"
            );
            return Err("expired".into());
        }
        let (identity, page) = self.surrendered_identity(&args)?;
        if !broker.take_recorded_identity(pid) {
            return Err("unknown_pid".into());
        }
        Ok((record.node, identity, page))
    }

    /// Authenticates `connection` with the recovered identity, under the emit lock, and
    /// returns this node's `(last offset, watermark)` at that moment.
    fn adopt_recovered(
        &self,
        connection: ConnectionId,
        identity: &Identity,
        page: PageIndex,
    ) -> Result<(u64, u64), String> {
        let _guard = self.lock().map_err(|e| e.to_string())?;
        let (queue, _) = self
            .inner
            .registry
            .connection(connection)
            .ok_or("session_closed")?;
        let _ = queue.drain();
        self.inner
            .registry
            .authenticate(
                connection,
                identity.clone(),
                page,
                self.inner.limits.max_connections_per_user,
            )
            .map_err(|e| e.to_string())?;
        let handoffs = &self.inner.handoffs;
        Ok((
            handoffs.last_offset.load(Ordering::SeqCst),
            handoffs.watermark.load(Ordering::SeqCst),
        ))
    }

    /// The history entries, in position order, that `connection` is entitled to and
    /// neither saw nor will receive live; `session_closed` if its session ended since.
    fn replay(
        &self,
        entries: Vec<HistoryEntry>,
        bounds: &Bounds<'_>,
        identity: &Identity,
        connection: ConnectionId,
    ) -> Result<Vec<Arc<OutboundEvent>>, String> {
        let origin = self.inner.broker.origin();
        let mut newest: HashMap<String, u64> = HashMap::new();
        let mut replay = Vec::new();
        for entry in entries {
            if let Some((key, seq)) = &entry.claim {
                let last_seq = newest.entry(key.clone()).or_insert(0);
                if *last_seq > *seq {
                    continue;
                }
                *last_seq = *seq;
            }
            if bounds.seen(&entry) || bounds.live_here(&entry, origin) {
                continue;
            }
            match entry.step {
                Step::EndSession { user, session } => {
                    if user == identity.user_id && Some(&session) == identity.session_id.as_ref() {
                        return Err("session_closed".into());
                    }
                }
                Step::Event(event) => {
                    let route = self.inner.routing.route_for(&event.name, &event.audience);
                    let mut reaches = false;
                    self.inner
                        .registry
                        .for_each_recipient(&event.audience, route, |recipient| {
                            reaches |= recipient.id() == connection;
                        });
                    if reaches {
                        replay.push(OutboundEvent::with_offset(
                            event.name,
                            event.payload,
                            None,
                            (Some(bounds.last), Some(bounds.watermark)),
                            event.attachments,
                            Arc::clone(&self.inner.metrics),
                        ));
                    }
                }
            }
        }
        Ok(replay)
    }
}

/// What the client saw (the dead `holder`'s own events up to `offset`, other nodes' up
/// to position `mark`) and what this node delivers live from now on (its own after
/// offset `last`, other nodes' after position `watermark`).
struct Bounds<'a> {
    holder: &'a str,
    offset: u64,
    mark: u64,
    last: u64,
    watermark: u64,
}

impl Bounds<'_> {
    /// The client saw this entry before its node died.
    fn seen(&self, entry: &HistoryEntry) -> bool {
        entry.position <= self.mark
            || (entry.origin == self.holder && entry.offset.is_some_and(|o| o <= self.offset))
    }

    /// This node will deliver this entry live (`origin` is this node's).
    fn live_here(&self, entry: &HistoryEntry, origin: &str) -> bool {
        if entry.origin == origin {
            entry.offset.is_none_or(|o| o > self.last)
        } else {
            entry.position > self.watermark
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_marked_offset;

    #[test]
    fn an_offset_is_read_with_or_without_its_history_mark() {
        assert_eq!(parse_marked_offset("17"), Some((17, None)));
        assert_eq!(parse_marked_offset("17.4"), Some((17, Some(4))));
        assert_eq!(parse_marked_offset("17."), None);
        assert_eq!(parse_marked_offset("x.4"), None);
        assert_eq!(parse_marked_offset(""), None);
    }
}
