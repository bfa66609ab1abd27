//! The cluster's event history on Redis: every recorded event of a changed call is
//! appended, in the same Lua script that publishes the call, to a Stream (one per user,
//! one for admins, one for everyone), under one history position taken from a counter,
//! and the published message carries that position. One script does all three, so the
//! channel's order and the history's positions agree: a node that applied the message
//! at position `p` has applied every message below `p` too. Each stream keeps the
//! recovery window (by entry time, `MINID ~`) and at most about `max_len` entries
//! (`MAXLEN ~`), and expires a window after its last append. Every key shares the hash
//! tag `{history}`, so the script touches one slot (Redis Cluster ready). Must not
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

/// Takes the next history position (`KEYS[1]`), appends `ARGV[5..]` to the streams
/// `KEYS[2..]` (trimmed to the window `ARGV[3]` ms by time and to about `ARGV[4]`
/// entries, expiring a window after this append), then publishes `ARGV[2]` (a JSON
/// object) on channel `ARGV[1]` with the position as its first field `hseq`.
const HISTORY_SCRIPT: &str = r#"
local position = string.format('%d', redis.call('INCR', KEYS[1]))
local now = redis.call('TIME')
local oldest = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[3]))
local trimmed = {}
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], 'MINID', '~', oldest, '*', 'p', position, 'e', ARGV[i + 3])
  if not trimmed[KEYS[i]] then
    trimmed[KEYS[i]] = true
    redis.call('XTRIM', KEYS[i], 'MAXLEN', '~', ARGV[4])
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  end
end
redis.call('PUBLISH', ARGV[1], '{"hseq":' .. position .. ',' .. string.sub(ARGV[2], 2))
return position
"#;

/// One queued publication: a message, or a message and the events to append to the
/// history with it.
pub(super) enum Publication {
    Plain(Vec<u8>),
    Recorded {
        message: Vec<u8>,
        origin: String,
        claim: Option<(String, u64)>,
        recorded: Vec<Recorded>,
    },
}

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
        format!("{}{{history}}:{suffix}", self.prefix)
    }

    /// Adds `publication` to `pipe`: a `PUBLISH`, or the history script.
    pub(super) fn pipe_publication(&self, pipe: &mut redis::Pipeline, publication: &Publication) {
        let settings = *self.history.lock();
        match (publication, settings) {
            (Publication::Plain(bytes), _)
            | (Publication::Recorded { message: bytes, .. }, None) => {
                pipe.cmd("PUBLISH").arg(&self.channel).arg(bytes).ignore();
            }
            (
                Publication::Recorded {
                    message,
                    origin,
                    claim,
                    recorded,
                },
                Some(settings),
            ) => {
                let window = u64::try_from(settings.window.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let command = pipe
                    .cmd("EVALSHA")
                    .arg(self.history_script.get_hash())
                    .arg(1 + recorded.len())
                    .arg(self.history_key("seq"));
                for step in recorded {
                    command.arg(self.history_key(&stream_of(&step.step)));
                }
                command
                    .arg(&self.channel)
                    .arg(message)
                    .arg(window)
                    .arg(settings.max_len);
                for (index, step) in recorded.iter().enumerate() {
                    command.arg(entry_json(origin, claim.as_ref(), index, step));
                }
                command.ignore();
            }
        }
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
    pub(super) fn queue_recorded(&self, envelope: &Envelope, recorded: Vec<Recorded>) {
        let publication = if recorded.is_empty() {
            Publication::Plain(envelope.encode())
        } else {
            Publication::Recorded {
                message: envelope.encode(),
                origin: envelope.origin.clone(),
                claim: envelope.claim.clone(),
                recorded,
            }
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
