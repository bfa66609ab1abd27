//! Saving and loading the state snapshot through [`Persistence`]: one method per kind
//! of state write, and [`Persistence::load_state`] at start.
//!
//! Owns turning the store's values into [`StateWrite`]s for the writer's queue. It must
//! not wait for the disk, except [`Persistence::save_store`], which the hub calls once at
//! shutdown. The tables themselves are `snapshot/`.

use serde_json::{Map, Value};

use super::snapshot::{self, StateWrite, StoreImage};
use super::{LiveSession, PersistError, Persistence, StateSnapshot, UserProfile, Write};
use crate::auth::Role;
use crate::ids::{ModuleId, SessionId, UserId};
use crate::store::{Maintenance, ModuleRecord, Store};

impl Persistence {
    fn save(&self, write: StateWrite) -> Result<(), PersistError> {
        self.enqueue(Write::State(write))
    }

    /// Saves a module's state (upsert).
    pub fn save_module(&self, module: &ModuleRecord) -> Result<(), PersistError> {
        self.save(StateWrite::Module(Box::new(module.clone())))
    }

    /// Forgets a module.
    pub fn remove_module(&self, module_id: &ModuleId) -> Result<(), PersistError> {
        self.save(StateWrite::RemoveModule(module_id.clone()))
    }

    /// Saves the last stats sent.
    pub fn save_stats(&self, stats: &Value) -> Result<(), PersistError> {
        self.save(StateWrite::Stats {
            stats: stats.clone(),
            at: crate::event::now_ms(),
        })
    }

    /// Saves the maintenance state.
    pub fn save_maintenance(&self, maintenance: &Maintenance) -> Result<(), PersistError> {
        self.save(StateWrite::Maintenance(maintenance.clone()))
    }

    /// Saves a user's recorded profile fields (upsert).
    pub fn save_user(
        &self,
        user_id: &UserId,
        registered: bool,
        profile: &Map<String, Value>,
    ) -> Result<(), PersistError> {
        self.save(StateWrite::User(UserProfile {
            user_id: user_id.clone(),
            registered,
            profile: profile.clone(),
        }))
    }

    /// Saves a live session (`emit_user_logged_in`).
    pub fn save_session(
        &self,
        session_id: &SessionId,
        user_id: &UserId,
        role: Role,
    ) -> Result<(), PersistError> {
        self.save(StateWrite::Session(LiveSession {
            session_id: session_id.clone(),
            user_id: user_id.clone(),
            role,
        }))
    }

    /// Forgets a session (`emit_user_logged_out`).
    pub fn remove_session(&self, session_id: &SessionId) -> Result<(), PersistError> {
        self.save(StateWrite::RemoveSession(session_id.clone()))
    }

    /// Replaces the saved modules, users, stats and maintenance with `store`'s, in one
    /// transaction, and waits for the commit: call it under the emit lock at shutdown,
    /// before [`close`](Self::close), so the snapshot is exact even if saves were
    /// dropped. Sessions are not part of the store and are left as they are.
    pub fn save_store(&self, store: &Store) -> Result<(), PersistError> {
        self.write_acked(Write::State(StateWrite::Store(Box::new(StoreImage::of(
            store,
        )))))
    }

    /// The saved state, read at start (committed rows only).
    pub fn load_state(&self) -> Result<StateSnapshot, PersistError> {
        snapshot::load(&self.inner.reader.lock())
    }
}
