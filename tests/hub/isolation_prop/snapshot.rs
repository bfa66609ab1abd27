//! Snapshot pages in the isolation property: what the model expects a connection to
//! list (the fleet for an admin on `admin`, else its own modules, in id order, a page
//! at a time after a cursor) and the check of each `page:snapshot` /
//! `page:snapshot:more` a connection received against it. Must not ask the hub what
//! a connection may see.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::actions::CursorArg;
use super::model::{MConn, MIdentity, Model, Outcome};
use super::{
    ADMIN_PAGE, MODULES, MRole, SNAPSHOT_PAGE_SIZE, cursor_module, describe, device_module, user_id,
};

impl Model {
    /// `client:snapshot`: the next page to a user or admin; a device's goes to the
    /// client-event hook (none here), so nothing comes back.
    pub(super) fn more_snapshot(
        &mut self,
        out: &mut [Vec<String>],
        conn: usize,
        cursor: CursorArg,
    ) -> Outcome {
        if self.conns[conn].closed.is_some() {
            return Outcome::Any;
        }
        let Some(role) = self.conns[conn].auth.as_ref().map(|id| id.role) else {
            return self.refuse(out, conn, "not_authenticated");
        };
        if role == MRole::Device {
            return Outcome::InboundOk;
        }
        let CursorArg::After(module) = cursor else {
            return Outcome::Refused("invalid_snapshot".into());
        };
        self.conns[conn].cursor = Some(cursor_module(module));
        out[conn].push("page:snapshot:more".into());
        Outcome::InboundOk
    }

    /// The modules (id, owner) a connection of `user` lists in a snapshot, in id order:
    /// every module for the fleet, else the user's own.
    fn listable(&self, user: usize, fleet: bool) -> Vec<(String, usize)> {
        let mut visible: Vec<(String, usize)> = self
            .modules
            .iter()
            .enumerate()
            .filter_map(|(m, record)| record.as_ref().map(|r| (MODULES[m].to_owned(), r.owner)))
            .collect();
        for (owner, device) in self.devices.iter().enumerate() {
            if device.known {
                visible.push((device_module(owner), owner));
            }
        }
        visible.retain(|&(_, owner)| fleet || owner == user);
        visible.sort();
        visible
    }
}

/// Checks a `page:snapshot` or `page:snapshot:more` listing against the model: the
/// modules the connection may list, in id order after the cursor, a page at a time,
/// with `total` and `nextCursor`. Other events pass.
pub(super) fn check_listing(
    model: &Model,
    index: usize,
    name: &str,
    payload: &Value,
    context: &str,
) -> Result<(), TestCaseError> {
    let conn = &model.conns[index];
    let who = describe(conn);
    let after = match name {
        "page:snapshot" => None,
        "page:snapshot:more" => Some(conn.cursor.clone().unwrap_or_default()),
        _ => return Ok(()),
    };
    let Some(id) = &conn.auth else {
        return Ok(());
    };
    let listed: Vec<String> = payload["modules"]
        .as_array()
        .map(|modules| {
            modules
                .iter()
                .map(|m| format!("{}@{}", m["moduleId"], m["userId"]))
                .collect()
        })
        .unwrap_or_default();
    // An admin on `admin` lists the fleet; everyone else their own modules.
    let fleet = id.role == MRole::Admin && conn.page == ADMIN_PAGE;
    let visible = model.listable(id.user, fleet);
    let rest: Vec<&(String, usize)> = visible
        .iter()
        .filter(|(module, _)| after.as_ref().is_none_or(|after| module > after))
        .collect();
    let expected: Vec<String> = rest
        .iter()
        .take(SNAPSHOT_PAGE_SIZE)
        .map(|(module, owner)| format!("\"{module}\"@\"{}\"", user_id(*owner)))
        .collect();
    let which = match (&after, fleet) {
        (None, true) => "the first page of every module".to_owned(),
        (None, false) => "the first page of its own modules".to_owned(),
        (Some(after), true) => format!("every module after {after}"),
        (Some(after), false) => format!("its own modules after {after}"),
    };
    prop_assert_eq!(
        &listed,
        &expected,
        "{} of connection #{} ({}) must list {} in id order\n{}",
        name,
        index,
        who,
        which,
        context
    );
    let next_cursor = if rest.len() > SNAPSHOT_PAGE_SIZE {
        json!(rest[SNAPSHOT_PAGE_SIZE - 1].0)
    } else {
        Value::Null
    };
    prop_assert_eq!(
        (&payload["total"], &payload["nextCursor"]),
        (&json!(visible.len()), &next_cursor),
        "{} total and nextCursor of connection #{} ({})\n{}",
        name,
        index,
        who,
        context
    );
    if after.is_none() {
        check_snapshot_extras(model, conn, id, payload, context)?;
    }
    Ok(())
}

/// A `page:snapshot`'s `stats` (admins on `admin`, once there are stats) and
/// `maintenance` (while it is on).
fn check_snapshot_extras(
    model: &Model,
    conn: &MConn,
    id: &MIdentity,
    payload: &Value,
    context: &str,
) -> Result<(), TestCaseError> {
    let who = describe(conn);
    let stats_expected =
        id.role == MRole::Admin && conn.page == ADMIN_PAGE && model.stats.is_some();
    prop_assert_eq!(
        payload.get("stats").is_some(),
        stats_expected,
        "page:snapshot stats presence for connection {}\n{}",
        who,
        context
    );
    prop_assert_eq!(
        payload.get("maintenance").is_some(),
        model.maintenance.0,
        "page:snapshot maintenance presence for connection {}\n{}",
        who,
        context
    );
    Ok(())
}
