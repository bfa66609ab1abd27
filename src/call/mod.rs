//! The host calls as one closed type: [`HostCall`], one variant per DESIGN §9 call, with
//! the §9 body shapes as its fields, and [`CallName`], the name each call goes by.
//!
//! Every surface is a view of this type: the Rust `emit_*` methods construct it, the
//! HTTP API deserializes it (`POST /api/v1/emit/<call>` with the body as `args`), the
//! broker envelope carries it (`broker/wire/`), the audit record stores its name and
//! its arguments, and the activity feed names its entries after it. A call's name is
//! spelled once, as its variant's identifier: serde and [`CallName::as_str`] both derive
//! the snake_case name from it, and `call_names_agree_with_serde` guards that they agree.
//! Adding a call is one variant here; the compiler then lists every `match` that must
//! handle it (the skeleton in `hub/run.rs`, the call files in `hub/calls/`).
//!
//! A call also says what it does to connections beyond events ([`Step`]): a logout ends
//! a session, on every node.
//!
//! This module holds data only: it must not validate arguments (the hub does, so a bad
//! argument is counted and audited like any refused emit), touch state or deliver.
//! Guarded by the unit tests below (wire names, round trips of every variant) and
//! `tests/server/server_socketio.rs` (the HTTP API).

pub(crate) mod attachments;
mod bodies;

pub use bodies::{
    AdminAction, IdArg, Login, Maintenance, ModuleStatus, ProfileUpdate, Stats, Telemetry,
    ToAdmins, ToEveryone, ToUser,
};

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Event;
use crate::ids::{SessionId, UserId};

