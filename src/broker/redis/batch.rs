//! Batched claims and pipelined publications: how one node keeps many emits in flight
//! on few Redis connections. Claims from concurrent emitters are grouped: an emitter
//! that finds one of the [`LANES`] claim connections free leads on it (it sends every
//! queued claim that may leave as one call of the claim script, hands each answer back
//! and frees the lane, waking the oldest waiting emitter to take it); a claim waits
//! while another claim of one of its keys is in flight on another lane. So a batch
//! can leave while another is in flight, and two claims of one key are still decided
//! in the order they were made. Publications are queued in the node's order as built;
//! a thread encodes and sends whatever is queued as one pipeline of `PUBLISH`es. Must
//! not decide anything: the Lua script decides, claim after claim in the order the
//! batch carries.
//!
//! Guarded by `tests/cluster/claims_redis.rs` (one script call per batch, counted by
//! Redis; every changed emit published once, an unchanged one never),
//! `tests/cluster/config_redis.rs`
//! (`concurrent_claims_of_one_key_are_decided_in_order_and_delivered_last_value_wins`:
//! batches happen, and every node ends on Redis's value), `tests/cluster/broker_redis.rs`
//! (`racing_identical_emits_on_two_nodes_give_one_event`), this file's test of which
//! claims may leave, and `benches/broker.rs` (`redis/changed_8_threads`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use redis::{Connection, RedisResult};
use std::hash::BuildHasher;

use super::history::Publication;
use super::{Shared, open};

/// One claim as the script reads it: the keys (state, then the keys to clear) and the
/// arguments (key count, field count, then (field, value, baseline) triples).
pub(super) struct Request {
    pub(super) keys: Vec<String>,
    pub(super) args: Vec<String>,
}

/// Where a queued claim stands.
enum Turn {
    /// Waiting for a leader to send it.
    Queued,
    /// Asked to lead if no emitter does (a lane fell free with claims queued).
    Woken,
    /// Decided (`None`: Redis unreachable).
    Answered(Option<Vec<String>>),
}

/// A queued claim; its emitter sleeps on `ready` until its turn changes, so a batch
/// wakes each of its emitters once and no other.
struct Slot {
    request: Request,
    /// The hashes of the request's keys: a claim waits while another claim of one of
    /// its keys is in flight on another lane (a collision only makes it wait).
    hashes: Vec<u64>,
    turn: Mutex<Turn>,
    ready: Condvar,
}

impl Slot {
    fn set(&self, turn: Turn) {
        *self.turn.lock() = turn;
        self.ready.notify_one();
    }

    fn take(&self) -> Turn {
        std::mem::replace(&mut *self.turn.lock(), Turn::Queued)
    }
}

/// A connection claims are sent on, with the count of reconnections it was opened
/// after (one opened before an outage may lead to a master that died in a failover).
#[derive(Default)]
pub(super) struct Lane {
    connection: Option<Connection>,
    opened_after: u64,
}

/// The claims waiting for a leader, the lanes no leader holds, and the key hashes of
/// the claims in flight.
pub(super) struct Claims {
    queue: Vec<Arc<Slot>>,
    free: Vec<usize>,
    in_flight: Vec<u64>,
}

impl Default for Claims {
    fn default() -> Self {
        Self {
            queue: Vec::new(),
            free: (0..LANES).collect(),
            in_flight: Vec::new(),
        }
    }
}

impl Claims {
    /// Takes the queued claims that may be sent now, in submission order: all of them
    /// unless one touches a key in flight, which stays queued with every later claim of
    /// its keys (so two claims of one key are decided in the order they were made).
    fn take_sendable(&mut self) -> Vec<Arc<Slot>> {
        let queue = std::mem::take(&mut self.queue);
        let mut batch = Vec::with_capacity(queue.len());
        for slot in queue {
            let held = slot.hashes.iter().any(|hash| {
                self.in_flight.contains(hash)
                    || self.queue.iter().any(|other| other.hashes.contains(hash))
            });
            if held {
                self.queue.push(slot);
            } else {
                batch.push(slot);
            }
        }
        for slot in &batch {
            self.in_flight.extend_from_slice(&slot.hashes);
        }
        batch
    }

    /// The claims of `batch` are answered: their keys are no longer in flight.
    fn landed(&mut self, batch: &[Arc<Slot>]) {
        for slot in batch {
            for hash in &slot.hashes {
                if let Some(at) = self.in_flight.iter().position(|h| h == hash) {
                    self.in_flight.swap_remove(at);
                }
            }
        }
    }
}

