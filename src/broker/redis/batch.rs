//! Batched claims and pipelined publications: how one node keeps many emits in flight
//! on one Redis connection. Claims from concurrent emitters are grouped (the first
//! waiting emitter leads: it sends every queued claim as one pipeline of `EVALSHA`s and
//! hands each answer back); publications are queued in the node's order and a thread
//! sends whatever is queued as one pipeline of `PUBLISH`es. Must not decide anything:
//! the Lua script decides, in the order the pipeline carries (submission order, so two
//! claims of one key are decided in the order they were made).
//!
//! Guarded by `tests/cluster/config_redis.rs`
//! (`concurrent_claims_of_one_key_are_decided_in_order_and_delivered_last_value_wins`:
//! batches happen, and every node ends on Redis's value), `tests/cluster/broker_redis.rs`
//! (`racing_identical_emits_on_two_nodes_give_one_event`) and `benches/broker.rs`
//! (`redis/changed_8_threads`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use redis::{Connection, RedisResult};

use super::history::Publication;
use super::{Shared, open};

/// One claim as the script reads it: the keys (state, sequence counter, keys to clear)
/// and the (field, value, baseline) arguments.
pub(super) struct Request {
    pub(super) keys: Vec<String>,
    pub(super) args: Vec<String>,
}

/// A queued claim and, once its batch ran, its answer (`None`: Redis unreachable).
struct Slot {
    request: Request,
    answer: Mutex<Option<Option<Vec<String>>>>,
}

/// The claims waiting for a leader, and whether one is sending a batch now.
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

impl Shared {
    /// Decides `request` in a batch with the claims other emitters queued meanwhile;
    /// `None` if Redis is unreachable.
    pub(super) fn claim_batched(&self, request: Request) -> Option<Vec<String>> {
        let slot = Arc::new(Slot {
            request,
            answer: Mutex::new(None),
        });
        let mut claims = self.claims.lock();
        claims.queue.push(Arc::clone(&slot));
        loop {
            if let Some(answer) = slot.answer.lock().take() {
                return answer;
            }
            if claims.leading {
                self.claimed.wait(&mut claims);
                continue;
            }
            claims.leading = true;
            let batch = std::mem::take(&mut claims.queue);
            parking_lot::MutexGuard::unlocked(&mut claims, || self.run_batch(&batch));
            claims.leading = false;
            self.claimed.notify_all();
        }
    }

    /// Sends `batch` as one pipeline and fills every slot's answer.
    fn run_batch(&self, batch: &[Arc<Slot>]) {
        let hash = self.script.get_hash().to_owned();
        let answers = self.with_command("claim", |c| {
            let run = |c: &mut Connection| -> RedisResult<Vec<Vec<String>>> {
                let mut pipe = redis::pipe();
                for slot in batch {
                    let request = &slot.request;
                    pipe.cmd("EVALSHA")
                        .arg(&hash)
                        .arg(request.keys.len())
                        .arg(&request.keys)
                        .arg(&request.args);
                }
                pipe.query(c)
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
        });
        match answers {
            Some(answers) => {
                let sent = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                self.claims_sent.fetch_add(sent, Ordering::Relaxed);
                self.claim_round_trips.fetch_add(1, Ordering::Relaxed);
                for (slot, answer) in batch.iter().zip(answers) {
                    *slot.answer.lock() = Some(Some(answer));
                }
            }
            None => {
                for slot in batch {
                    *slot.answer.lock() = Some(None);
                }
            }
        }
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
        loop {
            let first = match queue.recv_timeout(Duration::from_millis(200)) {
                Ok(bytes) => bytes,
                Err(_) if self.stop.load(Ordering::SeqCst) => return,
                Err(_) => continue,
            };
            let mut batch = vec![first];
            batch.extend(queue.try_iter().take(PUBLISH_BATCH - 1));
            if connection.is_none() && !self.down.load(Ordering::SeqCst) {
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
