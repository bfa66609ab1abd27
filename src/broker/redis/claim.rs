//! The compare-and-set that decides whether a change-detecting emit changed anything
//! cluster-wide: the Lua script, the arguments it reads and the reading of its answer
//! (the fields that changed and the sequence number, remembered as applied). Must not
//! send anything itself: `batch.rs` sends each batch of claims as one call of the
//! script. Guarded by
//! `tests/cluster/broker_redis.rs` (`racing_identical_emits_on_two_nodes_give_one_event`)
//! and `tests/cluster/config_redis.rs`.

use std::sync::atomic::Ordering;

use redis::Script;

use super::{Shared, batch};
use crate::broker::{Claim, ClaimField};

/// Decides a batch of claims in one call, in order, as if each ran alone: `KEYS[1]` is
/// the sequence counter; `ARGV` holds, per claim, its number of keys (its state key,
/// then the state keys to clear) and of fields, then its (field, value, baseline)
/// triples, and the keys follow in `KEYS` in the same order. Each field is compared with
/// the stored value (or the baseline, `1<value>`, when the field was never written);
/// those that differ are written, and if any did the claim's clear keys are deleted and
/// the counter taken. Returns one `{seq, fields…}` per claim (`{"0"}` when nothing
/// differed). Redis runs a script atomically, so racing identical claims see one
/// change; one call per batch instead of one per claim, because the call itself costs
/// Redis several times what the comparisons do (`EVALSHA` ~12.5 µs of Redis time per
/// claim against ~1.8 µs for its `HGET`, `HSET` and `INCR`, `INFO commandstats` under
/// `benches/broker.rs`).
const SCRIPT: &str = r"
local results = {}
local k = 2
local a = 1
while a <= #ARGV do
  local nkeys = tonumber(ARGV[a])
  local last = a + 1 + 3 * tonumber(ARGV[a + 1])
  local key = KEYS[k]
  local changed = {}
  for i = a + 2, last, 3 do
    local current = redis.call('HGET', key, ARGV[i])
    if not current and string.sub(ARGV[i + 2], 1, 1) == '1' then
      current = string.sub(ARGV[i + 2], 2)
    end
    if current ~= ARGV[i + 1] then
      redis.call('HSET', key, ARGV[i], ARGV[i + 1])
      changed[#changed + 1] = ARGV[i]
    end
  end
  if #changed == 0 then
    results[#results + 1] = {'0'}
  else
    for c = k + 1, k + nkeys - 1 do redis.call('DEL', KEYS[c]) end
    table.insert(changed, 1, tostring(redis.call('INCR', KEYS[1])))
    results[#results + 1] = changed
  end
  k = k + nkeys
  a = last + 1
end
return results
";

/// The claim script, loaded on each new claim connection (`batch.rs`) and, to check that
/// Redis takes scripts, on the command connection at connect and after an outage.
pub(super) fn script() -> Script {
    Script::new(SCRIPT)
}

impl Shared {
    /// Claims `fields` of `key` (clearing `clear` if any changed); [`Claim::Local`] when
    /// Redis is unreachable, the fields remembered to re-assert on its return.
    pub(super) fn claim(&self, key: &str, fields: &[ClaimField<'_>], clear: &[String]) -> Claim {
        let mut keys = Vec::with_capacity(1 + clear.len());
        keys.push(self.key(key));
        keys.extend(clear.iter().map(|other| self.key(other)));
        let mut args = Vec::with_capacity(2 + 3 * fields.len());
        args.extend([keys.len().to_string(), fields.len().to_string()]);
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
