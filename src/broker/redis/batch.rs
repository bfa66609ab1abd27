//! Batched claims and pipelined publications: how one node keeps many emits in flight
//! on one Redis connection. Claims from concurrent emitters are grouped (the first
//! waiting emitter leads: it sends every queued claim as one call of the claim script,
//! hands each answer back, and sends what queued meanwhile the same way, a few batches
//! at most before it frees the lead); publications are queued in the node's order as
//! built, and a thread encodes and sends whatever is queued as one pipeline of
//! `PUBLISH`es. Must not decide anything: the Lua script
//! decides, claim after claim in the order the batch carries (submission order, so two
//! claims of one key are decided in the order they were made).
//!
//! Guarded by `tests/cluster/claims_redis.rs` (one script call per batch, counted by
//! Redis; every changed emit published once, an unchanged one never),
//! `tests/cluster/config_redis.rs`
//! (`concurrent_claims_of_one_key_are_decided_in_order_and_delivered_last_value_wins`:
//! batches happen, and every node ends on Redis's value), `tests/cluster/broker_redis.rs`
//! (`racing_identical_emits_on_two_nodes_give_one_event`) and `benches/broker.rs`
//! (`redis/changed_8_threads`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use redis::{Connection, RedisResult};

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
    /// Asked to lead if no emitter does (the lead fell free with claims queued).
    Woken,
    /// Decided (`None`: Redis unreachable).
    Answered(Option<Vec<String>>),
}

/// A queued claim; its emitter sleeps on `ready` until its turn changes, so a batch
/// wakes each of its emitters once and no other.
struct Slot {
    request: Request,
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

/// The claims waiting for a leader, and whether one is sending batches now.
#[derive(Default)]
pub(super) struct Claims {
    queue: Vec<Arc<Slot>>,
    leading: bool,
}

/// Publications queued beyond this are dropped and counted (a Redis too slow to keep
/// up must not grow the node's memory without bound).
pub(super) const PUBLISH_QUEUE: usize = 65_536;
/// Most publications per pipeline.
const PUBLISH_BATCH: usize = 512;
/// Most batches one emitter sends before it hands the lead on. A leader that keeps
/// sending what queued meanwhile saves the next batch a thread wake-up (on two busy
/// cores, the wait for a woken thread to run was a round trip's worth); the bound
/// keeps its own emit from waiting long behind others'.
const LEAD_BATCHES: usize = 4;

impl Shared {
    /// Decides `request` in a batch with the claims other emitters queued meanwhile;
    /// `None` if Redis is unreachable.
    pub(super) fn claim_batched(&self, request: Request) -> Option<Vec<String>> {
        let slot = Arc::new(Slot {
            request,
            turn: Mutex::new(Turn::Queued),
            ready: Condvar::new(),
        });
        let mut claims = self.claims.lock();
        claims.queue.push(Arc::clone(&slot));
        while claims.leading {
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
        claims.leading = true;
        drop(claims);
        self.lead();
        match slot.take() {
            Turn::Answered(answer) => answer,
            // Unreachable: a leader's first batch holds its own claim (no batch is in
            // flight while the lead is free).
            Turn::Queued | Turn::Woken => None,
        }
    }

    /// Sends what is queued, batch after batch while claims keep coming (at most
    /// [`LEAD_BATCHES`]), then frees the lead, waking the oldest queued claim's emitter
    /// to take it unless an arriving emitter does first.
    fn lead(&self) {
        for _ in 0..LEAD_BATCHES {
            let batch = {
                let mut claims = self.claims.lock();
                if claims.queue.is_empty() {
                    claims.leading = false;
                    return;
                }
                std::mem::take(&mut claims.queue)
            };
            let mut answers = self.run_batch(&batch).map(Vec::into_iter);
            for slot in &batch {
                slot.set(Turn::Answered(answers.as_mut().and_then(Iterator::next)));
            }
        }
        let mut claims = self.claims.lock();
        claims.leading = false;
        if let Some(oldest) = claims.queue.first() {
            oldest.set(Turn::Woken);
        }
    }

    /// Sends `batch` as one call of the claim script; one answer per claim, in order,
    /// or `None` if Redis is unreachable.
    fn run_batch(&self, batch: &[Arc<Slot>]) -> Option<Vec<Vec<String>>> {
        let hash = self.script.get_hash().to_owned();
        let keys = 1 + batch.iter().map(|s| s.request.keys.len()).sum::<usize>();
        let seq = self.key("seq");
        let answers = self.with_command("claim", |c| {
            let run = |c: &mut Connection| -> RedisResult<Vec<Vec<String>>> {
                let mut command = redis::cmd("EVALSHA");
                command.arg(&hash).arg(keys).arg(&seq);
                for slot in batch {
                    command.arg(&slot.request.keys);
                }
                for slot in batch {
                    command.arg(&slot.request.args);
                }
                command.query(c)
            };
            match run(c) {
                Err(error)
                    if error.kind()
                        == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    self.script.load(c)?;
                    run(c)
                }
                other => other,
            }
        })?;
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
                for publication in &batch {
                    self.pipe_publication(&mut pipe, publication);
                }
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