/// Publications queued beyond this are dropped and counted (a Redis too slow to keep
/// up must not grow the node's memory without bound).
pub(super) const PUBLISH_QUEUE: usize = 65_536;
/// Most publications per pipeline.
const PUBLISH_BATCH: usize = 512;
/// Connections claims are sent on: a batch can leave while others are in flight, so a
/// claim waits for its own round trip and not also for the rest of another's. More
/// lanes mean smaller batches (each costs Redis a script call); 2, 4 and 8 were within
/// this machine's noise of each other with 32 emitters, and 4 was ahead of 2 with 8.
pub(super) const LANES: usize = 4;

impl Shared {
    /// Decides `request` in a batch with the claims other emitters queued meanwhile;
    /// `None` if Redis is unreachable.
    pub(super) fn claim_batched(&self, request: Request) -> Option<Vec<String>> {
        let hashes = request.keys.iter().map(|key| hash_key(key)).collect();
        let slot = Arc::new(Slot {
            request,
            hashes,
            turn: Mutex::new(Turn::Queued),
            ready: Condvar::new(),
        });
        let mut claims = self.claims.lock();
        claims.queue.push(Arc::clone(&slot));
        loop {
            if let Some(lane) = claims.free.pop() {
                let batch = claims.take_sendable();
                if batch.is_empty() {
                    claims.free.push(lane);
                } else {
                    drop(claims);
                    self.lead(lane, batch);
                    if let Turn::Answered(answer) = slot.take() {
                        return answer;
                    }
                    claims = self.claims.lock();
                    continue;
                }
            }
            drop(claims);
            let mut turn = slot.turn.lock();
            loop {
                match std::mem::replace(&mut *turn, Turn::Queued) {
                    Turn::Answered(answer) => return answer,
                    Turn::Woken => break,
                    Turn::Queued => slot.ready.wait(&mut turn),
                }
            }
            drop(turn);
            claims = self.claims.lock();
        }
    }

    /// Sends `batch` on `lane` and hands each answer back, then frees the lane, waking
    /// the oldest queued claim's emitter to take it unless an arriving emitter does
    /// first. One batch only: the leader's own emit waits for it, and what queued
    /// meanwhile can leave on another lane.
    fn lead(&self, lane: usize, batch: Vec<Arc<Slot>>) {
        let mut answers = self.run_batch(lane, &batch).map(Vec::into_iter);
        self.claims.lock().landed(&batch);
        for slot in &batch {
            slot.set(Turn::Answered(answers.as_mut().and_then(Iterator::next)));
        }
        let mut claims = self.claims.lock();
        claims.free.push(lane);
        if let Some(oldest) = claims.queue.first() {
            oldest.set(Turn::Woken);
        }
    }

