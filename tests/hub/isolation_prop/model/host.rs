//! The model's host calls: for each `emit_*`, whether it changes the model's store and
//! which connections the table says receive what; and the scope (user) a frame is for.

use microcoaster_realtime::OutboundEvent;
use serde_json::Value;

use super::{Model, Outcome, is_admin_on_admin_page, is_owner_page};
use crate::isolation_prop::actions::HostCall;
use crate::isolation_prop::{
    HOST_ROLE, MIRRORED_EVENT, MODULES, MRole, SESSION_OWNER, TO_ADMINS_EVENT, TO_EVERYONE_EVENT,
    TO_USER_EVENT, user_id,
};

impl Model {
    pub(crate) fn host(&mut self, out: &mut [Vec<String>], call: &HostCall) -> Outcome {
        match *call {
            HostCall::ModuleStatus {
                module,
                online,
                owner,
            } => {
                if let Err(refused) = self.ensure_module(module, owner) {
                    return refused;
                }
                let record = self.modules[module].as_mut().expect("ensured");
                if record.online == online {
                    return Outcome::Unchanged;
                }
                record.online = online;
                let owner = record.owner;
                // Owner's connections on modules/dashboard, admins on admin: once each.
                Outcome::Delivered(self.deliver(out, "module:status:changed", |id, page| {
                    (id.user == owner && is_owner_page(page)) || is_admin_on_admin_page(id, page)
                }))
            }
            HostCall::ModuleAdded {
                module,
                owner,
                online,
            } => {
                if let Err(refused) = self.ensure_module(module, owner) {
                    return refused;
                }
                let record = self.modules[module].as_mut().expect("ensured");
                if record.added {
                    return Outcome::Unchanged;
                }
                record.added = true;
                if let Some(online) = online {
                    record.online = online;
                }
                let owner = record.owner;
                let n = self.deliver(out, "user:module:added", |id, _| id.user == owner);
                Outcome::Delivered(n + self.deliver_to_admin_page(out, "admin:module:added"))
            }
            HostCall::ModuleRemoved { module, owner } => {
                let Some(record) = &self.modules[module] else {
                    return Outcome::Unchanged;
                };
                if owner.is_some_and(|claimed| claimed != record.owner) {
                    return Outcome::Refused("owner_mismatch".into());
                }
                let owner = record.owner;
                self.modules[module] = None;
                let n = self.deliver(out, "user:module:removed", |id, _| id.user == owner);
                Outcome::Delivered(n + self.deliver_to_admin_page(out, "admin:module:removed"))
            }
            HostCall::Telemetry { module, value } => {
                let Some(record) = &mut self.modules[module] else {
                    return Outcome::Refused("unknown_module".into());
                };
                if record.telemetry == Some(value) {
                    return Outcome::Unchanged;
                }
                record.telemetry = Some(value);
                let owner = record.owner;
                Outcome::Delivered(self.deliver(out, "module:telemetry:updated", |id, page| {
                    id.user == owner && is_owner_page(page)
                }))
            }
            HostCall::LoggedIn {
                session,
                flip_role,
                name,
            } => {
                let user = SESSION_OWNER[session];
                self.users[user].absorb(name);
                let role = if flip_role {
                    HOST_ROLE[user].flipped()
                } else {
                    HOST_ROLE[user]
                };
                let changed = self.live_sessions[session] != Some((user, role));
                self.live_sessions[session] = Some((user, role));
                self.revoked_sessions[session] = false;
                if !changed {
                    return Outcome::Unchanged;
                }
                let n = self.deliver(out, "user:session:started", |id, _| {
                    id.user == user && id.session != Some(session)
                });
                Outcome::Delivered(n + self.deliver_to_admin_page(out, "admin:user:logged_in"))
            }
            HostCall::LoggedOut { session, .. } => {
                let was_live = self.live_sessions[session].take().is_some();
                self.revoked_sessions[session] = true;
                let ended = self.deliver(out, "user:session:ended", |id, _| {
                    id.session == Some(session)
                });
                let mut closing = 0;
                for (index, conn) in self.conns.iter_mut().enumerate() {
                    if conn
                        .audience_identity()
                        .is_some_and(|id| id.session == Some(session))
                    {
                        conn.closed = Some("logged_out");
                        out[index].push("closed:logged_out".into());
                        closing += 1;
                    }
                }
                if !was_live && closing == 0 {
                    return Outcome::Unchanged;
                }
                Outcome::Delivered(ended + self.deliver_to_admin_page(out, "admin:user:logged_out"))
            }
            HostCall::ProfileUpdated { user, old, new } => {
                let record = &mut self.users[user];
                if !record.known {
                    record.absorb(old);
                }
                let changed = record.name != Some(new);
                record.name = Some(new);
                record.known = true;
                if !changed {
                    return Outcome::Unchanged;
                }
                Outcome::Delivered(
                    self.deliver(out, "user:profile:updated", |id, _| id.user == user),
                )
            }
            HostCall::Registered { user, name } => {
                let record = &mut self.users[user];
                let newly = !record.registered;
                record.registered = true;
                record.absorb(name);
                if !newly {
                    return Outcome::Unchanged;
                }
                Outcome::Delivered(self.deliver_to_admin_page(out, "admin:user:registered"))
            }
            HostCall::Stats(value) => {
                if self.stats == Some(value) {
                    return Outcome::Unchanged;
                }
                self.stats = Some(value);
                Outcome::Delivered(self.deliver_to_admin_page(out, "admin:stats:updated"))
            }
            HostCall::AdminAction { .. } => {
                Outcome::Delivered(self.deliver_to_admin_page(out, "admin:action"))
            }
            HostCall::Maintenance { enabled, message } => {
                // DESIGN: "already in that state with that message"; while off the
                // message shows nowhere, so switching off again is no change.
                let (was_enabled, was_message) = self.maintenance;
                if was_enabled == enabled && (was_message == message || !enabled) {
                    return Outcome::Unchanged;
                }
                self.maintenance = (enabled, message);
                Outcome::Delivered(self.deliver(out, "system:maintenance", |_, _| true))
            }
            HostCall::ToUser {
                user,
                mirrored: false,
            } => Outcome::Delivered(self.deliver(out, TO_USER_EVENT, |id, _| id.user == user)),
            HostCall::ToUser {
                user,
                mirrored: true,
            } => Outcome::Delivered(self.deliver(out, MIRRORED_EVENT, |id, page| {
                id.user == user || is_admin_on_admin_page(id, page)
            })),
            HostCall::ToAdmins { mirrored: false } => {
                Outcome::Delivered(
                    self.deliver(out, TO_ADMINS_EVENT, |id, _| id.role == MRole::Admin),
                )
            }
            HostCall::ToAdmins { mirrored: true } => {
                Outcome::Delivered(self.deliver_to_admin_page(out, MIRRORED_EVENT))
            }
            // Every authenticated user and admin connection, on every page.
            HostCall::ToEveryone => {
                Outcome::Delivered(self.deliver(out, TO_EVERYONE_EVENT, |_, _| true))
            }
        }
    }

    /// The user a received event is about, for isolation rule 1 (read from the payload,
    /// or for telemetry from the model's owner of the module).
    pub(crate) fn scope_of(&self, frame: &OutboundEvent) -> Option<String> {
        let payload = frame.payload();
        let text = |value: &Value| value.as_str().unwrap_or("<not a string>").to_owned();
        match frame.name() {
            "module:status:changed"
            | "user:session:started"
            | "user:session:ended"
            | "user:profile:updated" => Some(text(&payload["userId"])),
            "user:module:added" | "user:module:removed" => Some(text(&payload["module"]["userId"])),
            "module:telemetry:updated" => Some(
                MODULES
                    .iter()
                    .position(|m| payload["moduleId"] == *m)
                    .and_then(|m| self.modules[m].as_ref())
                    .map_or_else(|| "<unknown module>".to_owned(), |m| user_id(m.owner)),
            ),
            TO_USER_EVENT | MIRRORED_EVENT if payload.get("to").is_some() => {
                Some(text(&payload["to"]))
            }
            _ => None,
        }
    }
}
