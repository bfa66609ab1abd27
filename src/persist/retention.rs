//! One retention pass: deletes the audit rows, revoked session ids and history events
//! that [`Retention`] no longer keeps, in one transaction.
//!
//! Owns the deletion queries. It must not decide when to run (the writer runs it every
//! `retention.interval` and on `prune_now`) nor count failures (the writer does).

use std::time::Duration;

use rusqlite::Connection;

use super::REVOKED_SESSIONS_KEPT;
use super::config::Retention;

/// Deletes, as of `now` (ms since the epoch), what `retention` no longer keeps.
pub(super) fn prune(
    conn: &mut Connection,
    retention: &Retention,
    now: u64,
) -> rusqlite::Result<()> {
    let cutoff =
        |age: Option<Duration>| age.map(|age| now.saturating_sub(age.as_millis() as u64) as i64);
    let tx = conn.transaction()?;
    if let Some(cut) = cutoff(retention.audit_max_age) {
        tx.execute("DELETE FROM audit WHERE timestamp < ?1", [cut])?;
    }
    if let Some(rows) = retention.audit_max_rows {
        tx.execute(
            "DELETE FROM audit WHERE id < \
             (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [rows.saturating_sub(1) as i64],
        )?;
    }
    tx.execute(
        "DELETE FROM revoked_sessions WHERE id NOT IN \
         (SELECT id FROM revoked_sessions ORDER BY at DESC LIMIT ?1)",
        [REVOKED_SESSIONS_KEPT as i64],
    )?;
    if let Some(cut) = cutoff(retention.history_max_age) {
        tx.execute(
            "DELETE FROM events WHERE event_offset <= \
             (SELECT max(event_offset) FROM events WHERE timestamp < ?1)",
            [cut],
        )?;
    }
    if let Some(rows) = retention.history_max_rows {
        tx.execute(
            "DELETE FROM events WHERE event_offset < \
             (SELECT event_offset FROM events ORDER BY event_offset DESC LIMIT 1 OFFSET ?1)",
            [rows.saturating_sub(1) as i64],
        )?;
    }
    tx.commit()
}
