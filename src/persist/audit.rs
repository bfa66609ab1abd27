//! The audit log table: how an [`AuditRecord`] is stored, read back and queried, and the
//! [`AuditSink`] adapter that feeds it from the hub.
//!
//! Owns the `audit` table's row format, [`AuditFilter`], [`AuditRow`] and [`AuditLog`]
//! (the query handle `Hub::audit` returns). Rows are
//! written only by the writer thread (`writer.rs`) and read on the caller's thread
//! through the reader connection; a query sees committed rows only (call
//! [`Persistence::flush`] first to include everything enqueued). This module must not
//! block the hot path: [`PersistenceAudit::record`] only enqueues (`Batched`/`Off`).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, Statement, params_from_iter};
use serde::Serialize;

use super::Persistence;
use super::error::PersistError;
use crate::hooks::{AuditKind, AuditOutcome, AuditRecord, AuditSink};
use crate::ids::ConnectionId;
use crate::ids::{ModuleId, UserId};

/// Most rows one [`Persistence::audit_query`] returns, whatever the filter's limit.
pub const MAX_AUDIT_PAGE: usize = 10_000;

/// Which audit rows to return, and which page. Every field narrows the result; the
/// default returns the oldest 100 rows.
///
/// ```
/// use microcoaster_realtime::persist::AuditFilter;
/// use microcoaster_realtime::UserId;
///
/// let filter = AuditFilter {
///     user_id: Some(UserId::new("123").unwrap()),
///     newest_first: true,
///     limit: 50,
///     ..AuditFilter::default()
/// };
/// # let _ = filter;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Rows at or after this time (ms since the epoch).
    pub since: Option<u64>,
    /// Rows strictly before this time.
    pub until: Option<u64>,
    /// Rows about this user.
    pub user_id: Option<UserId>,
    /// Rows about this module.
    pub module_id: Option<ModuleId>,
    /// Rows of this kind.
    pub kind: Option<AuditKind>,
    /// Rows of this action (a call's name such as `module_online`, `jwt`, …).
    pub action: Option<String>,
    /// Paging cursor: the `id` of the last row of the previous page; rows strictly
    /// after it in the chosen order.
    pub after_id: Option<u64>,
    /// Newest rows first (default: oldest first).
    pub newest_first: bool,
    /// Page size; 0 means 100, at most [`MAX_AUDIT_PAGE`].
    pub limit: usize,
}

/// One stored audit record with its row id (the paging cursor; ids increase in write
/// order).
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    /// Row id.
    pub id: u64,
    /// The record.
    #[serde(flatten)]
    pub record: AuditRecord,
}

pub(super) fn kind_name(kind: AuditKind) -> &'static str {
    match kind {
        AuditKind::Emit => "emit",
        AuditKind::Auth => "auth",
        AuditKind::Close => "close",
        AuditKind::BadInput => "bad_input",
    }
}

fn parse_kind(text: &str) -> Option<AuditKind> {
    Some(match text {
        "emit" => AuditKind::Emit,
        "auth" => AuditKind::Auth,
        "close" => AuditKind::Close,
        "bad_input" => AuditKind::BadInput,
        _ => return None,
    })
}

/// An audit record in its stored form, built on the caller's thread: the detail is
/// serialized there once (one allocation that crosses to the writer, instead of a deep
/// clone of the JSON tree).
#[derive(Debug)]
pub(super) struct AuditEntry {
    timestamp: i64,
    kind: &'static str,
    action: String,
    user_id: Option<UserId>,
    module_id: Option<ModuleId>,
    connection: Option<i64>,
    outcome: &'static str,
    connections: Option<i64>,
    code: Option<String>,
    detail: String,
}

impl AuditEntry {
    pub(super) fn new(record: &AuditRecord) -> Self {
        let (outcome, connections, code) = match &record.outcome {
            AuditOutcome::Unchanged => ("unchanged", None, None),
            AuditOutcome::Delivered { connections } => {
                ("delivered", Some(*connections as i64), None)
            }
            AuditOutcome::Accepted => ("accepted", None, None),
            AuditOutcome::Refused { code } => ("refused", None, Some(code.clone())),
        };
        Self {
            timestamp: clamp(record.timestamp),
            kind: kind_name(record.kind),
            action: record.action.clone(),
            user_id: record.user_id.clone(),
            module_id: record.module_id.clone(),
            connection: record.connection.map(|c| clamp(c.0)),
            outcome,
            connections,
            code,
            detail: serde_json::to_string(&record.detail).unwrap_or_else(|_| "null".to_owned()),
        }
    }
}

