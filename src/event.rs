//! The event vocabulary of DESIGN §4: event names, reserved prefixes, payload shapes and
//! the [`Audience`] each event is addressed to.
//!
//! This module only *describes* events. It never decides who is connected (that is
//! `registry/`) nor whether anything changed (that is `store/`). Every payload built
//! here carries `timestamp` (ms since the Unix epoch); user ids are strings.
//!
//! | event | payload (example) | audience |
//! |---|---|---|
//! | [`AUTH_OK`] | `{"userId":"123","role":"user","sessionId":"abc","page":"modules","timestamp":1764000000000}` | the connection that authenticated |
//! | [`AUTH_ERROR`] | `{"code":"invalid_token","message":"…","timestamp":…}` | the connection that failed |
//! | [`PAGE_SNAPSHOT`] | `{"page":"modules","modules":[{"moduleId":"MC-1","userId":"123","name":"Station","type":"Station","online":true,"telemetry":{"speed":3},"lastChange":…}],"total":1,"nextCursor":null,"stats":{…}?,"maintenance":{"enabled":true,"message":"…"}?,"timestamp":…}` | the connection, after `auth:ok` and after `client:page` |
//! | [`PAGE_SNAPSHOT_MORE`] | `{"page":"admin","modules":[…],"total":1200,"nextCursor":"MC-1000"\|null,"timestamp":…}` | the connection that sent `client:snapshot {cursor}` |
//! | [`MODULE_STATUS_CHANGED`] | `{"moduleId":"MC-1","online":true,"userId":"123","name":"Station","type":"Station",…,"timestamp":…}` | owner on `modules`/`dashboard`; admins on `admin` |
//! | [`MODULE_TELEMETRY_UPDATED`] | `{"moduleId":"MC-1","telemetry":{"speed":3},"timestamp":…}` | owner on `modules`/`dashboard` (conflated) |
//! | [`USER_MODULE_ADDED`] / [`USER_MODULE_REMOVED`] | `{"module":{"moduleId":"MC-1","userId":"123",…},"timestamp":…}` | owner, any page |
//! | [`ADMIN_MODULE_ADDED`] / [`ADMIN_MODULE_REMOVED`] | `{"module":{…},"timestamp":…}` | admins on `admin` |
//! | [`USER_SESSION_STARTED`] | `{"userId":"123","timestamp":…}` | the user's connections of other sessions |
//! | [`USER_SESSION_ENDED`] | `{"userId":"123","timestamp":…}` | that session's connections (then closed) |
//! | [`ADMIN_USER_LOGGED_IN`] / [`ADMIN_USER_LOGGED_OUT`] | `{"user":{"userId":"123","name":"Ada",…},"timestamp":…}` | admins on `admin` |
//! | [`USER_PROFILE_UPDATED`] | `{"userId":"123","changes":{"name":"Ada L."},"timestamp":…}` | the user's connections |
//! | [`ADMIN_USER_REGISTERED`] | `{"user":{"userId":"124","name":"Bob"},"timestamp":…}` | admins on `admin` |
//! | [`ADMIN_STATS_UPDATED`] | `{"stats":{"users":2,"modules":5},"timestamp":…}` | admins on `admin` |
//! | [`ADMIN_ACTION`] | `{"adminId":"1","action":"user_promoted","details":{…},"timestamp":…}` | admins on `admin` |
//! | [`SYSTEM_MAINTENANCE`] | `{"enabled":true,"message":"Mise à jour","adminId":"1","timestamp":…}` | every authenticated connection |
//! | host event via `emit_to_user` / `emit_to_admins` / `emit_to_everyone` | `{…host data…}` (objects without `timestamp` get one) | that user's connections / admins / every authenticated connection |
//!
//! Session ids are secrets for the session authenticator (DESIGN §6), so no event that
//! reaches anyone but the session's own connections carries one.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::ids::{ModuleId, SessionId, UserId};

