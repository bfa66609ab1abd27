//! The table of live Engine.IO sessions by sid, the short-lived record of polling
//! sessions their client closed, and the random ids sessions and namespace sockets are
//! given. This module must not look inside a session beyond
//! closing its hub queue at shutdown. Guarded by `tests/server/server_socketio.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Shared;
use super::session::Session;

/// Live sessions by Engine.IO sid.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    pub(crate) fn insert(&self, session: &Arc<Session>) {
        self.map
            .lock()
            .insert(session.sid.clone(), Arc::clone(session));
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Arc<Session>> {
        self.map.lock().get(sid).cloned()
    }

    /// Removes the session; returns whether it was there (so one caller releases its
    /// connection slot).
    pub(crate) fn remove(&self, sid: &str) -> bool {
        self.map.lock().remove(sid).is_some()
    }

    /// Closes every session's hub queue (after what is queued) for a shutdown.
    pub(crate) fn close_all(&self, _shared: &Shared) {
        let sessions: Vec<_> = self.map.lock().values().cloned().collect();
        for session in sessions {
            session.shut_down();
        }
    }
}

/// A random, URL-safe id (120 bits).
pub(crate) fn random_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 15];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS random source is unavailable: fall back to time and a counter, still
        // unique within this process.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = crate::event::now_ms();
        bytes[..8].copy_from_slice(&t.to_le_bytes());
        bytes[8..15].copy_from_slice(&n.to_le_bytes()[..7]);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Sids of polling sessions their client closed while no poll was pending, for a
/// moment: the client may have sent a poll before its close that arrives after it (two
/// HTTP connections, handled in either order). That poll is answered with the noop it
/// would have got, instead of "unknown session"; any later one gets 400.
#[derive(Default)]
pub(crate) struct Tombstones {
    map: Mutex<HashMap<String, Instant>>,
}

impl Tombstones {
    /// How long a closed session's late poll is still answered.
    const KEEP: Duration = Duration::from_secs(2);
    /// Beyond this many, expired records are swept on insert.
    const SWEEP_AT: usize = 1024;

    /// Records that the client closed session `sid`.
    pub(crate) fn insert(&self, sid: &str) {
        let now = Instant::now();
        let mut map = self.map.lock();
        if map.len() >= Self::SWEEP_AT {
            map.retain(|_, closed| now.duration_since(*closed) < Self::KEEP);
        }
        map.insert(sid.to_owned(), now);
    }

    /// Whether `sid` was closed by its client a moment ago (once: the record goes).
    pub(crate) fn take(&self, sid: &str) -> bool {
        self.map
            .lock()
            .remove(sid)
            .is_some_and(|closed| closed.elapsed() < Self::KEEP)
    }
}