pub(super) const INSERT_SQL: &str = "INSERT INTO audit (timestamp, kind, action, user_id, \
     module_id, connection, outcome, connections, code, detail) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Inserts one entry with the prepared [`INSERT_SQL`] (writer thread, inside its batch
/// transaction).
pub(super) fn insert(statement: &mut Statement<'_>, entry: &AuditEntry) -> rusqlite::Result<()> {
    statement.execute(rusqlite::params![
        entry.timestamp,
        entry.kind,
        entry.action,
        entry.user_id.as_ref().map(UserId::as_str),
        entry.module_id.as_ref().map(ModuleId::as_str),
        entry.connection,
        entry.outcome,
        entry.connections,
        entry.code,
        entry.detail,
    ])?;
    Ok(())
}

/// Runs `filter` on the reader connection.
pub(super) fn query(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<Vec<AuditRow>, PersistError> {
    let (sql, values) = select(filter);
    let fail = |e: rusqlite::Error| PersistError::database("querying the audit log", &e);
    let mut statement = conn.prepare_cached(&sql).map_err(fail)?;
    let mut rows = statement.query(params_from_iter(values)).map_err(fail)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        out.push(read_row(row)?);
    }
    Ok(out)
}

/// The `SELECT` for `filter` and the values of its placeholders, in order.
fn select(filter: &AuditFilter) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<&str> = Vec::new();
    let mut values: Vec<SqlValue> = Vec::new();
    if let Some(since) = filter.since {
        clauses.push("timestamp >= ?");
        values.push(SqlValue::Integer(clamp(since)));
    }
    if let Some(until) = filter.until {
        clauses.push("timestamp < ?");
        values.push(SqlValue::Integer(clamp(until)));
    }
    if let Some(user) = &filter.user_id {
        clauses.push("user_id = ?");
        values.push(SqlValue::Text(user.as_str().to_owned()));
    }
    if let Some(module) = &filter.module_id {
        clauses.push("module_id = ?");
        values.push(SqlValue::Text(module.as_str().to_owned()));
    }
    if let Some(kind) = filter.kind {
        clauses.push("kind = ?");
        values.push(SqlValue::Text(kind_name(kind).to_owned()));
    }
    if let Some(action) = &filter.action {
        clauses.push("action = ?");
        values.push(SqlValue::Text(action.clone()));
    }
    if let Some(after) = filter.after_id {
        clauses.push(if filter.newest_first {
            "id < ?"
        } else {
            "id > ?"
        });
        values.push(SqlValue::Integer(clamp(after)));
    }
    let limit = match filter.limit {
        0 => 100,
        n => n.min(MAX_AUDIT_PAGE),
    };
    values.push(SqlValue::Integer(limit as i64));
    let mut sql = String::from(
        "SELECT id, timestamp, kind, action, user_id, module_id, connection, outcome, \
         connections, code, detail FROM audit",
    );
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(if filter.newest_first {
        " ORDER BY id DESC LIMIT ?"
    } else {
        " ORDER BY id ASC LIMIT ?"
    });
    (sql, values)
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn read_row(row: &Row<'_>) -> Result<AuditRow, PersistError> {
    let fail = |e: rusqlite::Error| PersistError::database("reading an audit row", &e);
    let id: i64 = row.get(0).map_err(fail)?;
    let invalid = |detail: String| PersistError::InvalidRow {
        table: "audit",
        key: id.to_string(),
        detail,
    };
    let kind_text: String = row.get(2).map_err(fail)?;
    let kind =
        parse_kind(&kind_text).ok_or_else(|| invalid(format!("unknown kind {kind_text:?}")))?;
    let user_id = row
        .get::<_, Option<String>>(4)
        .map_err(fail)?
        .map(|text| UserId::new(&text).map_err(|e| invalid(e.to_string())))
        .transpose()?;
    let module_id = row
        .get::<_, Option<String>>(5)
        .map_err(fail)?
        .map(|text| ModuleId::new(&text).map_err(|e| invalid(e.to_string())))
        .transpose()?;
    let outcome_text: String = row.get(7).map_err(fail)?;
    let outcome = match outcome_text.as_str() {
        "unchanged" => AuditOutcome::Unchanged,
        "accepted" => AuditOutcome::Accepted,
        "delivered" => AuditOutcome::Delivered {
            connections: row.get::<_, Option<i64>>(8).map_err(fail)?.unwrap_or(0) as usize,
        },
        "refused" => AuditOutcome::Refused {
            code: row
                .get::<_, Option<String>>(9)
                .map_err(fail)?
                .unwrap_or_default(),
        },
        other => return Err(invalid(format!("unknown outcome {other:?}"))),
    };
    let detail_text: String = row.get(10).map_err(fail)?;
    let detail = serde_json::from_str(&detail_text).map_err(|e| invalid(e.to_string()))?;
    Ok(AuditRow {
        id: id as u64,
        record: AuditRecord {
            timestamp: row.get::<_, i64>(1).map_err(fail)? as u64,
            kind,
            action: row.get(3).map_err(fail)?,
            user_id,
            module_id,
            connection: row
                .get::<_, Option<i64>>(6)
                .map_err(fail)?
                .map(|c| ConnectionId(c as u64)),
            outcome,
            detail,
        },
    })
}

