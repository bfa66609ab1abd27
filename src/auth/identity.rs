//! Who a connection is once verified: [`Identity`] and its [`Role`].
//!
//! Owns the two types every authenticator produces. It must not verify anything: an
//! `Identity` is built only by an authenticator from a checked credential (see
//! [`super`] for the invariant and its tests).

use serde::{Deserialize, Serialize};

use crate::ids::{ModuleId, SessionId, UserId};

/// What a verified identity may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A normal user: sees only their own modules and session events.
    User,
    /// An administrator: also sees `admin:*` events on the `admin` page.
    Admin,
    /// A module (ESP board) connected by itself; it never receives user or admin events.
    Device,
}

impl Role {
    /// Parses `user`, `admin` or `device`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            "device" => Some(Self::Device),
            _ => None,
        }
    }

    /// The role's name as sent in `auth:ok`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
            Self::Device => "device",
        }
    }
}

/// A verified identity: the only source of a connection's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user (for a device: its owner).
    pub user_id: UserId,
    /// What the identity may see.
    pub role: Role,
    /// The login session, when the credential names one; `emit_user_logged_out` closes
    /// every connection of that session.
    pub session_id: Option<SessionId>,
    /// For a device: the module it is. Its connection makes that module online.
    pub module_id: Option<ModuleId>,
}

impl Identity {
    /// A user or admin identity.
    pub fn user(user_id: UserId, role: Role, session_id: Option<SessionId>) -> Self {
        Self {
            user_id,
            role,
            session_id,
            module_id: None,
        }
    }

    /// A device identity: module `module_id`, owned by `owner`.
    pub fn device(module_id: ModuleId, owner: UserId) -> Self {
        Self {
            user_id: owner,
            role: Role::Device,
            session_id: None,
            module_id: Some(module_id),
        }
    }
}
