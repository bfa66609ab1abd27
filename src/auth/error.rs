//! Why an authentication was refused: [`AuthError`] and its `auth:error` codes.
//!
//! Owns the refusal vocabulary and the conversion from id errors. It must not decide
//! anything: the authenticators pick the variant.

use crate::ids::IdError;

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
    /// The token's `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    ExpiredToken,
    /// The token's `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    TokenNotYetValid,
    /// The token's `aud` does not contain the configured audience.
    #[error("token is for another audience")]
    WrongAudience,
    /// The token's `iss` is not the configured issuer.
    #[error("token is from another issuer")]
    WrongIssuer,
    /// No configured key of the token's algorithm verifies its signature.
    #[error("token signature does not verify")]
    BadSignature,
    /// The token's header names a `kid` no configured key has.
    #[error("unknown key id {0:?}")]
    UnknownKid(String),
    /// The token's algorithm is not accepted, or no configured key is of that algorithm.
    #[error("algorithm not allowed: {0}")]
    AlgorithmNotAllowed(String),
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
    /// The user already has `max_connections_per_user` authenticated connections; this
    /// one is closed.
    #[error("too many connections for this user")]
    TooManyConnections,
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
            Self::TokenNotYetValid => "token_not_yet_valid",
            Self::WrongAudience => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
            Self::BadSignature => "bad_signature",
            Self::UnknownKid(_) => "unknown_kid",
            Self::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Self::JwtNotConfigured => "jwt_not_configured",
            Self::UnknownSession => "unknown_session",
            Self::ClaimsMismatch { .. } => "claims_mismatch",
            Self::IdentityChange => "identity_change",
            Self::UnknownPage(_) => "unknown_page",
            Self::NotAuthenticated => "not_authenticated",
            Self::TooManyFailures => "too_many_failures",
            Self::TooManyConnections => "too_many_connections",
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
