//! The seed's host API (`emit_module_online`, …, `emit_to_admins`): each method builds
//! its [`HostCall`] from borrowed arguments (nothing is copied) and runs it through
//! [`Hub::run`]. What each call does is in `calls/`; the order every call follows is in
//! `run.rs`. This file must hold nothing but constructors.

use std::borrow::Cow;

use serde_json::Value;

use super::{EmitOutcome, Hub, HubError};
use crate::call::{
    AdminAction, HostCall, IdArg, Login, Maintenance, ModuleStatus, ProfileUpdate, Stats,
    Telemetry, ToAdmins, ToUser,
};

/// What an omitted optional argument (`info`, `details`, `data`) means: JSON `null`,
/// as in every binding (Python `None`, Node `undefined`, C `NULL`).
static OMITTED: Value = Value::Null;

fn optional<'a>(value: impl Into<Option<&'a Value>>) -> Cow<'a, Value> {
    Cow::Borrowed(value.into().unwrap_or(&OMITTED))
}

fn status<'a>(module_id: &'a str, info: impl Into<Option<&'a Value>>) -> ModuleStatus<'a> {
    ModuleStatus {
        module_id: Cow::Borrowed(module_id),
        info: optional(info),
    }
}

fn login<'a>(user: &'a Value, session_id: &'a str) -> Login<'a> {
    Login {
        user: Cow::Borrowed(user),
        session_id: Cow::Borrowed(session_id),
    }
}

impl Hub {
    /// A module came online (seed: `emitModuleOnline(id, info)`); `info` is
    /// `{userId, name?, type?, …}` (`userId` required the first time a module is seen),
    /// optional: `None` (or `&Value::Null`) for none, as in every binding.
    /// Sends `module:status:changed` unless it was already online.
    pub fn emit_module_online<'a>(
        &self,
        module_id: &'a str,
        info: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ModuleOnline(status(module_id, info)))
    }

    /// A module went offline (seed: `emitModuleOffline(id, info)`). Sends
    /// `module:status:changed` unless it was already offline (a module never seen is
    /// recorded as offline and nothing is sent). `info` is optional as for
    /// [`emit_module_online`](Self::emit_module_online).
    pub fn emit_module_offline<'a>(
        &self,
        module_id: &'a str,
        info: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ModuleOffline(status(module_id, info)))
    }

    /// A module was added (seed: `emitModuleAdded(module)`); `module` has `id` or
    /// `moduleId`, `userId`, and any other fields. Sends `user:module:added` to the owner
    /// and `admin:module:added` to admins, unless it was already added.
    pub fn emit_module_added(&self, module: &Value) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ModuleAdded(Cow::Borrowed(module)))
    }

    /// A module was removed (seed: `emitModuleRemoved(module)`). Sends
    /// `user:module:removed` to the owner and `admin:module:removed` to admins, unless
    /// the module is unknown.
    pub fn emit_module_removed(&self, module: &Value) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ModuleRemoved(Cow::Borrowed(module)))
    }

    /// New telemetry for a known module (seed: `emitTelemetryUpdate(id, t)`). Sends
    /// `module:telemetry:updated` to the owner unless equal to the last value; a slow
    /// connection keeps only the latest telemetry per module.
    pub fn emit_telemetry_update(
        &self,
        module_id: &str,
        telemetry: &Value,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::TelemetryUpdate(Telemetry {
            module_id: Cow::Borrowed(module_id),
            telemetry: Cow::Borrowed(telemetry),
        }))
    }

    /// A user logged in with `session_id` (seed: `emitUserLoggedIn(user, sid)`); `user`
    /// has `id`/`userId`, `role`/`userType` (default `user`) and profile fields. Registers
    /// the session for the session authenticator, then sends `user:session:started` to
    /// the user's other sessions and `admin:user:logged_in` to admins. The same session
    /// logging in twice is `Unchanged`.
    pub fn emit_user_logged_in(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::UserLoggedIn(login(user, session_id)))
    }

    /// A session logged out (seed: `emitUserLoggedOut(user, sid)`). Sends
    /// `user:session:ended` to that session's connections, then closes them (reason
    /// `logged_out`), and `admin:user:logged_out` to admins. The session id is refused
    /// by both built-in authenticators afterwards. A session that is neither logged in
    /// nor connected is `Unchanged`.
    pub fn emit_user_logged_out(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::UserLoggedOut(login(user, session_id)))
    }

    /// A profile changed (seed: `emitUserProfileUpdated(old, new)`). Sends
    /// `user:profile:updated {userId, changes}` to the user's connections with only the
    /// fields that differ from the stored profile (or from `old` the first time);
    /// `Unchanged` when none differs.
    pub fn emit_user_profile_updated(
        &self,
        old: &Value,
        new: &Value,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::UserProfileUpdated(ProfileUpdate {
            old: Cow::Borrowed(old),
            new: Cow::Borrowed(new),
        }))
    }

    /// A new account (seed: `emitUserRegistered(user)`). Sends `admin:user:registered
    /// {user}` to admins unless that user was already registered.
    pub fn emit_user_registered(&self, user: &Value) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::UserRegistered(Cow::Borrowed(user)))
    }

    /// Asks the stats provider for current stats (seed: `emitStatsUpdate()`) and sends
    /// `admin:stats:updated {stats}` to admins if they differ from the last sent.
    pub fn emit_stats_update(&self) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::StatsUpdate(Stats { stats: None }))
    }

    /// Sends `admin:stats:updated {stats}` with the given stats (an object) if they
    /// differ from the last sent.
    pub fn emit_stats_update_with(&self, stats: &Value) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::StatsUpdate(Stats {
            stats: Some(Cow::Borrowed(stats)),
        }))
    }

    /// An administrator acted (seed: `emitAdminAction(adminId, action, details)`).
    /// Always sends `admin:action {adminId, action, details}` to admins; `details` is
    /// optional (`None`: `null`).
    pub fn emit_admin_action<'a>(
        &self,
        admin_id: impl Into<IdArg>,
        action: &'a str,
        details: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::AdminAction(AdminAction {
            admin_id: admin_id.into(),
            action: Cow::Borrowed(action),
            details: optional(details),
        }))
    }

    /// Switches maintenance mode (seed: `emitMaintenanceMode(on, msg, adminId)`). Sends
    /// `system:maintenance {enabled, message, adminId}` to every authenticated
    /// connection, unless already in that state with that message. While on, newly
    /// authenticated connections receive it too.
    pub fn emit_maintenance_mode(
        &self,
        enabled: bool,
        message: &str,
        admin_id: impl Into<IdArg>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::MaintenanceMode(Maintenance {
            enabled,
            message: Cow::Borrowed(message),
            admin_id: admin_id.into(),
        }))
    }

    /// Sends a host event to every connection of one user (seed: `emitToUser`), for
    /// anything the twelve calls don't cover. Names in a reserved prefix are refused;
    /// object data gets `timestamp`; `data` is optional (`None`: `null`).
    pub fn emit_to_user<'a>(
        &self,
        user_id: impl Into<IdArg>,
        event_name: &'a str,
        data: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ToUser(ToUser {
            user_id: user_id.into(),
            event: Cow::Borrowed(event_name),
            data: optional(data),
        }))
    }

    /// Sends a host event to admin connections (seed: `emitToAdmins`), on every page
    /// unless a route says otherwise; `data` is optional (`None`: `null`).
    pub fn emit_to_admins<'a>(
        &self,
        event_name: &'a str,
        data: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ToAdmins(ToAdmins {
            event: Cow::Borrowed(event_name),
            data: optional(data),
        }))
    }
}
