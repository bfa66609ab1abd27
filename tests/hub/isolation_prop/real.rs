//! The real hub's side: the same steps applied to in-process connections and the
//! host calls, with their results put in the model's terms.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use microcoaster_realtime::{EmitOutcome, Hub, HubError, InProcessConnection, InboundError, Reply};
use serde_json::{Value, json};

use super::actions::{Credential, CursorArg, HostCall, PageArg, Step};
use super::model::Outcome;
use super::{
    HOST_ROLE, MAINTENANCE_MESSAGES, MIRRORED_EVENT, MODULES, MRole, PAGES, SECRET, SESSION_OWNER,
    SESSIONS, TO_ADMINS_EVENT, TO_EVERYONE_EVENT, TO_USER_EVENT, WRONG_SECRET, cursor_module,
    device_module, user_id, user_number,
};

// ----- the real hub ------------------------------------------------------------------

pub(super) fn jwt(user: usize, role: MRole, session: Option<usize>, forged: bool) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 3600;
    let mut claims = json!({"sub": user_number(user), "role": role.name(), "exp": exp});
    if role == MRole::Device {
        claims["sub"] = json!(device_module(user));
        claims["owner"] = json!(user_number(user));
    }
    if let Some(session) = session {
        claims["sid"] = json!(SESSIONS[session]);
    }
    let secret = if forged { WRONG_SECRET } else { SECRET };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("encode a test token")
}

pub(super) fn inbound(result: Result<Reply, InboundError>) -> Outcome {
    match result {
        Ok(_) => Outcome::InboundOk,
        Err(error) => Outcome::Refused(
            error.ack_body()["code"]
                .as_str()
                .unwrap_or("<no code>")
                .to_owned(),
        ),
    }
}

pub(super) fn emitted(result: Result<EmitOutcome, HubError>) -> Outcome {
    match result {
        Ok(EmitOutcome::Unchanged) => Outcome::Unchanged,
        Ok(EmitOutcome::Delivered { connections }) => Outcome::Delivered(connections),
        Ok(other) => Outcome::Refused(format!("unexpected outcome {other:?}")),
        Err(error) => Outcome::Refused(error.code().to_owned()),
    }
}

pub(super) fn perform(
    hub: &Hub,
    conns: &mut Vec<Option<InProcessConnection>>,
    step: &Step,
) -> Outcome {
    match step {
        Step::Nothing => Outcome::Any,
        Step::Connect => {
            conns.push(Some(hub.connect_in_process()));
            Outcome::Any
        }
        Step::Disconnect(index) => {
            conns[*index] = None;
            Outcome::Any
        }
        Step::Authenticate {
            conn,
            credential,
            claim_user,
            claim_role,
            page,
        } => {
            let mut payload = match credential {
                Credential::Session(session) => json!({"sessionId": SESSIONS[*session]}),
                Credential::Jwt {
                    user,
                    role,
                    session,
                    forged,
                } => json!({"token": jwt(*user, *role, *session, *forged)}),
            };
            if let Some(user) = claim_user {
                payload["userId"] = json!(user_number(*user));
            }
            if let Some(role) = claim_role {
                payload["userType"] = json!(role.name());
            }
            match page {
                PageArg::Absent => {}
                PageArg::Named(page) => payload["page"] = json!(PAGES[*page]),
                PageArg::Unknown => payload["page"] = json!("lobby"),
            }
            let connection = conns[*conn].as_ref().expect("model picks open connections");
            inbound(connection.authenticate(payload))
        }
        Step::ChangePage { conn, page } => {
            let data = match page {
                PageArg::Absent => json!({}),
                PageArg::Named(page) => json!({"page": PAGES[*page]}),
                PageArg::Unknown => json!({"page": "lobby"}),
            };
            let connection = conns[*conn].as_ref().expect("model picks open connections");
            inbound(connection.send("client:page", data))
        }
        Step::MoreSnapshot { conn, cursor } => {
            let data = match cursor {
                CursorArg::Missing => json!({}),
                CursorArg::After(module) => json!({"cursor": cursor_module(*module)}),
            };
            let connection = conns[*conn].as_ref().expect("model picks open connections");
            inbound(connection.send("client:snapshot", data))
        }
        Step::Host(call) => emitted(host_call_on(hub, call)),
    }
}

