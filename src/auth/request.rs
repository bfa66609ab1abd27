//! What a client asks with: the parsed `client:authenticate` payload ([`AuthRequest`])
//! and the transport's [`HandshakeContext`].
//!
//! Owns parsing the payload and comparing its claims with a verified identity
//! ([`AuthRequest::check_claims`]). It must not grant anything: claimed `userId` /
//! `userType` / `moduleId` are only ever compared. Guarded by
//! `auth::tests::claims_are_checked_never_trusted`,
//! `auth::tests::non_object_payloads_are_invalid` and
//! `auth::tests::cookies_and_headers_are_found`.

use std::net::SocketAddr;

use serde_json::Value;

use super::{AuthError, Identity};
use crate::ids::{ModuleId, UserId, json_type};

/// What the transport knows about a connection when it is opened.
#[derive(Debug, Clone, Default)]
pub struct HandshakeContext {
    /// The peer's address, when the transport has one.
    pub remote_addr: Option<SocketAddr>,
    /// HTTP request headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The query string's parameters.
    pub query: Vec<(String, String)>,
}

impl HandshakeContext {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The cookie named `name`, from the `cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, value)| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The first query parameter named `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A parsed `client:authenticate` payload (or Socket.IO `auth` object).
#[derive(Debug, Clone, Default)]
pub struct AuthRequest {
    /// A JWT, if given.
    pub token: Option<String>,
    /// The user id the client claims (checked, never trusted).
    pub user_id: Option<UserId>,
    /// The role the client claims as `userType` (checked, never trusted).
    pub user_type: Option<String>,
    /// The page the tab shows; defaults to `modules`.
    pub page: Option<String>,
    /// The login session id, the credential of the session authenticator.
    pub session_id: Option<String>,
    /// A device's module id (with `device_key`).
    pub module_id: Option<ModuleId>,
    /// A device key registered by the host for `module_id`.
    pub device_key: Option<String>,
    /// The whole payload, for host authenticators that read other fields.
    pub raw: Value,
}

fn optional_string(
    object: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, AuthError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(AuthError::InvalidPayload(format!(
            "{field} must be a string, got {}",
            json_type(other)
        ))),
    }
}

impl AuthRequest {
    /// Parses the payload; anything but a JSON object (or null, meaning empty) is refused.
    pub fn parse(payload: &Value) -> Result<Self, AuthError> {
        let empty = serde_json::Map::new();
        let object = match payload {
            Value::Object(object) => object,
            Value::Null => &empty,
            other => {
                return Err(AuthError::InvalidPayload(format!(
                    "expected an object, got {}",
                    json_type(other)
                )));
            }
        };
        let user_id = match object.get("userId") {
            None | Some(Value::Null) => None,
            Some(value) => Some(UserId::from_json(value)?),
        };
        Ok(Self {
            token: optional_string(object, "token")?,
            user_id,
            user_type: optional_string(object, "userType")?,
            page: optional_string(object, "page")?,
            session_id: optional_string(object, "sessionId")?,
            module_id: match object.get("moduleId") {
                None | Some(Value::Null) => None,
                Some(value) => Some(ModuleId::from_json(value)?),
            },
            device_key: optional_string(object, "deviceKey")?,
            raw: payload.clone(),
        })
    }

    /// Refuses the request if its claimed `userId` / `userType` differ from `identity`.
    pub fn check_claims(&self, identity: &Identity) -> Result<(), AuthError> {
        if self
            .user_id
            .as_ref()
            .is_some_and(|id| *id != identity.user_id)
        {
            return Err(AuthError::ClaimsMismatch { field: "userId" });
        }
        if self
            .user_type
            .as_deref()
            .is_some_and(|claimed| claimed != identity.role.as_str())
        {
            return Err(AuthError::ClaimsMismatch { field: "userType" });
        }
        if let (Some(claimed), Some(module)) = (&self.module_id, &identity.module_id)
            && claimed != module
        {
            return Err(AuthError::ClaimsMismatch { field: "moduleId" });
        }
        Ok(())
    }
}
