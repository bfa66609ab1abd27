//! Authentication: who a connection is, proven by a credential, never by its claims.
//!
//! Owns [`Identity`], [`Role`], the [`Authenticator`] hook and the two built-in
//! authenticators of DESIGN §6, tried after the host's own in this order:
//!
//! 1. **JWT HS256** when the payload has a `token`: claims `sub` (user id), `role`
//!    (`user`, `admin` or `device`), `sid` (session id, optional) and `exp` (required).
//!    Only HS256 is accepted: `alg: none` and every other algorithm are refused.
//! 2. **Sessions**: `emit_user_logged_in(user, sid)` registers `sid` → that user and the
//!    role the *host* gave; `emit_user_logged_out` removes it. The seed's browser payload
//!    `{userId, userType, page, sessionId}` then authenticates unchanged. The session id is
//!    the secret: anyone who knows it is that user, exactly as with the host's own session
//!    cookie, so it is never sent to other sessions.
//!
//! Invariant: role and user id come only from a verified credential. The client's
//! `userId` / `userType` are compared with the verified identity and a mismatch is refused
//! (`claims_mismatch`); they never grant anything. Guarded by
//! `tests/hub/auth.rs::user_token_claiming_admin_is_refused_and_gets_no_admin_event` and
//! `session_payload_with_wrong_user_type_is_refused`.
//!
//! This module must not touch connections or queues: it only turns a request into an
//! identity or a refusal.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{IdError, ModuleId, SessionId, UserId, json_type};

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

/// Why an authentication was refused; sent to the client as `auth:error {code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The payload was not a JSON object or had fields of the wrong type.
    #[error("invalid authenticate payload: {0}")]
    InvalidPayload(String),
    /// Neither a token nor a session id was given (and no host authenticator answered).
    #[error("no credential: give a token or a sessionId")]
    MissingCredentials,
    /// The token is malformed, badly signed, uses another algorithm or has bad claims.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token's `exp` is in the past.
    #[error("token expired")]
    ExpiredToken,
    /// A token was given but the hub has no JWT secret.
    #[error("token authentication is not configured on this hub")]
    JwtNotConfigured,
    /// The session id is not a logged-in session (or was logged out).
    #[error("unknown or ended session")]
    UnknownSession,
    /// The client's `userId` / `userType` differ from the verified identity.
    #[error("claimed {field} does not match the credential")]
    ClaimsMismatch {
        /// `userId` or `userType`.
        field: &'static str,
    },
    /// The connection is already authenticated as another user.
    #[error("this connection is authenticated as another user; open a new connection")]
    IdentityChange,
    /// The requested page is not one of the hub's pages.
    #[error("unknown page {0:?}")]
    UnknownPage(String),
    /// An event other than `client:authenticate` arrived before authentication.
    #[error("authenticate first: only client:authenticate is accepted before it")]
    NotAuthenticated,
    /// Too many failed attempts on this connection; it is being closed.
    #[error("too many failed authentication attempts")]
    TooManyFailures,
    /// A host authenticator refused, with its own code and message.
    #[error("{message}")]
    Refused {
        /// Machine-readable code chosen by the host.
        code: String,
        /// Human-readable explanation.
        message: String,
    },
    /// A host authenticator panicked; the attempt is refused.
    #[error("authenticator failed")]
    HookFailed,
    /// The module id / device key pair is not registered.
    #[error("unknown device or wrong device key")]
    UnknownDevice,
    /// The device's module belongs to another user than its credential says.
    #[error("the module belongs to another user")]
    DeviceOwnerMismatch,
}

impl AuthError {
    /// The machine-readable `code` of `auth:error`.
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidPayload(_) => "invalid_payload",
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidToken(_) => "invalid_token",
            Self::ExpiredToken => "expired_token",
            Self::JwtNotConfigured => "jwt_not_configured",
            Self::UnknownSession => "unknown_session",
            Self::ClaimsMismatch { .. } => "claims_mismatch",
            Self::IdentityChange => "identity_change",
            Self::UnknownPage(_) => "unknown_page",
            Self::NotAuthenticated => "not_authenticated",
            Self::TooManyFailures => "too_many_failures",
            Self::Refused { code, .. } => code,
            Self::HookFailed => "authenticator_failed",
            Self::UnknownDevice => "unknown_device",
            Self::DeviceOwnerMismatch => "owner_mismatch",
        }
    }
}

