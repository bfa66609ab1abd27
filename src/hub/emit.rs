//! The seed's host API (`emit_module_online`, …, `emit_to_admins`, `emit_to_everyone`): each method builds
//! its [`HostCall`] from borrowed arguments (nothing is copied) and runs it through
//! [`Hub::run`]. What each call does is in `calls/`; the order every call follows is in
//! `run.rs`. This file must hold nothing but constructors.
//!
//! Each call's doc is written once, in `docs/calls/<call>.md`: included here with
//! `include_str!`, and written into the C header, the Python stubs and the Node types by
//! `scripts/call-docs` (CI runs `scripts/call-docs --check`; `call::tests::
//! every_call_has_one_doc` fails when a call has no doc file).

use bytes::Bytes;
use std::borrow::Cow;

use serde_json::Value;

use super::{EmitOutcome, Hub, HubError};
use crate::call::{
    AdminAction, HostCall, IdArg, Login, Maintenance, ModuleStatus, ProfileUpdate, Stats,
    Telemetry, ToAdmins, ToEveryone, ToUser,
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
    /// Runs a call whose arguments are all borrowed (every `Cow` is `Borrowed`), so
    /// there is nothing to free: its drop glue is skipped. The module and telemetry
    /// calls are the most frequent, and mostly unchanged; under callgrind the drop was
    /// ~34 of ~890 instructions of an unchanged `emit_module_online`.
    fn run_borrowed(&self, call: HostCall<'_>) -> Result<EmitOutcome, HubError> {
        self.run_ref(&std::mem::ManuallyDrop::new(call))
    }

    #[doc = include_str!("../../docs/calls/module_online.md")]
    ///
    /// Rust: pass `None` (or `&Value::Null`) to omit `info`.
    pub fn emit_module_online<'a>(
        &self,
        module_id: &'a str,
        info: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run_borrowed(HostCall::ModuleOnline(status(module_id, info)))
    }

    #[doc = include_str!("../../docs/calls/module_offline.md")]
    ///
    /// Rust: pass `None` to omit `info`.
    pub fn emit_module_offline<'a>(
        &self,
        module_id: &'a str,
        info: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run_borrowed(HostCall::ModuleOffline(status(module_id, info)))
    }

    #[doc = include_str!("../../docs/calls/module_added.md")]
    pub fn emit_module_added(&self, module: &Value) -> Result<EmitOutcome, HubError> {
        self.run_borrowed(HostCall::ModuleAdded(Cow::Borrowed(module)))
    }

    #[doc = include_str!("../../docs/calls/module_removed.md")]
    pub fn emit_module_removed(&self, module: &Value) -> Result<EmitOutcome, HubError> {
        self.run_borrowed(HostCall::ModuleRemoved(Cow::Borrowed(module)))
    }

    #[doc = include_str!("../../docs/calls/telemetry_update.md")]
    pub fn emit_telemetry_update(
        &self,
        module_id: &str,
        telemetry: &Value,
    ) -> Result<EmitOutcome, HubError> {
        self.run_borrowed(HostCall::TelemetryUpdate(Telemetry {
            module_id: Cow::Borrowed(module_id),
            telemetry: Cow::Borrowed(telemetry),
        }))
    }

    #[doc = include_str!("../../docs/calls/user_logged_in.md")]
    pub fn emit_user_logged_in(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::UserLoggedIn(login(user, session_id)))
    }

    #[doc = include_str!("../../docs/calls/user_logged_out.md")]
    pub fn emit_user_logged_out(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::UserLoggedOut(login(user, session_id)))
    }

    #[doc = include_str!("../../docs/calls/user_profile_updated.md")]
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

    #[doc = include_str!("../../docs/calls/user_registered.md")]
    pub fn emit_user_registered(&self, user: &Value) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::UserRegistered(Cow::Borrowed(user)))
    }

    #[doc = include_str!("../../docs/calls/stats_update.md")]
    ///
    /// Rust: pass `None` to ask the stats provider ([`HubBuilder::stats_provider`]).
    ///
    /// [`HubBuilder::stats_provider`]: crate::HubBuilder::stats_provider
    pub fn emit_stats_update(&self, stats: Option<&Value>) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::StatsUpdate(Stats {
            stats: stats.map(Cow::Borrowed),
        }))
    }

    /// Alias of [`emit_stats_update(Some(stats))`](Self::emit_stats_update), kept for code
    /// written when the stats call was two methods.
    pub fn emit_stats_update_with(&self, stats: &Value) -> Result<EmitOutcome, HubError> {
        self.emit_stats_update(Some(stats))
    }

    #[doc = include_str!("../../docs/calls/admin_action.md")]
    ///
    /// Rust: pass `None` to omit `details`.
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

    #[doc = include_str!("../../docs/calls/maintenance_mode.md")]
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

    #[doc = include_str!("../../docs/calls/to_user.md")]
    ///
    /// Rust: pass `None` to omit `data`.
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
            attachments: Vec::new(),
        }))
    }

    #[doc = include_str!("../../docs/calls/to_admins.md")]
    ///
    /// Rust: pass `None` to omit `data`.
    pub fn emit_to_admins<'a>(
        &self,
        event_name: &'a str,
        data: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ToAdmins(ToAdmins {
            event: Cow::Borrowed(event_name),
            data: optional(data),
            attachments: Vec::new(),
        }))
    }

    #[doc = include_str!("../../docs/calls/to_everyone.md")]
    ///
    /// Rust: pass `None` to omit `data`.
    pub fn emit_to_everyone<'a>(
        &self,
        event_name: &'a str,
        data: impl Into<Option<&'a Value>>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ToEveryone(ToEveryone {
            event: Cow::Borrowed(event_name),
            data: optional(data),
            attachments: Vec::new(),
        }))
    }

    /// [`Hub::emit_to_user`] with binary values: each value of `attachments` stands
    /// where `data` has the placeholder `{"_placeholder":true,"num":N}` (build one with
    /// [`crate::protocol::binary::placeholder`]). Socket.IO clients receive the binary
    /// values in place (a `Buffer` in socket.io-client, `bytes` in python-socketio);
    /// native clients get them as base64 in the frame's `attachments`. The packet and
    /// its attachments are built once and shared by every recipient. A placeholder
    /// past the attachments is refused (`invalid_argument`).
    pub fn emit_binary_to_user<'a>(
        &self,
        user_id: impl Into<IdArg>,
        event_name: &'a str,
        data: &'a Value,
        attachments: Vec<Bytes>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ToUser(ToUser {
            user_id: user_id.into(),
            event: Cow::Borrowed(event_name),
            data: Cow::Borrowed(data),
            attachments,
        }))
    }

    /// [`Hub::emit_to_admins`] with binary values, as [`Hub::emit_binary_to_user`].
    pub fn emit_binary_to_admins<'a>(
        &self,
        event_name: &'a str,
        data: &'a Value,
        attachments: Vec<Bytes>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ToAdmins(ToAdmins {
            event: Cow::Borrowed(event_name),
            data: Cow::Borrowed(data),
            attachments,
        }))
    }

    /// [`Hub::emit_to_everyone`] with binary values, as [`Hub::emit_binary_to_user`].
    pub fn emit_binary_to_everyone<'a>(
        &self,
        event_name: &'a str,
        data: &'a Value,
        attachments: Vec<Bytes>,
    ) -> Result<EmitOutcome, HubError> {
        self.run(HostCall::ToEveryone(ToEveryone {
            event: Cow::Borrowed(event_name),
            data: Cow::Borrowed(data),
            attachments,
        }))
    }
}