/// The hub's audit sink backed by SQLite: `Hub::builder().audit_sink(persistence.audit_sink())`.
///
/// In `Batched`/`Off` mode [`record`](AuditSink::record) only enqueues (a full queue
/// drops the row, counts it and logs a warning); in `Sync` mode it returns once the row
/// is committed (or the commit failed: then the failure is counted and logged, and the
/// writer keeps retrying). Errors are never returned to the emitting call: they show in
/// [`Persistence::metrics`].
#[derive(Debug, Clone)]
pub struct PersistenceAudit {
    persistence: Persistence,
}

impl PersistenceAudit {
    pub(super) fn new(persistence: Persistence) -> Self {
        Self { persistence }
    }
}

impl AuditSink for PersistenceAudit {
    fn record(&self, record: &AuditRecord) {
        // Failures are counted and logged by `audit`.
        let _ = self.persistence.audit(record);
    }
}

/// The hub's audit log (`Hub::audit`): queries that include every row recorded before
/// the call.
#[derive(Debug, Clone)]
pub struct AuditLog {
    persistence: Persistence,
}

impl AuditLog {
    pub(crate) fn new(persistence: Persistence) -> Self {
        Self { persistence }
    }

    /// Rows matching `filter`. Commits what is queued first, so every audit row recorded
    /// before this call is included (unless the disk is failing: then the rows committed
    /// so far, and the failure shows in the persistence metrics).
    pub fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, PersistError> {
        if let Err(error) = self.persistence.flush() {
            tracing::debug!(%error, "audit query: flush failed, reading committed rows");
        }
        self.persistence.audit_query(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_name_parses_back() {
        for kind in [
            AuditKind::Emit,
            AuditKind::Auth,
            AuditKind::Close,
            AuditKind::BadInput,
        ] {
            assert_eq!(parse_kind(kind_name(kind)), Some(kind));
            // Same spelling as the record's JSON form.
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind_name(kind))
            );
        }
        assert_eq!(parse_kind("nope"), None);
    }

    #[test]
    fn page_size_is_capped() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE audit (id INTEGER PRIMARY KEY, timestamp INTEGER, kind TEXT, action TEXT, \
             user_id TEXT, module_id TEXT, connection INTEGER, outcome TEXT, connections INTEGER, \
             code TEXT, detail TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10005)
             INSERT INTO audit SELECT i, i, 'emit', 'x', NULL, NULL, NULL, 'unchanged', NULL, NULL, 'null' FROM n;",
        )
        .unwrap();
        let all = AuditFilter {
            limit: usize::MAX,
            ..AuditFilter::default()
        };
        assert_eq!(query(&conn, &all).unwrap().len(), MAX_AUDIT_PAGE);
        assert_eq!(query(&conn, &AuditFilter::default()).unwrap().len(), 100);
        let last = AuditFilter {
            newest_first: true,
            after_id: Some(3),
            ..AuditFilter::default()
        };
        let ids: Vec<u64> = query(&conn, &last).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(ids, [2, 1]);
    }
}
