//! The event history: every published event under a monotonically increasing offset,
//! kept for a window (time and count). The hub appends to it when a server has
//! connection-state recovery on (the offsets stored are the ones sent on the wire); it
//! is the durable record of what was sent. Live recovery replays from the connections
//! the server keeps parked in memory (`transport/server/recovery.rs`), which already
//! hold exactly what each client was entitled to, so nothing here is read on the
//! replay path.
//!
//! Owns the `events` table, the offset counter's persistence and the audience's stored
//! form. Invariants:
//! - offsets only grow, across restarts too: the writer stores a high-water mark in
//!   `meta` with every batch, and [`restore_next_offset`] starts after
//!   `max(high-water, max(event_offset))`, so pruning every row never reuses an
//!   offset (`tests/persistence/persist/state.rs::event_offsets_keep_growing_after_reopen_and_pruning`);
//! - offsets are assigned on the caller's thread and rows committed in queue order;
//!   call [`Persistence::append_event`](super::Persistence::append_event) under the
//!   emit lock so offsets reach the queue in order;
//! - a dropped row (full queue, failed disk) leaves a hole: the highest such offset is
//!   kept ([`PersistMetrics::last_dropped_event`](super::PersistMetrics)), and a client
//!   whose offset is below it must get a fresh snapshot instead of a replay.
//!
//! This module must not decide who may replay what: a reader of [`HistoryEvent`]s
//! must filter their audiences with the registry's isolation rules.

use rusqlite::{Connection, OptionalExtension, Transaction};
use serde_json::{Value, json};

use super::error::PersistError;
use crate::event::Audience;
use crate::ids::{SessionId, UserId};

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// Its offset (what clients acknowledge).
    pub offset: u64,
    /// When it was published (ms since the epoch).
    pub timestamp: u64,
    /// Event name.
    pub name: String,
    /// Who it was addressed to.
    pub audience: Audience,
    /// Its payload.
    pub payload: Value,
}

/// An event row on its way to the writer; serialized on the caller's thread.
#[derive(Debug)]
pub(super) struct EventRow {
    pub(super) offset: u64,
    pub(super) timestamp: u64,
    pub(super) name: String,
    pub(super) audience: String,
    pub(super) payload: String,
}

impl EventRow {
    pub(super) fn new(
        offset: u64,
        timestamp: u64,
        name: &str,
        audience: &Audience,
        payload: &Value,
    ) -> Self {
        Self {
            offset,
            timestamp,
            name: name.to_owned(),
            audience: audience_to_json(audience).to_string(),
            payload: serde_json::to_string(payload).unwrap_or_else(|_| "null".to_owned()),
        }
    }
}

/// The stored form of an audience: `{"to":"user","user":"1","exceptSession":null}`,
/// `{"to":"session","user","session"}`, `{"to":"admins"}`, `{"to":"everyone"}`.
pub fn audience_to_json(audience: &Audience) -> Value {
    match audience {
        Audience::User {
            user,
            except_session,
        } => json!({"to": "user", "user": user, "exceptSession": except_session}),
        Audience::Session { user, session } => {
            json!({"to": "session", "user": user, "session": session})
        }
        Audience::Admins => json!({"to": "admins"}),
        Audience::Everyone => json!({"to": "everyone"}),
    }
}

/// Reads an audience written by [`audience_to_json`].
pub fn audience_from_json(value: &Value) -> Option<Audience> {
    let user = || UserId::from_json(value.get("user")?).ok();
    match value.get("to")?.as_str()? {
        "user" => Some(Audience::User {
            user: user()?,
            except_session: match value.get("exceptSession") {
                None | Some(Value::Null) => None,
                Some(session) => Some(SessionId::from_json(session).ok()?),
            },
        }),
        "session" => Some(Audience::Session {
            user: user()?,
            session: SessionId::from_json(value.get("session")?).ok()?,
        }),
        "admins" => Some(Audience::Admins),
        "everyone" => Some(Audience::Everyone),
        _ => None,
    }
}

