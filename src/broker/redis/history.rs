//! The cluster's event history on Redis: every recorded event of a changed call is
//! appended, in the same Lua script that publishes the call, to a Stream (one per user,
//! one for admins, one for everyone), under one history position taken from a counter,
//! and the published message carries that position; one call of the script does this
//! for a run of up to [`HISTORY_RUN`] messages of a pipeline, in order. One script does
//! all three, so the channel's order and the history's positions agree: a node that applied the message
//! at position `p` has applied every message below `p` too. Each stream keeps the
//! recovery window (by entry time, `MINID ~`) and at most about `max_len` entries
//! (`MAXLEN ~`), and expires a window after its last append. Every key shares the broker's
//! hash tag (`{mcrt:}history:…`), so the script touches one slot of a Redis Cluster. Must not
//! decide who may read an entry (the replaying node's registry does, `hub/handoff/`).
//!
//! Guarded by `tests/cluster/history_redis.rs` and `benches/broker.rs`
//! (`redis_history/changed`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{Connection, RedisResult, Script};

use super::Shared;
use crate::broker::wire::{HistoryEntry, entry_from, entry_json, stream_of};
use crate::broker::{Envelope, Recorded};

/// Appends and publishes a run of messages, in order, in one call (the call itself costs
/// Redis more than the appends; see `claim.rs`). `ARGV[1..3]` are the channel, the
/// window in ms and the length bound; then, per message, the number of its streams, the
/// message (a JSON object) and one entry per stream, whose keys follow `KEYS[1]` (the
/// position counter) in the same order. Each message takes the next history position,
/// is appended to its streams (trimmed to the window by time and to about the bound,
/// expiring a window after the append) and is published with the position as its
/// first field `hseq`. Returns the last position.
const HISTORY_SCRIPT: &str = r#"
local now = redis.call('TIME')
local oldest = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2]))
local trimmed = {}
local position = '0'
local k = 2
local a = 4
while a <= #ARGV do
  local streams = tonumber(ARGV[a])
  position = string.format('%d', redis.call('INCR', KEYS[1]))
  for i = 1, streams do
    local key = KEYS[k]
    redis.call('XADD', key, 'MINID', '~', oldest, '*', 'p', position, 'e', ARGV[a + 1 + i])
    if not trimmed[key] then
      trimmed[key] = true
      redis.call('XTRIM', key, 'MAXLEN', '~', ARGV[3])
      redis.call('PEXPIRE', key, ARGV[2])
    end
    k = k + 1
  end
  redis.call('PUBLISH', ARGV[1], '{"hseq":' .. position .. ',' .. string.sub(ARGV[a + 1], 2))
  a = a + 2 + streams
end
return position
"#;

/// Most messages per call of the history script: Redis runs a script to its end before
/// anything else, so a long run is split rather than making other clients wait.
const HISTORY_RUN: usize = 64;

/// One queued publication: a message, or a message and the events to append to the
/// history with it. Messages are queued as built and encoded by the publisher thread
/// (`batch.rs`), off the emit lock they were queued under.
pub(super) enum Publication {
    Plain(Box<Envelope>),
    Recorded {
        envelope: Box<Envelope>,
        recorded: Vec<Recorded>,
    },
    /// A pid's identity record written (`Some`) or removed.
    Identity {
        pid: String,
        record: Option<String>,
    },
    /// Tells the waiting [`Shared::flush`] that everything before it was sent.
    Flushed(crossbeam_channel::Sender<()>),
}

/// The field of a node's pid hash that holds its last heartbeat (ms).
const BEAT_FIELD: &str = "~beat";

/// The history's settings once turned on.
#[derive(Debug, Clone, Copy)]
pub(super) struct HistorySettings {
    pub(super) window: Duration,
    pub(super) max_len: usize,
}

/// The history script (loaded with the claim script).
pub(super) fn script() -> Script {
    Script::new(HISTORY_SCRIPT)
}

impl Shared {
    /// The key of history stream `suffix` (`user:<id>`, `admins`, `everyone`, `seq`).
    pub(super) fn history_key(&self, suffix: &str) -> String {
        self.key(&format!("history:{suffix}"))
    }