/// `auth:ok`: sent to a connection that authenticated.
pub const AUTH_OK: &str = "auth:ok";
/// `auth:error`: sent to a connection whose authentication failed.
pub const AUTH_ERROR: &str = "auth:error";
/// `page:snapshot`: the state a page shows, sent after `auth:ok` and `client:page`.
pub const PAGE_SNAPSHOT: &str = "page:snapshot";
/// `module:status:changed`: a module went online or offline.
pub const MODULE_STATUS_CHANGED: &str = "module:status:changed";
/// `module:telemetry:updated`: a module's telemetry changed.
pub const MODULE_TELEMETRY_UPDATED: &str = "module:telemetry:updated";
/// `user:module:added`: the owner gained a module.
pub const USER_MODULE_ADDED: &str = "user:module:added";
/// `user:module:removed`: the owner lost a module.
pub const USER_MODULE_REMOVED: &str = "user:module:removed";
/// `admin:module:added`: a module was added anywhere in the system.
pub const ADMIN_MODULE_ADDED: &str = "admin:module:added";
/// `admin:module:removed`: a module was removed anywhere in the system.
pub const ADMIN_MODULE_REMOVED: &str = "admin:module:removed";
/// `user:session:started`: the user logged in on another session.
pub const USER_SESSION_STARTED: &str = "user:session:started";
/// `user:session:ended`: this session was logged out; its connections close next.
pub const USER_SESSION_ENDED: &str = "user:session:ended";
/// `admin:user:logged_in`: some user logged in.
pub const ADMIN_USER_LOGGED_IN: &str = "admin:user:logged_in";
/// `admin:user:logged_out`: some user logged out.
pub const ADMIN_USER_LOGGED_OUT: &str = "admin:user:logged_out";
/// `user:profile:updated`: fields of the user's profile changed.
pub const USER_PROFILE_UPDATED: &str = "user:profile:updated";
/// `admin:user:registered`: a new account was created.
pub const ADMIN_USER_REGISTERED: &str = "admin:user:registered";
/// `admin:stats:updated`: global statistics changed.
pub const ADMIN_STATS_UPDATED: &str = "admin:stats:updated";
/// `admin:action`: an administrator did something.
pub const ADMIN_ACTION: &str = "admin:action";
/// `system:maintenance`: maintenance mode was switched.
pub const SYSTEM_MAINTENANCE: &str = "system:maintenance";

/// Client → server: bind the connection to a verified identity and a page.
pub const CLIENT_AUTHENTICATE: &str = "client:authenticate";
/// Client → server: the tab moved to another page.
pub const CLIENT_PAGE: &str = "client:page";
/// Client → server: the next page of the snapshot (`{cursor}`, the `nextCursor` of the
/// last `page:snapshot` or `page:snapshot:more`).
pub const CLIENT_SNAPSHOT: &str = "client:snapshot";
/// Client → server: a page of the audit log, for admins (answered in the ack with
/// `{records, nextCursor}`; see `hub/audit_view.rs`).
pub const CLIENT_AUDIT: &str = "client:audit";
/// `page:snapshot:more`: the page of modules after a `client:snapshot` cursor.
pub const PAGE_SNAPSHOT_MORE: &str = "page:snapshot:more";

/// `module:status:batch`: several of one user's modules changed status within one
/// activity window (only with [`MonitorConfig::user_status_batch`](crate::MonitorConfig::user_status_batch)).
pub const MODULE_STATUS_BATCH: &str = "module:status:batch";
/// `admin:activity`: what happened in the last activity window, batched.
pub const ADMIN_ACTIVITY: &str = "admin:activity";
/// `admin:alert`: a condition an operator should look at began.
pub const ADMIN_ALERT: &str = "admin:alert";
/// `admin:alert:cleared`: a raised condition ended.
pub const ADMIN_ALERT_CLEARED: &str = "admin:alert:cleared";
/// `admin:server:stats`: server performance, sent when a value changed.
pub const ADMIN_SERVER_STATS: &str = "admin:server:stats";

/// Device → server: a device's telemetry frame (`{"event":"telemetry","data":{…}}`).
pub const DEVICE_TELEMETRY: &str = "telemetry";

/// Native client → server: resume a parked connection (`{"pid","offset"}`).
pub const CLIENT_RESUME: &str = "client:resume";
/// Native server → client: the private id to resume this connection with.
pub const AUTH_RESUMABLE: &str = "auth:resumable";
/// Native server → client: the connection was resumed; missed events follow.
pub const AUTH_RESUMED: &str = "auth:resumed";
/// Native server → client: the connection could not be resumed (`{code, message}`).
pub const AUTH_RESUME_FAILED: &str = "auth:resume_failed";

/// Prefixes of the library's own events; the host events (`emit_to_user`, …) refuse them
/// so that a host event can never impersonate one.
pub const RESERVED_PREFIXES: [&str; 6] =
    ["auth:", "page:", "system:", "admin:", "user:", "module:"];