impl From<IdError> for AuthError {
    fn from(error: IdError) -> Self {
        Self::InvalidPayload(error.to_string())
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

/// What an authenticator says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// The credential is valid: this is who the connection is.
    Accept(Identity),
    /// The credential is this authenticator's kind and is invalid: stop here.
    Refuse(AuthError),
    /// Not this authenticator's kind of credential: ask the next one.
    Pass,
}

/// Turns an authenticate request plus the connection's handshake context into an
/// identity. Runs on the thread that delivered the client's message (a transport thread
/// or the in-process caller), with no library lock held; it must not call `emit_*`
/// expecting to see its own connection authenticated. Closures
/// `Fn(&AuthRequest, &HandshakeContext) -> AuthDecision` implement it.
pub trait Authenticator: Send + Sync + 'static {
    /// Decides on one request.
    fn authenticate(&self, request: &AuthRequest, context: &HandshakeContext) -> AuthDecision;
}

impl<F> Authenticator for F
where
    F: Fn(&AuthRequest, &HandshakeContext) -> AuthDecision + Send + Sync + 'static,
{
    fn authenticate(&self, request: &AuthRequest, context: &HandshakeContext) -> AuthDecision {
        self(request, context)
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: Value,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    /// For a device token: the module's owner (`sub` is the module id).
    #[serde(default)]
    owner: Option<Value>,
}

/// The built-in JWT HS256 authenticator.
pub struct JwtAuthenticator {
    key: DecodingKey,
    validation: Validation,
}

impl JwtAuthenticator {
    /// Verifies tokens signed with `secret` (HS256 only, `exp` required, no leeway).
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Verifies one token.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::ExpiredToken,
                _ => AuthError::InvalidToken(error.to_string()),
            },
        )?;
        let claims = data.claims;
        let invalid = |error: IdError| AuthError::InvalidToken(error.to_string());
        let role = match claims.role.as_deref() {
            None => Role::User,
            Some(text) => Role::parse(text)
                .ok_or_else(|| AuthError::InvalidToken(format!("unknown role {text:?}")))?,
        };
        if role == Role::Device {
            let module = ModuleId::from_json_field("sub", &claims.sub).map_err(invalid)?;
            let owner = claims.owner.as_ref().ok_or_else(|| {
                AuthError::InvalidToken("a device token needs an owner claim".into())
            })?;
            let owner = UserId::from_json_field("owner", owner).map_err(invalid)?;
            return Ok(Identity::device(module, owner));
        }
        let user_id = UserId::from_json_field("sub", &claims.sub).map_err(invalid)?;
        let session_id = claims
            .sid
            .map(|sid| SessionId::new(&sid))
            .transpose()
            .map_err(|error| AuthError::InvalidToken(error.to_string()))?;
        Ok(Identity::user(user_id, role, session_id))
    }
}

/// Most logged-out session ids remembered so that a JWT naming one is refused.
pub const REVOKED_SESSIONS_KEPT: usize = 100_000;

#[derive(Default)]
struct SessionState {
    live: HashMap<SessionId, (UserId, Role)>,
    revoked: std::collections::HashSet<SessionId>,
    revoked_order: VecDeque<SessionId>,
}

/// The built-in session authenticator's table, fed by `emit_user_logged_in` /
/// `emit_user_logged_out`. A logged-out session id is also remembered (the most recent
/// 100,000) so that a token naming it in `sid` is refused until it logs in again.
#[derive(Default)]
pub struct SessionTable {
    state: RwLock<SessionState>,
}

impl SessionTable {
    /// Registers a login; returns false if that exact session was already registered.
    pub fn log_in(&self, session: SessionId, user: UserId, role: Role) -> bool {
        let mut state = self.state.write();
        if state.revoked.remove(&session) {
            state.revoked_order.retain(|kept| *kept != session);
        }
        state.live.insert(session, (user.clone(), role)) != Some((user, role))
    }