    /// The hash of the pids node `node` recorded.
    fn pids_key(&self, node: &str) -> String {
        self.history_key(&format!("pids:{node}"))
    }

    /// How long a node's pid hash outlives its last write: the window and a margin.
    fn pids_ttl(&self) -> Option<u64> {
        let settings = (*self.history.lock())?;
        Some(u64::try_from(settings.window.as_millis()).unwrap_or(u64::MAX) + 5_000)
    }

    /// The heartbeat's part: this node's pid hash says when it was last alive.
    pub(super) fn beat_pids(&self, connection: &mut Connection) {
        let Some(ttl) = self.pids_ttl() else { return };
        let key = self.pids_key(&self.node_id);
        let now = crate::event::now_ms();
        let _: RedisResult<()> = redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg(BEAT_FIELD)
            .arg(now)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl)
            .ignore()
            .query(connection);
    }

    /// Drops this node's pid hash (a node that leaves on purpose ends its sessions).
    pub(super) fn forget_pids(&self, connection: &mut Connection) {
        let _: RedisResult<()> = redis::cmd("DEL")
            .arg(self.pids_key(&self.node_id))
            .query(connection);
    }

    /// The record of `pid` (named `<node>~<random>` by its node) and that node's state.
    pub(super) fn recorded_identity(&self, pid: &str) -> Option<crate::broker::RecordedIdentity> {
        self.history.lock().as_ref()?;
        let (node, _) = pid.rsplit_once('~')?;
        let key = self.pids_key(node);
        let heartbeat = self.key(&format!("node:{node}"));
        let (record, beat, alive): (Option<String>, Option<u64>, bool) =
            self.with_command("pid record", |c| {
                redis::pipe()
                    .cmd("HGET")
                    .arg(&key)
                    .arg(pid)
                    .cmd("HGET")
                    .arg(&key)
                    .arg(BEAT_FIELD)
                    .cmd("EXISTS")
                    .arg(&heartbeat)
                    .query(c)
            })?;
        Some(crate::broker::RecordedIdentity {
            node: node.to_owned(),
            record: record?,
            last_beat_ms: beat.unwrap_or(0),
            holder_alive: alive,
        })
    }

    /// Removes the record of `pid`; `true` only for the caller that removed it.
    pub(super) fn take_recorded_identity(&self, pid: &str) -> bool {
        let Some((node, _)) = pid.rsplit_once('~') else {
            return false;
        };
        let key = self.pids_key(node);
        self.with_command("pid record", |c| {
            redis::cmd("HDEL").arg(&key).arg(pid).query::<u64>(c)
        }) == Some(1)
    }

    /// Waits (at most `patience`) until the publisher sent what was queued before.
    pub(super) fn flush(&self, patience: Duration) {
        let (done, flushed) = crossbeam_channel::bounded(1);
        if self
            .publications
            .0
            .try_send(Publication::Flushed(done))
            .is_ok()
        {
            let _ = flushed.recv_timeout(patience);
        }
    }

    /// Adds `batch` to `pipe` in its order: a `PUBLISH` per plain message, the identity
    /// writes, and one call of the history script per run of recorded messages.
    pub(super) fn pipe_publications(&self, pipe: &mut redis::Pipeline, batch: &[Publication]) {
        let settings = *self.history.lock();
        let mut run: Vec<(&Envelope, &[Recorded])> = Vec::new();
        for publication in batch {
            match (publication, settings) {
                (Publication::Recorded { envelope, recorded }, Some(_)) => {
                    run.push((envelope, recorded));
                    if run.len() == HISTORY_RUN {
                        self.pipe_recorded(pipe, &std::mem::take(&mut run), settings);
                    }
                    continue;
                }
                _ => self.pipe_recorded(pipe, &std::mem::take(&mut run), settings),
            }
            match publication {
                Publication::Flushed(_) => {}
                Publication::Identity { pid, record } => {
                    let key = self.pids_key(&self.node_id);
                    match record {
                        Some(record) => {
                            pipe.cmd("HSET").arg(&key).arg(pid).arg(record).ignore();
                            if let Some(ttl) = self.pids_ttl() {
                                pipe.cmd("PEXPIRE").arg(&key).arg(ttl).ignore();
                            }
                        }
                        None => {
                            pipe.cmd("HDEL").arg(&key).arg(pid).ignore();
                        }
                    }
                }
                Publication::Plain(envelope) | Publication::Recorded { envelope, .. } => {
                    pipe.cmd("PUBLISH")
                        .arg(&self.channel)
                        .arg(envelope.encode())
                        .ignore();
                }
            }
        }
        self.pipe_recorded(pipe, &run, settings);
    }

    /// Adds one call of the history script for `run` (nothing when it is empty).
    fn pipe_recorded(
        &self,
        pipe: &mut redis::Pipeline,
        run: &[(&Envelope, &[Recorded])],
        settings: Option<HistorySettings>,
    ) {
        let Some(settings) = settings.filter(|_| !run.is_empty()) else {
            return;
        };
        let window = u64::try_from(settings.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let streams = run
            .iter()
            .map(|(_, recorded)| recorded.len())
            .sum::<usize>();
        let command = pipe
            .cmd("EVALSHA")
            .arg(self.history_script.get_hash())
            .arg(1 + streams)
            .arg(self.history_key("seq"));
        for (_, recorded) in run {
            for step in *recorded {
                command.arg(self.history_key(&stream_of(&step.step)));
            }
        }
        command.arg(&self.channel).arg(window).arg(settings.max_len);
        for (envelope, recorded) in run {
            command.arg(recorded.len()).arg(envelope.encode());
            for (index, step) in recorded.iter().enumerate() {
                command.arg(entry_json(
                    &envelope.origin,
                    envelope.claim.as_ref(),
                    index,
                    step,
                ));
            }
        }
        command.ignore();
    }

    /// Loads the history script on a new publisher connection (a restarted Redis has
    /// forgotten it).
    pub(super) fn prepare_publisher(&self, connection: &mut Connection) -> RedisResult<()> {
        if self.history.lock().is_some() {
            self.history_script.load(connection)?;
        }
        Ok(())
    }

    /// Queues a publication with the events to append to the history.
    pub(super) fn queue_recorded(&self, envelope: Envelope, recorded: Vec<Recorded>) {
        let envelope = Box::new(envelope);
        let publication = if recorded.is_empty() {
            Publication::Plain(envelope)
        } else {
            Publication::Recorded { envelope, recorded }
        };
        self.queue_publication(publication);
    }

    /// Turns the history on (loads its script now, so a Redis that cannot is reported).
    pub(super) fn keep_history(&self, window: Duration, max_len: usize) -> bool {
        if self
            .with_command("history script", |c| self.history_script.load(c))
            .is_none()
        {
            tracing::warn!("the event history could not be turned on: Redis is unreachable");
            return false;
        }
        *self.history.lock() = Some(HistorySettings {
            window,
            max_len: max_len.max(1),
        });
        true
    }

    /// Every entry of the history streams `suffixes` (`user:<id>`, `admins`,
    /// `everyone`), merged in position order; `None` without a history or if Redis is
    /// unreachable. Entries that do not parse are counted as malformed and skipped.
    pub(super) fn read_history(&self, suffixes: &[String]) -> Option<Vec<HistoryEntry>> {
        self.history.lock().as_ref()?;
        let keys: Vec<String> = suffixes.iter().map(|s| self.history_key(s)).collect();
        let streams = self.with_command("history read", |c| {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("XRANGE").arg(key).arg("-").arg("+");
            }
            pipe.query::<Vec<redis::streams::StreamRangeReply>>(c)
        })?;
        let mut entries = Vec::new();
        for stream in streams {
            for id in stream.ids {
                let position = id.get::<u64>("p");
                let text = id.get::<String>("e");
                match (position, text) {
                    (Some(position), Some(text)) => match entry_from(position, &text) {
                        Ok(entry) => entries.push(entry),
                        Err(_) => {
                            self.malformed.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                    _ => {
                        self.malformed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        entries.sort_by_key(|entry| (entry.position, entry.index));
        Some(entries)
    }
}
