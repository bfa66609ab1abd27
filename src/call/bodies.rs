//! The argument bodies of the host calls, field for field the DESIGN §9 HTTP bodies
//! (camelCase on the wire). Fields that the hub validates are kept as the host gave
//! them (JSON values, text or number ids), so that a bad argument reaches the hub and is
//! refused, counted and audited there like any other. Must not validate.

use bytes::Bytes;
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ids::{IdError, UserId};

fn own<T: ToOwned + ?Sized>(cow: Cow<'_, T>) -> Cow<'static, T> {
    Cow::Owned(cow.into_owned())
}

/// A user id argument: text or a number (the seed uses `userId: 123`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IdArg {
    /// A textual id.
    Text(String),
    /// A numeric id, sent as its decimal string.
    Number(i64),
    /// A JSON value (string or integer; anything else is refused by the hub).
    Json(Value),
}

impl Default for IdArg {
    /// A missing id (refused by the hub as `invalid_argument`).
    fn default() -> Self {
        Self::Json(Value::Null)
    }
}

impl IdArg {
    /// The user id it names.
    pub fn to_user_id(&self) -> Result<UserId, IdError> {
        match self {
            Self::Text(text) => UserId::new(text),
            Self::Number(n) => UserId::from_json(&json!(n)),
            Self::Json(value) => UserId::from_json(value),
        }
    }
}

impl From<&str> for IdArg {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}
impl From<String> for IdArg {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}
impl From<&UserId> for IdArg {
    fn from(id: &UserId) -> Self {
        Self::Text(id.as_str().to_owned())
    }
}
impl From<i64> for IdArg {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}
impl From<i32> for IdArg {
    fn from(n: i32) -> Self {
        Self::Number(n.into())
    }
}
impl From<u32> for IdArg {
    fn from(n: u32) -> Self {
        Self::Number(n.into())
    }
}
impl From<&Value> for IdArg {
    fn from(value: &Value) -> Self {
        Self::Json(value.clone())
    }
}
impl From<Value> for IdArg {
    fn from(value: Value) -> Self {
        Self::Json(value)
    }
}

/// `module_online` / `module_offline`: `{moduleId, userId?, name?, type?, …}`, the
/// module's id beside the fields of `info` (an object, or null for none).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleStatus<'a> {
    /// The module.
    pub module_id: Cow<'a, str>,
    /// `{userId, name?, type?, …}` (`userId` required the first time a module is seen).
    pub info: Cow<'a, Value>,
}

impl ModuleStatus<'_> {
    pub(super) fn into_owned(self) -> ModuleStatus<'static> {
        ModuleStatus {
            module_id: own(self.module_id),
            info: own(self.info),
        }
    }
}

impl ModuleStatus<'_> {
    /// The flat §9 form, `{moduleId, …info}`, built directly: the audit detail of every
    /// persisted status call (changed or not) is this value, and going through a
    /// `#[serde(flatten)]` serializer cost about 2.6× the instructions of the copy.
    pub(super) fn flat(&self) -> Value {
        let mut map = Map::new();
        map.insert(
            "moduleId".to_owned(),
            Value::String(self.module_id.as_ref().to_owned()),
        );
        match &*self.info {
            // The id is the call's own field; an `id`/`moduleId` inside `info` is ignored
            // by the hub and would appear twice in the flat form.
            Value::Object(info) => {
                for (key, value) in info {
                    if key != "moduleId" && key != "id" {
                        map.insert(key.clone(), value.clone());
                    }
                }
            }
            Value::Null => {}
            // Not an object: refused by the hub; kept visible in the audit detail.
            other => {
                map.insert("info".to_owned(), other.clone());
            }
        }
        Value::Object(map)
    }
}

impl Serialize for ModuleStatus<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.flat().serialize(serializer)
    }
}

/// The flat §9 form of [`ModuleStatus`] as read (written by [`ModuleStatus::flat`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlatStatus<'a> {
    module_id: Cow<'a, str>,
    #[serde(flatten)]
    info: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ModuleStatus<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let flat = FlatStatus::deserialize(deserializer)?;
        Ok(Self {
            module_id: Cow::Owned(flat.module_id.into_owned()),
            info: Cow::Owned(Value::Object(flat.info)),
        })
    }
}

/// `telemetry_update`: `{moduleId, telemetry}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Telemetry<'a> {
    /// A known module.
    pub module_id: Cow<'a, str>,
    /// The new value (any JSON).
    pub telemetry: Cow<'a, Value>,
}

impl Telemetry<'_> {
    pub(super) fn into_owned(self) -> Telemetry<'static> {
        Telemetry {
            module_id: own(self.module_id),
            telemetry: own(self.telemetry),
        }
    }
}