/// Inserts one event (writer thread).
pub(super) fn insert(tx: &Transaction<'_>, row: &EventRow) -> rusqlite::Result<()> {
    let mut statement = tx.prepare_cached(
        "INSERT OR REPLACE INTO events (event_offset, timestamp, name, audience, payload) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    statement.execute(rusqlite::params![
        row.offset as i64,
        row.timestamp as i64,
        row.name,
        row.audience,
        row.payload,
    ])?;
    Ok(())
}

/// Raises the stored high-water mark to `offset` (writer thread, with the batch).
pub(super) fn save_high_water(tx: &Transaction<'_>, offset: u64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('event_offset_high', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
    )?
    .execute([offset as i64])?;
    Ok(())
}

/// The offset the next event gets: one past everything ever assigned and committed.
pub(super) fn restore_next_offset(conn: &Connection) -> rusqlite::Result<u64> {
    let high: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'event_offset_high'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let max: Option<i64> =
        conn.query_row("SELECT max(event_offset) FROM events", [], |row| row.get(0))?;
    Ok(high.unwrap_or(0).max(max.unwrap_or(0)).max(0) as u64 + 1)
}

/// Events with an offset strictly greater than `offset`, oldest first, at most `limit`.
pub(super) fn after(
    conn: &Connection,
    offset: u64,
    limit: usize,
) -> Result<Vec<HistoryEvent>, PersistError> {
    let fail = |e: rusqlite::Error| PersistError::database("reading the event history", &e);
    let mut statement = conn
        .prepare_cached(
            "SELECT event_offset, timestamp, name, audience, payload FROM events \
             WHERE event_offset > ?1 ORDER BY event_offset LIMIT ?2",
        )
        .map_err(fail)?;
    let mut rows = statement
        .query(rusqlite::params![
            i64::try_from(offset).unwrap_or(i64::MAX),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ])
        .map_err(fail)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let offset = row.get::<_, i64>(0).map_err(fail)? as u64;
        let invalid = |detail: String| PersistError::InvalidRow {
            table: "events",
            key: offset.to_string(),
            detail,
        };
        let audience_text: String = row.get(3).map_err(fail)?;
        let audience = serde_json::from_str::<Value>(&audience_text)
            .ok()
            .as_ref()
            .and_then(audience_from_json)
            .ok_or_else(|| invalid(format!("bad audience {audience_text}")))?;
        let payload_text: String = row.get(4).map_err(fail)?;
        out.push(HistoryEvent {
            offset,
            timestamp: row.get::<_, i64>(1).map_err(fail)? as u64,
            name: row.get(2).map_err(fail)?,
            audience,
            payload: serde_json::from_str(&payload_text).map_err(|e| invalid(e.to_string()))?,
        });
    }
    Ok(out)
}

/// The oldest and newest stored offsets, if any event is stored.
pub(super) fn bounds(conn: &Connection) -> Result<Option<(u64, u64)>, PersistError> {
    let (low, high): (Option<i64>, Option<i64>) = conn
        .query_row(
            "SELECT min(event_offset), max(event_offset) FROM events",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(|e| PersistError::database("reading the event history bounds", &e))?;
    Ok(low.zip(high).map(|(low, high)| (low as u64, high as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_audience_round_trips_through_its_stored_form() {
        let user = UserId::new("123").unwrap();
        let session = SessionId::new("s-1").unwrap();
        for audience in [
            Audience::User {
                user: user.clone(),
                except_session: None,
            },
            Audience::User {
                user: user.clone(),
                except_session: Some(session.clone()),
            },
            Audience::Session {
                user: user.clone(),
                session,
            },
            Audience::Admins,
            Audience::Everyone,
        ] {
            let stored = audience_to_json(&audience).to_string();
            let back = audience_from_json(&serde_json::from_str(&stored).unwrap());
            assert_eq!(back, Some(audience));
        }
        assert_eq!(audience_from_json(&json!({"to": "nobody"})), None);
        assert_eq!(audience_from_json(&json!({"to": "user"})), None);
    }
}
