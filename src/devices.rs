//! Device presence: a module's own connection (an ESP board on `/ws` with a device
//! credential) makes it online; losing its last connection makes it offline after a
//! grace period, so a quick reconnect emits nothing (the seed's `onEspRegister` /
//! `onEspDisconnect` with no host code).
//!
//! Owns the count of live device connections per module and the generation that tells a
//! stale offline timer from a current one, plus the one timer thread that fires them.
//! It never emits by itself: it tells the hub which module to take offline. Guarded by
//! `tests/hub/devices.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Weak;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::ids::{ModuleId, UserId};

struct Entry {
    owner: UserId,
    connections: usize,
    generation: u64,
}

/// An offline check due at a time.
pub(crate) struct Due {
    at: Instant,
    module: ModuleId,
    generation: u64,
}

pub(crate) struct Presence {
    entries: Mutex<HashMap<ModuleId, Entry>>,
    timer: Mutex<Option<Sender<Due>>>,
    pub(crate) grace: Duration,
}

impl Presence {
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            timer: Mutex::new(None),
            grace,
        }
    }

    /// A device connection of `module` authenticated.
    pub(crate) fn connected(&self, module: &ModuleId, owner: &UserId) {
        let mut entries = self.entries.lock();
        let entry = entries.entry(module.clone()).or_insert_with(|| Entry {
            owner: owner.clone(),
            connections: 0,
            generation: 0,
        });
        entry.owner = owner.clone();
        entry.connections += 1;
        entry.generation += 1;
    }

    /// A device connection of `module` went away; returns the generation to check after
    /// the grace period when it was the last one.
    pub(crate) fn disconnected(&self, module: &ModuleId) -> Option<u64> {
        let mut entries = self.entries.lock();
        let entry = entries.get_mut(module)?;
        entry.connections = entry.connections.saturating_sub(1);
        if entry.connections > 0 {
            return None;
        }
        entry.generation += 1;
        Some(entry.generation)
    }

    /// The grace period ended: the owner, if the module is still without a device
    /// connection since `generation`.
    pub(crate) fn expire(&self, module: &ModuleId, generation: u64) -> Option<UserId> {
        let mut entries = self.entries.lock();
        let current = entries.get(module)?;
        if current.connections > 0 || current.generation != generation {
            return None;
        }
        entries.remove(module).map(|entry| entry.owner)
    }

    /// Schedules an offline check, starting the timer thread on first use; `fire` runs
    /// on that thread for each check that comes due.
    pub(crate) fn schedule<H: Send + Sync + 'static>(
        &self,
        module: ModuleId,
        generation: u64,
        owner: Weak<H>,
        fire: fn(&std::sync::Arc<H>, &ModuleId, u64),
    ) {
        let due = Due {
            at: Instant::now() + self.grace,
            module,
            generation,
        };
        let mut timer = self.timer.lock();
        let sender = timer.get_or_insert_with(|| {
            let (sender, receiver) = crossbeam_channel::unbounded();
            let spawned = crate::outbound::spawn_library_thread("mcrt-device-grace", move || {
                run_timer(&receiver, &owner, fire)
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start the device grace timer");
            }
            sender
        });
        let _ = sender.send(due);
    }
}

fn run_timer<H>(
    receiver: &Receiver<Due>,
    owner: &Weak<H>,
    fire: fn(&std::sync::Arc<H>, &ModuleId, u64),
) {
    let mut queue: BinaryHeap<Reverse<(Instant, u64, ModuleId)>> = BinaryHeap::new();
    loop {
        let next = queue.peek().map(|Reverse((at, _, _))| *at);
        let received = match next {
            Some(at) => receiver.recv_deadline(at),
            None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(due) => queue.push(Reverse((due.at, due.generation, due.module))),
            Err(RecvTimeoutError::Timeout) => {}
            // The hub is gone: nothing left to take offline.
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while queue.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
            let Some(Reverse((_, generation, module))) = queue.pop() else {
                break;
            };
            let Some(hub) = owner.upgrade() else { return };
            fire(&hub, &module, generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_reconnect_makes_the_pending_offline_stale() {
        let presence = Presence::new(Duration::from_secs(1));
        let module = ModuleId::new("M").unwrap();
        let owner = UserId::new("1").unwrap();
        presence.connected(&module, &owner);
        let stale = presence.disconnected(&module).unwrap();
        presence.connected(&module, &owner);
        assert_eq!(presence.expire(&module, stale), None);
        let current = presence.disconnected(&module).unwrap();
        assert_eq!(presence.expire(&module, current), Some(owner));
    }

    #[test]
    fn only_the_last_connection_schedules_offline() {
        let presence = Presence::new(Duration::from_secs(1));
        let module = ModuleId::new("M").unwrap();
        let owner = UserId::new("1").unwrap();
        presence.connected(&module, &owner);
        presence.connected(&module, &owner);
        assert_eq!(presence.disconnected(&module), None);
        assert!(presence.disconnected(&module).is_some());
    }
}