/// Whether `name` starts with one of [`RESERVED_PREFIXES`].
pub fn is_reserved(name: &str) -> bool {
    RESERVED_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// Who an event is addressed to, before page routing and isolation are applied by the
/// registry. Unauthenticated connections and devices are never part of any audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// One user's connections, except those of one session if given; admins too when
    /// the event's route mirrors it to admin pages.
    User {
        /// The user whose connections receive it.
        user: UserId,
        /// A session whose connections are skipped (`user:session:started`).
        except_session: Option<SessionId>,
    },
    /// One user's connections authenticated with one session id (a session id only
    /// ever closes connections of the user the host names with it).
    Session {
        /// The user.
        user: UserId,
        /// The session.
        session: SessionId,
    },
    /// Admin connections.
    Admins,
    /// Every authenticated user and admin connection.
    Everyone,
}

/// An event ready to be routed: its name, its payload, its audience and, for
/// telemetry, the module whose older frames it may replace in a slow queue.
#[derive(Debug, Clone)]
pub struct Event {
    /// Event name, e.g. [`MODULE_STATUS_CHANGED`].
    pub name: Arc<str>,
    /// JSON payload (an object with `timestamp` for the library's own events).
    pub payload: Value,
    /// Who it is addressed to.
    pub audience: Audience,
    /// Set for telemetry: a newer frame for the same module replaces a queued one.
    pub conflation_key: Option<ModuleId>,
    /// Binary values, each standing where `payload` has the placeholder
    /// `{"_placeholder":true,"num":N}` (Socket.IO's encoding); empty for JSON events.
    pub attachments: Vec<bytes::Bytes>,
}

impl Event {
    /// An event with no conflation.
    pub fn new(name: impl Into<Arc<str>>, payload: Value, audience: Audience) -> Self {
        Self {
            name: name.into(),
            payload,
            audience,
            conflation_key: None,
            attachments: Vec::new(),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// Adds `timestamp` to an object payload (other JSON values are left as they are).
pub(crate) fn with_timestamp(mut payload: Value, timestamp: u64) -> Value {
    if let Value::Object(object) = &mut payload {
        object.insert("timestamp".to_owned(), json!(timestamp));
    }
    payload
}

/// A host event's payload: an object keeps the `timestamp` the host put in it and gets
/// one only where there is none (other JSON values are left as they are).
pub(crate) fn host_payload(mut payload: Value, timestamp: u64) -> Value {
    if let Value::Object(object) = &mut payload {
        object
            .entry("timestamp")
            .or_insert_with(|| json!(timestamp));
    }
    payload
}

/// Builds an object payload from pairs and stamps it.
pub(crate) fn object(pairs: Vec<(&str, Value)>, timestamp: u64) -> Value {
    let mut map = Map::with_capacity(pairs.len() + 1);
    for (key, value) in pairs {
        map.insert(key.to_owned(), value);
    }
    map.insert("timestamp".to_owned(), json!(timestamp));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_event_name_is_reserved() {
        for name in [
            AUTH_OK,
            AUTH_ERROR,
            PAGE_SNAPSHOT,
            MODULE_STATUS_CHANGED,
            MODULE_TELEMETRY_UPDATED,
            USER_MODULE_ADDED,
            USER_MODULE_REMOVED,
            ADMIN_MODULE_ADDED,
            ADMIN_MODULE_REMOVED,
            USER_SESSION_STARTED,
            USER_SESSION_ENDED,
            ADMIN_USER_LOGGED_IN,
            ADMIN_USER_LOGGED_OUT,
            USER_PROFILE_UPDATED,
            ADMIN_USER_REGISTERED,
            ADMIN_STATS_UPDATED,
            ADMIN_ACTION,
            SYSTEM_MAINTENANCE,
        ] {
            assert!(is_reserved(name), "{name} must be reserved");
        }
        assert!(!is_reserved("coaster:lap"));
        assert!(!is_reserved("users:count"));
    }

    #[test]
    fn timestamp_is_added_to_objects_only() {
        assert_eq!(
            with_timestamp(json!({"a": 1}), 5),
            json!({"a": 1, "timestamp": 5})
        );
        assert_eq!(with_timestamp(json!([1]), 5), json!([1]));
    }

    #[test]
    fn a_host_timestamp_is_kept_and_added_only_when_absent() {
        assert_eq!(
            host_payload(json!({"a": 1, "timestamp": "host"}), 5),
            json!({"a": 1, "timestamp": "host"})
        );
        assert_eq!(
            host_payload(json!({"a": 1}), 5),
            json!({"a": 1, "timestamp": 5})
        );
        assert_eq!(host_payload(json!("text"), 5), json!("text"));
    }
}
