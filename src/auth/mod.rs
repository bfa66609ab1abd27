//! Authentication: who a connection is, proven by a credential, never by its claims.
//!
//! Owns [`Identity`], [`Role`], the [`Authenticator`] hook and the two built-in
//! authenticators of DESIGN §6, tried after the host's own in this order:
//!
//! 1. **JWT** when the payload has a `token`: claims `sub` (user id), `role`
//!    (`user`, `admin` or `device`), `sid` (session id, optional) and `exp` (required).
//!    HS256 secrets, RS256 / ES256 / EdDSA public keys and JWKS keys (a file, or a URL
//!    refetched on an interval and on an unknown `kid`), each verifying only its own
//!    algorithm: `alg: none` and every other algorithm are refused.
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

mod chain;
mod device_keys;
mod error;
mod identity;
mod jwks_url;
mod jwt;
mod jwt_keys;
mod request;
mod sessions;

pub(crate) use chain::AuthChain;
pub use chain::{AuthDecision, Authenticator};
pub use device_keys::DeviceKeys;
pub use error::AuthError;
pub use identity::{Identity, Role};
pub use jwks_url::{
    DEFAULT_JWKS_MIN_REFRESH, DEFAULT_JWKS_REFRESH, DEFAULT_JWKS_TIMEOUT, JwksStats, JwksUrl,
    MAX_JWKS_BYTES,
};
pub use jwt::{JwtAuthenticator, JwtSettings};
pub use jwt_keys::{ALLOWED_ALGORITHMS, JwtKey, JwtKeyError};
pub use request::{AuthRequest, HandshakeContext};
pub use sessions::{REVOKED_SESSIONS_KEPT, SessionTable};

#[cfg(test)]
mod jwt_tests;
#[cfg(test)]
mod tests;
