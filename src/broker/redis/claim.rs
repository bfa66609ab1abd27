//! The compare-and-set that decides whether a change-detecting emit changed anything
//! cluster-wide: the Lua script, the arguments it reads and the reading of its answer
//! (the fields that changed and the sequence number, remembered as applied). Must not
//! send anything itself: `batch.rs` pipelines the claims. Guarded by
//! `tests/cluster/broker_redis.rs` (`racing_identical_emits_on_two_nodes_give_one_event`)
//! and `tests/cluster/config_redis.rs`.

use std::sync::atomic::Ordering;

use redis::Script;

use super::{Shared, batch};
use crate::broker::{Claim, ClaimField};

/// Compares each (field, value, baseline) triple of `KEYS[1]` with the stored value (or
/// the baseline, `1<value>`, when the field was never written), writes those that
/// differ, deletes `KEYS[3..]` if any did, and returns `{seq, fields…}` (`{"0"}` when
/// nothing differed; `KEYS[2]` is the sequence counter). Redis runs a
/// script atomically, so racing identical claims see one change.
const SCRIPT: &str = r"
local changed = {}
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if not current and string.sub(ARGV[i + 2], 1, 1) == '1' then
    current = string.sub(ARGV[i + 2], 2)
  end
  if current ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    changed[#changed + 1] = ARGV[i]
  end
end
if #changed == 0 then return {'0'} end
for k = 3, #KEYS do redis.call('DEL', KEYS[k]) end
table.insert(changed, 1, tostring(redis.call('INCR', KEYS[2])))
return changed
";

/// The claim script, to load on each new command connection.
pub(super) fn script() -> Script {
    Script::new(SCRIPT)
}

impl Shared {
    /// Claims `fields` of `key` (clearing `clear` if any changed); [`Claim::Local`] when
    /// Redis is unreachable, the fields remembered to re-assert on its return.
    pub(super) fn claim(&self, key: &str, fields: &[ClaimField<'_>], clear: &[String]) -> Claim {
        let full_key = self.key(key);
        let seq_key = self.key("seq");
        let mut keys = Vec::with_capacity(2 + clear.len());
        keys.extend([full_key, seq_key]);
        keys.extend(clear.iter().map(|other| self.key(other)));
        let mut args = Vec::with_capacity(3 * fields.len());
        for field in fields {
            args.extend([field.name.to_owned(), field.value.to_owned()]);
            args.push(
                field
                    .baseline
                    .map_or_else(|| "0".to_owned(), |b| format!("1{b}")),
            );
        }
        let answer = self.claim_batched(batch::Request { keys, args });
        let Some(mut answer) = answer else {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            self.remember_pending(key, fields);
            return Claim::Local;
        };
        let seq = answer
            .first()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        if seq == 0 {
            return Claim::Unchanged;
        }
        answer.remove(0);
        let mut applied = self.applied.lock();
        let last = applied.entry(key.to_owned()).or_insert(0);
        *last = (*last).max(seq);
        Claim::Changed {
            fields: answer,
            seq,
        }
    }
}
