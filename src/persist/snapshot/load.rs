//! Loading the state snapshot once at start, one table at a time (reader connection).
//!
//! Owns turning rows back into typed values and refusing a row that does not parse
//! ([`PersistError::InvalidRow`] names its table and key). It must not write: a bad row
//! is reported, never repaired. Guarded by
//! `persist::snapshot::tests::a_store_image_loads_back_into_an_equivalent_store`.

use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::{Map, Value};

use super::super::error::PersistError;
use super::{LiveSession, StateSnapshot, UserProfile};
use crate::auth::Role;
use crate::ids::{ModuleId, SessionId, UserId};
use crate::store::{Maintenance, ModuleRecord};

/// Reads every state table (reader connection).
pub(in crate::persist) fn load(conn: &Connection) -> Result<StateSnapshot, PersistError> {
    Ok(StateSnapshot {
        modules: load_rows(conn, MODULES, module_of)?,
        last_stats: load_stats(conn)?,
        maintenance: load_maintenance(conn)?,
        users: load_rows(conn, USERS, user_of)?,
        sessions: load_rows(conn, SESSIONS, session_of)?,
        revoked_sessions: load_revoked(conn)?,
    })
}

const MODULES: &str = "SELECT id, owner, name, type, online, telemetry, last_change, added, extra \
                       FROM modules ORDER BY id";
const USERS: &str = "SELECT id, registered, profile FROM users ORDER BY id";
const SESSIONS: &str = "SELECT id, user_id, role FROM sessions ORDER BY id";

fn fail(error: rusqlite::Error) -> PersistError {
    PersistError::database("loading the state snapshot", &error)
}

fn invalid(table: &'static str, key: &str, detail: String) -> PersistError {
    PersistError::InvalidRow {
        table,
        key: key.to_owned(),
        detail,
    }
}

/// Runs `query` and turns each row into a value with `parse`, in the query's order.
fn load_rows<T>(
    conn: &Connection,
    query: &str,
    parse: fn(&Row<'_>) -> Result<T, PersistError>,
) -> Result<Vec<T>, PersistError> {
    let mut statement = conn.prepare(query).map_err(fail)?;
    let mut rows = statement.query([]).map_err(fail)?;
    let mut values = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        values.push(parse(row)?);
    }
    Ok(values)
}

/// A JSON object column; anything else is an invalid row.
fn json_object(
    text: &str,
    what: &str,
    bad: impl Fn(String) -> PersistError,
) -> Result<Map<String, Value>, PersistError> {
    match serde_json::from_str::<Value>(text).map_err(|e| bad(e.to_string()))? {
        Value::Object(map) => Ok(map),
        other => Err(bad(format!("{what} is not an object: {other}"))),
    }
}

fn module_of(row: &Row<'_>) -> Result<ModuleRecord, PersistError> {
    let id_text: String = row.get(0).map_err(fail)?;
    let bad = |detail: String| invalid("modules", &id_text, detail);
    let id = ModuleId::new(&id_text).map_err(|e| bad(e.to_string()))?;
    let owner =
        UserId::new(&row.get::<_, String>(1).map_err(fail)?).map_err(|e| bad(e.to_string()))?;
    let telemetry = row
        .get::<_, Option<String>>(5)
        .map_err(fail)?
        .map(|text| serde_json::from_str::<Value>(&text))
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    let extra = json_object(&row.get::<_, String>(8).map_err(fail)?, "extra", bad)?;
    let mut record = ModuleRecord::new(id, owner, row.get::<_, i64>(6).map_err(fail)? as u64);
    record.name = row.get(2).map_err(fail)?;
    record.kind = row.get(3).map_err(fail)?;
    record.online = row.get(4).map_err(fail)?;
    record.telemetry = telemetry;
    record.added = row.get(7).map_err(fail)?;
    record.extra = extra;
    Ok(record)
}

fn user_of(row: &Row<'_>) -> Result<UserProfile, PersistError> {
    let id_text: String = row.get(0).map_err(fail)?;
    let bad = |detail: String| invalid("users", &id_text, detail);
    let profile = json_object(&row.get::<_, String>(2).map_err(fail)?, "profile", bad)?;
    Ok(UserProfile {
        user_id: UserId::new(&id_text).map_err(|e| bad(e.to_string()))?,
        registered: row.get(1).map_err(fail)?,
        profile,
    })
}

fn session_of(row: &Row<'_>) -> Result<LiveSession, PersistError> {
    let id_text: String = row.get(0).map_err(fail)?;
    let bad = |detail: String| invalid("sessions", &id_text, detail);
    let role_text: String = row.get(2).map_err(fail)?;
    Ok(LiveSession {
        session_id: SessionId::new(&id_text).map_err(|e| bad(e.to_string()))?,
        user_id: UserId::new(&row.get::<_, String>(1).map_err(fail)?)
            .map_err(|e| bad(e.to_string()))?,
        role: Role::parse(&role_text).ok_or_else(|| bad(format!("unknown role {role_text:?}")))?,
    })
}

fn load_stats(conn: &Connection) -> Result<Option<Value>, PersistError> {
    conn.query_row("SELECT value FROM stats WHERE id = 1", [], |row| {
        row.get::<_, String>(0)
    })
    .optional()
    .map_err(fail)?
    .map(|text| serde_json::from_str::<Value>(&text))
    .transpose()
    .map_err(|e| invalid("stats", "1", e.to_string()))
}

fn load_maintenance(conn: &Connection) -> Result<Maintenance, PersistError> {
    conn.query_row(
        "SELECT enabled, message FROM maintenance WHERE id = 1",
        [],
        |row| {
            Ok(Maintenance {
                enabled: row.get(0)?,
                message: row.get(1)?,
            })
        },
    )
    .optional()
    .map(Option::unwrap_or_default)
    .map_err(fail)
}

/// The newest [`REVOKED_SESSIONS_KEPT`](crate::persist::REVOKED_SESSIONS_KEPT) revoked
/// session ids, oldest first.
fn load_revoked(conn: &Connection) -> Result<Vec<SessionId>, PersistError> {
    let mut statement = conn
        .prepare(
            "SELECT id FROM (SELECT id, at FROM revoked_sessions ORDER BY at DESC, id LIMIT ?1) \
             ORDER BY at, id",
        )
        .map_err(fail)?;
    let mut rows = statement
        .query([crate::persist::REVOKED_SESSIONS_KEPT as i64])
        .map_err(fail)?;
    let mut revoked = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let id_text: String = row.get(0).map_err(fail)?;
        let session = SessionId::new(&id_text)
            .map_err(|e| invalid("revoked_sessions", &id_text, e.to_string()))?;
        revoked.push(session);
    }
    Ok(revoked)
}
