//! The built-in session authenticator's table ([`SessionTable`]): live login sessions and
//! the recently logged-out ones.
//!
//! Owns which session id belongs to which user and role, and the bounded memory of
//! revoked ids ([`REVOKED_SESSIONS_KEPT`]). It must not touch connections: closing a
//! logged-out session's connections is the hub's job. Guarded by
//! `auth::tests::logged_out_session_is_revoked_until_next_login`.

use std::collections::{HashMap, HashSet, VecDeque};

use parking_lot::RwLock;

use super::Role;
use crate::ids::{SessionId, UserId};

/// Most logged-out session ids remembered so that a JWT naming one is refused.
pub const REVOKED_SESSIONS_KEPT: usize = 100_000;

#[derive(Default)]
struct SessionState {
    live: HashMap<SessionId, (UserId, Role)>,
    revoked: HashSet<SessionId>,
    revoked_order: VecDeque<SessionId>,
}

/// The built-in session authenticator's table, fed by `emit_user_logged_in` /
/// `emit_user_logged_out`. A logged-out session id is also remembered (the most recent
/// 100,000) so that a token naming it in `sid` is refused until it logs in again.
#[derive(Default)]
pub struct SessionTable {
    state: RwLock<SessionState>,
}

impl SessionTable {
    /// Registers a login; returns false if that exact session was already registered.
    pub fn log_in(&self, session: SessionId, user: UserId, role: Role) -> bool {
        let mut state = self.state.write();
        if state.revoked.remove(&session) {
            state.revoked_order.retain(|kept| *kept != session);
        }
        state.live.insert(session, (user.clone(), role)) != Some((user, role))
    }

    /// Removes `user`'s session and remembers it as revoked; returns whether it was
    /// live. A session that is live for another user is left alone and returned as
    /// `Err(owner)`.
    pub fn log_out(&self, session: &SessionId, user: &UserId) -> Result<bool, UserId> {
        let mut state = self.state.write();
        if let Some((owner, _)) = state.live.get(session)
            && owner != user
        {
            return Err(owner.clone());
        }
        let was_live = state.live.remove(session).is_some();
        if state.revoked.insert(session.clone()) {
            state.revoked_order.push_back(session.clone());
            if state.revoked_order.len() > REVOKED_SESSIONS_KEPT
                && let Some(oldest) = state.revoked_order.pop_front()
            {
                state.revoked.remove(&oldest);
            }
        }
        Ok(was_live)
    }

    /// Remembers `session` as logged out without a logout event (restoring saved
    /// state at start); the newest [`REVOKED_SESSIONS_KEPT`] are kept.
    pub fn restore_revoked(&self, session: SessionId) {
        let mut state = self.state.write();
        if state.live.contains_key(&session) || !state.revoked.insert(session.clone()) {
            return;
        }
        state.revoked_order.push_back(session);
        if state.revoked_order.len() > REVOKED_SESSIONS_KEPT
            && let Some(oldest) = state.revoked_order.pop_front()
        {
            state.revoked.remove(&oldest);
        }
    }

    /// Who a session id belongs to.
    pub fn lookup(&self, session: &str) -> Option<(UserId, Role)> {
        self.state.read().live.get(session).cloned()
    }

    /// Whether the session was logged out (and not logged in again since).
    pub fn is_revoked(&self, session: &SessionId) -> bool {
        self.state.read().revoked.contains(session)
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.state.read().live.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