/// `user_logged_in` / `user_logged_out`: `{user, sessionId}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login<'a> {
    /// The user object (`id`/`userId`, `role`/`userType`, profile fields).
    #[serde(default)]
    pub user: Cow<'a, Value>,
    /// The host's session id.
    pub session_id: Cow<'a, str>,
}

impl Login<'_> {
    pub(super) fn into_owned(self) -> Login<'static> {
        Login {
            user: own(self.user),
            session_id: own(self.session_id),
        }
    }
}

/// `user_profile_updated`: `{old, new}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileUpdate<'a> {
    /// The profile before (its id is used when `new` has none).
    #[serde(default)]
    pub old: Cow<'a, Value>,
    /// The profile after.
    #[serde(default)]
    pub new: Cow<'a, Value>,
}

impl ProfileUpdate<'_> {
    pub(super) fn into_owned(self) -> ProfileUpdate<'static> {
        ProfileUpdate {
            old: own(self.old),
            new: own(self.new),
        }
    }
}

/// `stats_update`: `{stats}`, or `{}` to ask the hub's stats provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats<'a> {
    /// The stats (an object); `None` asks the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Cow<'a, Value>>,
}

impl Stats<'_> {
    pub(super) fn into_owned(self) -> Stats<'static> {
        Stats {
            stats: self.stats.map(own),
        }
    }
}

/// `admin_action`: `{adminId, action, details}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminAction<'a> {
    /// The administrator.
    #[serde(default)]
    pub admin_id: IdArg,
    /// What was done (a name).
    pub action: Cow<'a, str>,
    /// Anything the host attaches (default `null`).
    #[serde(default)]
    pub details: Cow<'a, Value>,
}

impl AdminAction<'_> {
    pub(super) fn into_owned(self) -> AdminAction<'static> {
        AdminAction {
            admin_id: self.admin_id,
            action: own(self.action),
            details: own(self.details),
        }
    }
}

/// `maintenance_mode`: `{enabled, message, adminId}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Maintenance<'a> {
    /// On or off.
    pub enabled: bool,
    /// Shown to users (default empty).
    #[serde(default)]
    pub message: Cow<'a, str>,
    /// The administrator who switched it.
    #[serde(default)]
    pub admin_id: IdArg,
}

impl Maintenance<'_> {
    pub(super) fn into_owned(self) -> Maintenance<'static> {
        Maintenance {
            enabled: self.enabled,
            message: own(self.message),
            admin_id: self.admin_id,
        }
    }
}

/// `to_user`: `{userId, event, data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToUser<'a> {
    /// The user whose connections receive it.
    #[serde(default)]
    pub user_id: IdArg,
    /// The event name (outside the reserved prefixes).
    pub event: Cow<'a, str>,
    /// The payload (objects get `timestamp` unless they carry one).
    #[serde(default)]
    pub data: Cow<'a, Value>,
    /// Binary values `data`'s placeholders stand for (base64 strings in JSON).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "super::attachments"
    )]
    pub attachments: Vec<Bytes>,
}

impl ToUser<'_> {
    pub(super) fn into_owned(self) -> ToUser<'static> {
        ToUser {
            user_id: self.user_id,
            event: own(self.event),
            data: own(self.data),
            attachments: self.attachments,
        }
    }
}

/// `to_admins`: `{event, data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToAdmins<'a> {
    /// The event name (outside the reserved prefixes).
    pub event: Cow<'a, str>,
    /// The payload (objects get `timestamp` unless they carry one).
    #[serde(default)]
    pub data: Cow<'a, Value>,
    /// Binary values `data`'s placeholders stand for (base64 strings in JSON).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "super::attachments"
    )]
    pub attachments: Vec<Bytes>,
}

impl ToAdmins<'_> {
    pub(super) fn into_owned(self) -> ToAdmins<'static> {
        ToAdmins {
            event: own(self.event),
            data: own(self.data),
            attachments: self.attachments,
        }
    }
}

/// `to_everyone`: `{event, data}`, for every authenticated user and admin connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToEveryone<'a> {
    /// The event name (outside the reserved prefixes).
    pub event: Cow<'a, str>,
    /// The payload (objects get `timestamp` unless they carry one).
    #[serde(default)]
    pub data: Cow<'a, Value>,
    /// Binary values `data`'s placeholders stand for (base64 strings in JSON).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "super::attachments"
    )]
    pub attachments: Vec<Bytes>,
}

impl ToEveryone<'_> {
    pub(super) fn into_owned(self) -> ToEveryone<'static> {
        ToEveryone {
            event: own(self.event),
            data: own(self.data),
            attachments: self.attachments,
        }
    }
}
