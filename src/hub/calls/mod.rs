//! Each host call's own parts of the skeleton (`run.rs`): what it checks, the shared
//! state it claims, how it changes the store and what it sends. One file per family:
//! `modules.rs` (online, offline, added, removed, telemetry), `users.rs` (log in, log
//! out, profile, registration), `admin.rs` (stats, admin action, maintenance, host
//! events). None resolves audiences, encodes frames or audits: the skeleton and
//! `deliver.rs` do.

mod admin;
mod modules;
mod users;

pub(super) use modules::{Added, Removed, Status};
pub(super) use users::{LogIn, LogOut, Registered};

use serde_json::{Map, Value, json};

use super::HubError;
use crate::auth::Role;
use crate::event;
use crate::ids::UserId;

/// The user object admins receive: the profile with `userId` and `role`.
fn user_view(id: &UserId, role: Role, profile: &Map<String, Value>) -> Value {
    let mut view = profile.clone();
    view.insert("userId".into(), json!(id));
    view.insert("role".into(), json!(role.as_str()));
    Value::Object(view)
}

fn check_event_name(name: &str) -> Result<(), HubError> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(HubError::InvalidEventName(format!(
            "{name:?}: 1 to 128 bytes, no control characters"
        )));
    }
    Ok(())
}

fn check_host_event(name: &str) -> Result<(), HubError> {
    check_event_name(name)?;
    if event::is_reserved(name) || name == event::CLIENT_AUTHENTICATE || name == event::CLIENT_PAGE
    {
        return Err(HubError::ReservedEvent(name.to_owned()));
    }
    Ok(())
}