pub(super) fn host_call_on(hub: &Hub, call: &HostCall) -> Result<EmitOutcome, HubError> {
    let with_owner = |mut object: Value, owner: Option<usize>| {
        if let Some(owner) = owner {
            object["userId"] = json!(user_number(owner));
        }
        object
    };
    match *call {
        HostCall::LoggedIn {
            session,
            flip_role,
            name,
        } => {
            let user = SESSION_OWNER[session];
            let role = if flip_role {
                HOST_ROLE[user].flipped()
            } else {
                HOST_ROLE[user]
            };
            let mut object = json!({"id": user_number(user), "role": role.name()});
            if let Some(name) = name {
                object["name"] = json!(format!("name-{name}"));
            }
            hub.emit_user_logged_in(&object, SESSIONS[session])
        }
        HostCall::LoggedOut { session } => {
            let user = SESSION_OWNER[session];
            hub.emit_user_logged_out(&json!({"id": user_number(user)}), SESSIONS[session])
        }
        HostCall::ModuleStatus {
            module,
            online,
            owner,
        } => {
            let info = with_owner(json!({"type": "Station", "name": "Station"}), owner);
            if online {
                hub.emit_module_online(MODULES[module], &info)
            } else {
                hub.emit_module_offline(MODULES[module], &info)
            }
        }
        HostCall::ModuleAdded {
            module,
            owner,
            online,
        } => {
            let mut object = with_owner(json!({"id": MODULES[module], "type": "Lift"}), owner);
            if let Some(online) = online {
                object["online"] = json!(online);
            }
            hub.emit_module_added(&object)
        }
        HostCall::ModuleRemoved { module, owner } => {
            hub.emit_module_removed(&with_owner(json!({"moduleId": MODULES[module]}), owner))
        }
        HostCall::Telemetry { module, value } => {
            hub.emit_telemetry_update(MODULES[module], &json!({"speed": value}))
        }
        HostCall::ProfileUpdated { user, old, new } => {
            let mut old_object = json!({"id": user_number(user)});
            if let Some(old) = old {
                old_object["name"] = json!(format!("name-{old}"));
            }
            let new_object = json!({"id": user_number(user), "name": format!("name-{new}")});
            hub.emit_user_profile_updated(&old_object, &new_object)
        }
        HostCall::Registered { user, name } => {
            let mut object = json!({"id": user_number(user)});
            if let Some(name) = name {
                object["name"] = json!(format!("name-{name}"));
            }
            hub.emit_user_registered(&object)
        }
        HostCall::Stats(value) => hub.emit_stats_update_with(&json!({"users": value})),
        HostCall::AdminAction { admin } => {
            hub.emit_admin_action(user_number(admin), "user_promoted", &json!({"target": 2}))
        }
        HostCall::Maintenance { enabled, message } => {
            hub.emit_maintenance_mode(enabled, MAINTENANCE_MESSAGES[message], 1)
        }
        HostCall::ToUser { user, mirrored } => {
            let name = if mirrored {
                MIRRORED_EVENT
            } else {
                TO_USER_EVENT
            };
            hub.emit_to_user(user_number(user), name, &json!({"to": user_id(user)}))
        }
        HostCall::ToAdmins { mirrored } => {
            let name = if mirrored {
                MIRRORED_EVENT
            } else {
                TO_ADMINS_EVENT
            };
            hub.emit_to_admins(name, &json!({"level": "info"}))
        }
        HostCall::ToEveryone => hub.emit_to_everyone(TO_EVERYONE_EVENT, &json!({"all": true})),
    }
}