    /// Sends `batch` as one call of the claim script on `lane`; one answer per claim,
    /// in order, or `None` if Redis is unreachable.
    fn run_batch(&self, lane: usize, batch: &[Arc<Slot>]) -> Option<Vec<Vec<String>>> {
        if self.down.load(Ordering::SeqCst) {
            return None;
        }
        let mut lane = self.lanes[lane].lock();
        let reconnects = self.reconnects.load(Ordering::SeqCst);
        if lane.opened_after != reconnects {
            lane.connection = None;
        }
        if lane.connection.is_none() {
            lane.opened_after = reconnects;
            match open(&self.client).and_then(|mut c| {
                self.script.load(&mut c)?;
                Ok(c)
            }) {
                Ok(connection) => lane.connection = Some(connection),
                Err(error) => {
                    self.mark_down("claim connection", &error);
                    return None;
                }
            }
        }
        let connection = lane.connection.as_mut()?;
        let hash = self.script.get_hash();
        let keys = 1 + batch.iter().map(|s| s.request.keys.len()).sum::<usize>();
        let seq = self.key("seq");
        let run = |c: &mut Connection| -> RedisResult<Vec<Vec<String>>> {
            let mut command = redis::cmd("EVALSHA");
            command.arg(hash).arg(keys).arg(&seq);
            for slot in batch {
                command.arg(&slot.request.keys);
            }
            for slot in batch {
                command.arg(&slot.request.args);
            }
            command.query(c)
        };
        let answers = match run(connection) {
            Err(error)
                if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                self.script.load(connection).and_then(|_| run(connection))
            }
            other => other,
        };
        let answers = match answers {
            Ok(answers) => answers,
            Err(error) => {
                lane.connection = None;
                drop(lane);
                self.mark_down("claim", &error);
                return None;
            }
        };
        let sent = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        self.claims_sent.fetch_add(sent, Ordering::Relaxed);
        self.claim_round_trips.fetch_add(1, Ordering::Relaxed);
        Some(answers)
    }

    /// Queues an encoded publication (in the node's order); counted as a failure if
    /// Redis is down or the queue is full.
    pub(super) fn queue_publication(&self, publication: Publication) {
        if self.down.load(Ordering::SeqCst) || self.publications.0.try_send(publication).is_err() {
            self.publish_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends queued publications, as many as are waiting in one pipeline, on the
    /// publisher's own connection; on stop, sends what is left first.
    pub(super) fn publisher_loop(self: Arc<Self>) {
        let queue = self.publications.1.clone();
        let mut connection: Option<Connection> = None;
        let mut opened_after = 0;
        loop {
            let first = match queue.recv_timeout(Duration::from_millis(200)) {
                Ok(bytes) => bytes,
                Err(_) if self.stop.load(Ordering::SeqCst) => return,
                Err(_) => continue,
            };
            let mut batch = vec![first];
            batch.extend(queue.try_iter().take(PUBLISH_BATCH - 1));
            // A connection opened before the node's last outage may lead to a master
            // that died in a failover: its first pipeline would be lost.
            let reconnects = self.reconnects.load(Ordering::SeqCst);
            if reconnects != opened_after {
                connection = None;
            }
            if connection.is_none() && !self.down.load(Ordering::SeqCst) {
                opened_after = reconnects;
                connection = open(&self.client)
                    .and_then(|mut c| {
                        self.prepare_publisher(&mut c)?;
                        Ok(c)
                    })
                    .ok();
            }
            let sent = connection.as_mut().is_some_and(|c| {
                let mut pipe = redis::pipe();
                self.pipe_publications(&mut pipe, &batch);
                pipe.query::<()>(c).is_ok()
            });
            for publication in &batch {
                if let Publication::Flushed(done) = publication {
                    let _ = done.try_send(());
                }
            }
            if !sent {
                connection = None;
                let lost = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                self.publish_failures.fetch_add(lost, Ordering::Relaxed);
            }
        }
    }
}

/// The hash a claim's key is held by while in flight.
fn hash_key(key: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0).hash_one(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(keys: &[&str]) -> Arc<Slot> {
        Arc::new(Slot {
            request: Request {
                keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                args: Vec::new(),
            },
            hashes: keys.iter().map(|k| hash_key(k)).collect(),
            turn: Mutex::new(Turn::Queued),
            ready: Condvar::new(),
        })
    }

    fn keys(slots: &[Arc<Slot>]) -> Vec<&str> {
        slots.iter().map(|s| s.request.keys[0].as_str()).collect()
    }

    #[test]
    fn a_claim_of_a_key_in_flight_waits_with_every_later_claim_of_that_key() {
        let mut claims = Claims {
            queue: vec![slot(&["a"]), slot(&["b"])],
            ..Claims::default()
        };
        let first = claims.take_sendable();
        assert_eq!(keys(&first), ["a", "b"], "nothing in flight: all leave");
        // "a" is in flight: its next claims wait, in their order; others leave.
        claims.queue = vec![slot(&["a"]), slot(&["c"]), slot(&["a"]), slot(&["d", "c2"])];
        let second = claims.take_sendable();
        assert_eq!(keys(&second), ["c", "d"]);
        assert_eq!(keys(&claims.queue), ["a", "a"]);
        // A claim that clears a key in flight waits too, and so does a later one of
        // its own key.
        claims.queue.extend([slot(&["e", "c"]), slot(&["e"])]);
        assert!(claims.take_sendable().is_empty());
        assert_eq!(keys(&claims.queue), ["a", "a", "e", "e"]);
        claims.landed(&first);
        claims.landed(&second);
        assert!(
            claims.in_flight.is_empty(),
            "landed claims leave no key behind"
        );
        // Nothing in flight: they all leave in one batch, which the script decides in
        // its order.
        let third = claims.take_sendable();
        assert_eq!(keys(&third), ["a", "a", "e", "e"]);
        assert!(claims.queue.is_empty());
    }
}
