//! The built-in JWT HS256 authenticator ([`JwtAuthenticator`]).
//!
//! Owns token verification: HS256 only (`alg: none` and every other algorithm refused),
//! `exp` required with no leeway, and the claims `sub`, `role`, `sid`, `owner`. It must
//! not consult sessions: the chain checks a token's `sid` against revoked sessions.
//! Guarded by `auth::tests::valid_token_gives_its_identity` and
//! `auth::tests::wrong_signature_expired_and_alg_none_are_refused`.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::{AuthError, Identity, Role};
use crate::ids::{IdError, ModuleId, SessionId, UserId};

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