    /// Removes `user`'s session and remembers it as revoked; returns whether it was
    /// live. A session that is live for another user is left alone and returned as
    /// `Err(owner)`.
    pub fn log_out(&self, session: &SessionId, user: &UserId) -> Result<bool, UserId> {
        let mut state = self.state.write();
        if let Some((owner, _)) = state.live.get(session)
            && owner != user
        {
            return Err(owner.clone());
        }
        let was_live = state.live.remove(session).is_some();
        if state.revoked.insert(session.clone()) {
            state.revoked_order.push_back(session.clone());
            if state.revoked_order.len() > REVOKED_SESSIONS_KEPT
                && let Some(oldest) = state.revoked_order.pop_front()
            {
                state.revoked.remove(&oldest);
            }
        }
        Ok(was_live)
    }

    /// Remembers `session` as logged out without a logout event (restoring saved
    /// state at start); the newest [`REVOKED_SESSIONS_KEPT`] are kept.
    pub fn restore_revoked(&self, session: SessionId) {
        let mut state = self.state.write();
        if state.live.contains_key(&session) || !state.revoked.insert(session.clone()) {
            return;
        }
        state.revoked_order.push_back(session);
        if state.revoked_order.len() > REVOKED_SESSIONS_KEPT
            && let Some(oldest) = state.revoked_order.pop_front()
        {
            state.revoked.remove(&oldest);
        }
    }

    /// Who a session id belongs to.
    pub fn lookup(&self, session: &str) -> Option<(UserId, Role)> {
        self.state.read().live.get(session).cloned()
    }