/// One host call with its arguments (DESIGN §9). Borrows its arguments where it can, so
/// the Rust `emit_*` methods copy nothing to build one; [`HostCall::into_owned`] gives a
/// `'static` value to keep or send.
///
/// Its serde form is the broker's and the HTTP API's: `{"call": "<name>", "args": <body>}`
/// where `<body>` is the §9 body of that call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "call", content = "args", rename_all = "snake_case")]
#[strum_discriminants(
    name(CallName),
    doc = "The name of a host call (`module_online`, …, `to_everyone`): the variant of \
           [`HostCall`] without its arguments.",
    derive(
        Hash,
        strum::IntoStaticStr,
        strum::EnumString,
        strum::EnumIter,
        strum::Display
    ),
    strum(serialize_all = "snake_case")
)]
#[non_exhaustive]
pub enum HostCall<'a> {
    /// A module came online (`emitModuleOnline(id, info)`).
    ModuleOnline(ModuleStatus<'a>),
    /// A module went offline (`emitModuleOffline(id, info)`).
    ModuleOffline(ModuleStatus<'a>),
    /// A module was added: the module object (`id` or `moduleId`, `userId`, …).
    ModuleAdded(Cow<'a, Value>),
    /// A module was removed: the module object.
    ModuleRemoved(Cow<'a, Value>),
    /// New telemetry for a known module.
    TelemetryUpdate(Telemetry<'a>),
    /// A user logged in with a session.
    UserLoggedIn(Login<'a>),
    /// A session logged out.
    UserLoggedOut(Login<'a>),
    /// A user's profile changed.
    UserProfileUpdated(ProfileUpdate<'a>),
    /// A new account: the user object.
    UserRegistered(Cow<'a, Value>),
    /// New stats for admins (none: ask the hub's stats provider).
    StatsUpdate(Stats<'a>),
    /// An administrator acted.
    AdminAction(AdminAction<'a>),
    /// Maintenance mode switched.
    MaintenanceMode(Maintenance<'a>),
    /// A host event for one user's connections.
    ToUser(ToUser<'a>),
    /// A host event for admin connections.
    ToAdmins(ToAdmins<'a>),
    /// A host event for every authenticated user and admin connection.
    ToEveryone(ToEveryone<'a>),
}

impl CallName {
    /// The call's name in snake_case, as the HTTP API, the audit log, the broker and
    /// the activity feed spell it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl HostCall<'_> {
    /// The call's name.
    pub fn name(&self) -> CallName {
        self.into()
    }

    /// A copy that owns its arguments.
    pub fn into_owned(self) -> HostCall<'static> {
        fn own<T: ToOwned + ?Sized>(cow: Cow<'_, T>) -> Cow<'static, T> {
            Cow::Owned(cow.into_owned())
        }
        match self {
            Self::ModuleOnline(body) => HostCall::ModuleOnline(body.into_owned()),
            Self::ModuleOffline(body) => HostCall::ModuleOffline(body.into_owned()),
            Self::ModuleAdded(module) => HostCall::ModuleAdded(own(module)),
            Self::ModuleRemoved(module) => HostCall::ModuleRemoved(own(module)),
            Self::TelemetryUpdate(body) => HostCall::TelemetryUpdate(body.into_owned()),
            Self::UserLoggedIn(body) => HostCall::UserLoggedIn(body.into_owned()),
            Self::UserLoggedOut(body) => HostCall::UserLoggedOut(body.into_owned()),
            Self::UserProfileUpdated(body) => HostCall::UserProfileUpdated(body.into_owned()),
            Self::UserRegistered(user) => HostCall::UserRegistered(own(user)),
            Self::StatsUpdate(body) => HostCall::StatsUpdate(body.into_owned()),
            Self::AdminAction(body) => HostCall::AdminAction(body.into_owned()),
            Self::MaintenanceMode(body) => HostCall::MaintenanceMode(body.into_owned()),
            Self::ToUser(body) => HostCall::ToUser(body.into_owned()),
            Self::ToAdmins(body) => HostCall::ToAdmins(body.into_owned()),
            Self::ToEveryone(body) => HostCall::ToEveryone(body.into_owned()),
        }
    }

    /// The call's arguments as JSON (its §9 body): the audit record's `detail`.
    ///
    /// Built from the body alone (not the tagged call, then unwrapped): every audited
    /// emit pays for this, unchanged ones included, so the bodies that already are JSON
    /// are cloned rather than serialized. `call::tests` checks it equals the `args` of
    /// the call's serde form for every call.
    pub fn args(&self) -> Value {
        fn body(body: &impl Serialize) -> Value {
            serde_json::to_value(body).unwrap_or(Value::Null)
        }
        match self {
            Self::ModuleOnline(status) | Self::ModuleOffline(status) => status.flat(),
            Self::ModuleAdded(json) | Self::ModuleRemoved(json) | Self::UserRegistered(json) => {
                json.as_ref().clone()
            }
            Self::TelemetryUpdate(telemetry) => body(telemetry),
            Self::UserLoggedIn(login) | Self::UserLoggedOut(login) => body(login),
            Self::UserProfileUpdated(update) => body(update),
            Self::StatsUpdate(stats) => body(stats),
            Self::AdminAction(action) => body(action),
            Self::MaintenanceMode(maintenance) => body(maintenance),
            Self::ToUser(event) => body(event),
            Self::ToAdmins(event) => body(event),
            Self::ToEveryone(event) => body(event),
        }
    }
}

impl HostCall<'static> {
    /// The call `name` with the JSON body `args` (the HTTP API's request). A missing
    /// or mistyped field is a [`serde_json::Error`] naming it.
    pub fn from_body(name: CallName, args: Value) -> Result<Self, serde_json::Error> {
        let mut call = serde_json::Map::with_capacity(2);
        call.insert("call".into(), Value::String(name.as_str().to_owned()));
        call.insert("args".into(), args);
        serde_json::from_value(Value::Object(call))
    }
}

/// What a decided call does, in order: an event to deliver, or an effect on
/// connections. Every node runs the same steps (the deciding node, then the others from
/// the broker), so an effect is written once.
#[derive(Debug, Clone)]
pub enum Step {
    /// Deliver this event to its audience.
    Event(Event),
    /// Close every connection of `user` authenticated with `session` (reason
    /// `logged_out`).
    EndSession {
        /// The session's user.
        user: UserId,
        /// The session ended.
        session: SessionId,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::str::FromStr;
    use strum::IntoEnumIterator;

    fn example(name: CallName) -> HostCall<'static> {
        let body = match name {
            CallName::ModuleOnline | CallName::ModuleOffline => {
                json!({"moduleId": "M-1", "userId": 7, "name": "Lift"})
            }
            CallName::ModuleAdded | CallName::ModuleRemoved => json!({"id": "M-1", "userId": 7}),
            CallName::TelemetryUpdate => json!({"moduleId": "M-1", "telemetry": {"v": 1}}),
            CallName::UserLoggedIn | CallName::UserLoggedOut => {
                json!({"user": {"id": 7}, "sessionId": "s-1"})
            }
            CallName::UserProfileUpdated => json!({"old": {"id": 7}, "new": {"id": 7, "a": 1}}),
            CallName::UserRegistered => json!({"id": 7, "name": "Ada"}),
            CallName::StatsUpdate => json!({"stats": {"users": 3}}),
            CallName::AdminAction => json!({"adminId": 1, "action": "ban", "details": {"u": 7}}),
            CallName::MaintenanceMode => json!({"enabled": true, "message": "m", "adminId": 1}),
            CallName::ToUser => json!({
                "userId": "7", "event": "x",
                "data": {"a": {"_placeholder": true, "num": 0}}, "attachments": ["AQID"]
            }),
            CallName::ToAdmins => json!({"event": "x", "data": [1]}),
            CallName::ToEveryone => json!({"event": "x", "data": {"timestamp": 5}}),
        };
        HostCall::from_body(name, body).unwrap()
    }

    #[test]
    fn call_names_agree_with_serde() {
        for name in CallName::iter() {
            let call = example(name);
            assert_eq!(call.name(), name);
            let wire = serde_json::to_value(&call).unwrap();
            assert_eq!(wire["call"], name.as_str());
            assert_eq!(CallName::from_str(name.as_str()).unwrap(), name);
        }
        assert_eq!(CallName::iter().count(), 15);
    }

    #[test]
    fn every_call_survives_its_wire_form() {
        for name in CallName::iter() {
            let call = example(name);
            let back: HostCall<'static> =
                serde_json::from_slice(&serde_json::to_vec(&call).unwrap()).unwrap();
            assert_eq!(back, call, "{name}");
            assert_eq!(HostCall::from_body(name, call.args()).unwrap(), call);
        }
    }

    #[test]
    fn args_are_the_args_of_the_wire_form() {
        for name in CallName::iter() {
            let call = example(name);
            let wire = serde_json::to_value(&call).unwrap();
            assert_eq!(call.args(), wire["args"], "{name}");
        }
    }

    #[test]
    fn every_call_has_one_doc() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/calls");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("docs/calls")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let mut expected: Vec<String> = CallName::iter().map(|n| format!("{n}.md")).collect();
        expected.sort();
        assert_eq!(
            files, expected,
            "one docs/calls/<call>.md per call, no other"
        );
    }

    #[test]
    fn attachments_travel_as_base64_and_bad_base64_is_refused() {
        let HostCall::ToUser(body) = example(CallName::ToUser) else {
            unreachable!()
        };
        assert_eq!(
            body.attachments,
            vec![bytes::Bytes::from_static(&[1, 2, 3])]
        );
        let wire = serde_json::to_value(HostCall::ToUser(body)).unwrap();
        assert_eq!(wire["args"]["attachments"], json!(["AQID"]));
        let refused = HostCall::from_body(
            CallName::ToAdmins,
            json!({"event": "x", "attachments": ["not base64!"]}),
        );
        assert!(refused.is_err());
        // Without attachments the wire form is unchanged from before binary events.
        let plain = serde_json::to_value(example(CallName::ToAdmins)).unwrap();
        assert!(plain["args"].get("attachments").is_none(), "{plain}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let error = HostCall::from_body(CallName::TelemetryUpdate, json!({"telemetry": 1}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("moduleId"), "{error}");
        assert!(CallName::from_str("module_exploded").is_err());
    }
}
