//! The state snapshot: modules, last stats, maintenance, user profiles and live
//! sessions, saved as they change and loaded once at start.
//!
//! Owns the `modules`, `stats`, `maintenance`, `users` and `sessions` tables,
//! [`StateSnapshot`] and the state writes the writer applies. Every save is an upsert of
//! the latest value, applied in queue order, so the last save wins; a save dropped on a
//! full queue leaves that row stale until the next save of it, which is why a clean
//! shutdown should end with [`Persistence::save_store`](super::Persistence::save_store)
//! (one write that replaces modules, users, stats and maintenance together). This
//! module must not decide changes (the store does) nor restore sessions into the
//! authenticator (the hub does). Loading at start is `load.rs`.

mod load;

pub(super) use load::load;

use rusqlite::Transaction;
use serde_json::{Map, Value};

use crate::auth::Role;
use crate::ids::{ModuleId, SessionId, UserId};
use crate::store::{Maintenance, ModuleRecord, Store};

/// A user's recorded profile fields (what change detection of profile updates needs).
#[derive(Debug, Clone, PartialEq)]
pub struct UserProfile {
    /// The user.
    pub user_id: UserId,
    /// Whether `emit_user_registered` was seen.
    pub registered: bool,
    /// The recorded fields.
    pub profile: Map<String, Value>,
}

/// A logged-in session (`emit_user_logged_in`), so the session authenticator accepts it
/// after a restart. The session id is a secret: the database file is created with mode
/// 0600.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    /// The session id.
    pub session_id: SessionId,
    /// Its user.
    pub user_id: UserId,
    /// The role the host gave.
    pub role: Role,
}

/// Everything saved, as loaded at start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateSnapshot {
    /// Every module, in id order.
    pub modules: Vec<ModuleRecord>,
    /// The last stats sent.
    pub last_stats: Option<Value>,
    /// Maintenance as last switched.
    pub maintenance: Maintenance,
    /// Every known user, in id order.
    pub users: Vec<UserProfile>,
    /// Every live session, in id order.
    pub sessions: Vec<LiveSession>,
    /// Logged-out session ids, oldest first (the newest
    /// [`REVOKED_SESSIONS_KEPT`](crate::persist::REVOKED_SESSIONS_KEPT)).
    pub revoked_sessions: Vec<SessionId>,
}

impl StateSnapshot {
    /// A store holding this state, so change detection continues where it stopped (a
    /// module online before the restart going online again is unchanged).
    pub fn to_store(&self) -> Store {
        Store::restore(
            self.modules.iter().cloned(),
            self.users
                .iter()
                .map(|user| (user.user_id.clone(), user.registered, user.profile.clone())),
            self.last_stats.clone(),
            self.maintenance.clone(),
        )
    }
}

/// The whole store at one moment, written as one replacement.
#[derive(Debug)]
pub(super) struct StoreImage {
    modules: Vec<ModuleRecord>,
    users: Vec<UserProfile>,
    last_stats: Option<Value>,
    maintenance: Maintenance,
}

impl StoreImage {
    pub(super) fn of(store: &Store) -> Self {
        Self {
            modules: store.modules().cloned().collect(),
            users: store
                .users()
                .map(|(id, registered, profile)| UserProfile {
                    user_id: id.clone(),
                    registered,
                    profile: profile.clone(),
                })
                .collect(),
            last_stats: store.stats().cloned(),
            maintenance: store.maintenance().clone(),
        }
    }
}

/// One state change for the writer.
#[derive(Debug)]
pub(super) enum StateWrite {
    Module(Box<ModuleRecord>),
    RemoveModule(ModuleId),
    Stats { stats: Value, at: u64 },
    Maintenance(Maintenance),
    User(UserProfile),
    Session(LiveSession),
    RemoveSession(SessionId),
    Store(Box<StoreImage>),
}

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn save_module(tx: &Transaction<'_>, module: &ModuleRecord) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO modules (id, owner, name, type, online, telemetry, last_change, \
         added, extra) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(rusqlite::params![
        module.id.as_str(),
        module.owner.as_str(),
        module.name,
        module.kind,
        module.online,
        module.telemetry.as_ref().map(json_text),
        module.last_change as i64,
        module.added,
        json_text(&Value::Object(module.extra.clone())),
    ])?;
    Ok(())
}

fn save_user(tx: &Transaction<'_>, user: &UserProfile) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO users (id, registered, profile) VALUES (?1, ?2, ?3)",
    )?
    .execute(rusqlite::params![
        user.user_id.as_str(),
        user.registered,
        json_text(&Value::Object(user.profile.clone())),
    ])?;
    Ok(())
}

fn save_stats(tx: &Transaction<'_>, stats: &Value, at: u64) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO stats (id, value, updated) VALUES (1, ?1, ?2)")?
        .execute(rusqlite::params![json_text(stats), at as i64])?;
    Ok(())
}

fn save_maintenance(tx: &Transaction<'_>, maintenance: &Maintenance) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO maintenance (id, enabled, message) VALUES (1, ?1, ?2)",
    )?
    .execute(rusqlite::params![maintenance.enabled, maintenance.message])?;
    Ok(())
}

/// Applies one state write (writer thread, inside its batch transaction).
pub(super) fn apply(tx: &Transaction<'_>, write: &StateWrite) -> rusqlite::Result<()> {
    match write {
        StateWrite::Module(module) => save_module(tx, module),
        StateWrite::RemoveModule(id) => {
            tx.prepare_cached("DELETE FROM modules WHERE id = ?1")?
                .execute([id.as_str()])?;
            Ok(())
        }
        StateWrite::Stats { stats, at } => save_stats(tx, stats, *at),
        StateWrite::Maintenance(maintenance) => save_maintenance(tx, maintenance),
        StateWrite::User(user) => save_user(tx, user),
        StateWrite::Session(session) => {
            tx.prepare_cached("DELETE FROM revoked_sessions WHERE id = ?1")?
                .execute([session.session_id.as_str()])?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO sessions (id, user_id, role) VALUES (?1, ?2, ?3)",
            )?
            .execute(rusqlite::params![
                session.session_id.as_str(),
                session.user_id.as_str(),
                session.role.as_str(),
            ])?;
            Ok(())
        }
        StateWrite::RemoveSession(id) => {
            tx.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
                .execute([id.as_str()])?;
            // A logged-out id stays refused (also as a JWT `sid`) after a restart.
            tx.prepare_cached("INSERT OR REPLACE INTO revoked_sessions (id, at) VALUES (?1, ?2)")?
                .execute(rusqlite::params![
                    id.as_str(),
                    crate::event::now_ms() as i64
                ])?;
            Ok(())
        }
        StateWrite::Store(image) => {
            tx.execute_batch("DELETE FROM modules; DELETE FROM users; DELETE FROM stats;")?;
            for module in &image.modules {
                save_module(tx, module)?;
            }
            for user in &image.users {
                save_user(tx, user)?;
            }
            if let Some(stats) = &image.last_stats {
                save_stats(tx, stats, crate::event::now_ms())?;
            }
            save_maintenance(tx, &image.maintenance)
        }
    }
}

#[cfg(test)]
mod tests;