    /// Whether the session was logged out (and not logged in again since).
    pub fn is_revoked(&self, session: &SessionId) -> bool {
        self.state.read().revoked.contains(session)
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.state.read().live.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The chain the hub runs: host authenticators, then JWT, then sessions.
pub(crate) struct AuthChain {
    pub(crate) custom: Vec<Box<dyn Authenticator>>,
    pub(crate) jwt: Option<JwtAuthenticator>,
    pub(crate) sessions: SessionTable,
    pub(crate) devices: DeviceKeys,
}

/// Per-module device keys the host registers (`hub.register_device_key`), the
/// alternative to device JWTs for boards that cannot sign tokens.
#[derive(Default)]
pub struct DeviceKeys {
    keys: RwLock<HashMap<ModuleId, (UserId, String)>>,
}

impl DeviceKeys {
    /// Registers (or replaces) the key of `module`, owned by `owner`.
    pub fn register(&self, module: ModuleId, owner: UserId, key: String) {
        self.keys.write().insert(module, (owner, key));
    }

    /// Forgets the key of `module`; returns whether there was one.
    pub fn revoke(&self, module: &ModuleId) -> bool {
        self.keys.write().remove(module).is_some()
    }

    /// The owner of `module` if `key` is its key (compared in constant time).
    pub fn verify(&self, module: &ModuleId, key: &str) -> Option<UserId> {
        use subtle::ConstantTimeEq;
        let keys = self.keys.read();
        let (owner, expected) = keys.get(module)?;
        let equal: bool = expected.as_bytes().ct_eq(key.as_bytes()).into();
        equal.then(|| owner.clone())
    }
}

impl AuthChain {
    /// Runs the built-in authenticators (the hub runs host ones first, catching panics).
    pub(crate) fn builtin(&self, request: &AuthRequest) -> Result<Identity, AuthError> {
        let identity = if let Some(token) = &request.token {
            let jwt = self.jwt.as_ref().ok_or(AuthError::JwtNotConfigured)?;
            let identity = jwt.verify(token)?;
            if identity
                .session_id
                .as_ref()
                .is_some_and(|sid| self.sessions.is_revoked(sid))
            {
                return Err(AuthError::UnknownSession);
            }
            identity
        } else if let Some(session) = &request.session_id {
            let (user_id, role) = self
                .sessions
                .lookup(session)
                .ok_or(AuthError::UnknownSession)?;
            Identity::user(user_id, role, Some(SessionId::new(session)?))
        } else if let (Some(key), Some(module)) = (&request.device_key, &request.module_id) {
            let owner = self
                .devices
                .verify(module, key)
                .ok_or(AuthError::UnknownDevice)?;
            Identity::device(module.clone(), owner)
        } else {
            return Err(AuthError::MissingCredentials);
        };
        request.check_claims(&identity)?;
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn token(claims: Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn future() -> u64 {
        crate::event::now_ms() / 1000 + 3600
    }

    #[test]
    fn valid_token_gives_its_identity() {
        let jwt = JwtAuthenticator::new(b"secret");
        let id = jwt
            .verify(&token(
                json!({"sub": 7, "role": "admin", "sid": "s1", "exp": future()}),
                b"secret",
            ))
            .unwrap();
        assert_eq!(id.user_id.as_str(), "7");
        assert_eq!(id.role, Role::Admin);
        assert_eq!(id.session_id.unwrap().as_str(), "s1");
    }

    #[test]
    fn wrong_signature_expired_and_alg_none_are_refused() {
        let jwt = JwtAuthenticator::new(b"secret");
        let wrong = token(json!({"sub": "1", "exp": future()}), b"other");
        assert!(matches!(
            jwt.verify(&wrong),
            Err(AuthError::InvalidToken(_))
        ));
        let expired = token(json!({"sub": "1", "exp": 1_000_000_000}), b"secret");
        assert_eq!(jwt.verify(&expired), Err(AuthError::ExpiredToken));
        // {"alg":"none","typ":"JWT"}.{"sub":"1","role":"admin","exp":9999999999}.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwicm9sZSI6ImFkbWluIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(matches!(jwt.verify(none), Err(AuthError::InvalidToken(_))));
        let no_exp = token(json!({"sub": "1"}), b"secret");
        assert!(matches!(
            jwt.verify(&no_exp),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn claims_are_checked_never_trusted() {
        let identity = Identity::user(UserId::new("1").unwrap(), Role::User, None);
        let request = AuthRequest::parse(&json!({"userId": 1, "userType": "admin"})).unwrap();
        assert_eq!(
            request.check_claims(&identity),
            Err(AuthError::ClaimsMismatch { field: "userType" })
        );
        let request = AuthRequest::parse(&json!({"userId": "2"})).unwrap();
        assert_eq!(
            request.check_claims(&identity),
            Err(AuthError::ClaimsMismatch { field: "userId" })
        );
    }

    #[test]
    fn non_object_payloads_are_invalid() {
        for bad in [json!(1), json!("x"), json!([1]), json!({"token": 5})] {
            assert!(matches!(
                AuthRequest::parse(&bad),
                Err(AuthError::InvalidPayload(_))
            ));
        }
    }

    #[test]
    fn logged_out_session_is_revoked_until_next_login() {
        let table = SessionTable::default();
        let sid = SessionId::new("abc").unwrap();
        let user = UserId::new("1").unwrap();
        assert!(table.log_in(sid.clone(), user.clone(), Role::User));
        assert!(!table.log_in(sid.clone(), user.clone(), Role::User));
        let other = UserId::new("2").unwrap();
        assert_eq!(table.log_out(&sid, &other), Err(user.clone()));
        assert!(
            table.lookup("abc").is_some(),
            "another user's logout leaves it live"
        );
        assert_eq!(table.log_out(&sid, &user), Ok(true));
        assert!(table.is_revoked(&sid));
        assert!(table.lookup("abc").is_none());
        table.log_in(sid.clone(), user, Role::User);
        assert!(!table.is_revoked(&sid));
    }

    #[test]
    fn cookies_and_headers_are_found() {
        let context = HandshakeContext {
            headers: vec![("Cookie".into(), "a=1; connect.sid=xyz".into())],
            ..Default::default()
        };
        assert_eq!(context.cookie("connect.sid"), Some("xyz"));
        assert_eq!(context.header("cookie"), Some("a=1; connect.sid=xyz"));
    }
}
