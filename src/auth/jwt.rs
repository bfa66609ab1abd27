//! The built-in JWT authenticator ([`JwtAuthenticator`]) and its settings ([`JwtSettings`]).
//!
//! Owns token verification: HS256, RS256, ES256 and EdDSA, each only with a key of its
//! type (the algorithm is fixed by the key, `jwt_keys.rs`); `alg: none` and every other
//! algorithm refused; a token with a `kid` is checked only against keys with that `kid`;
//! `exp` required; optional `iss` / `aud`; a clock leeway (0 by default). Each refusal has
//! its own [`AuthError`] variant and code. The claims are `sub`, `role`, `sid`, `owner`.
//! Keys of a JWKS URL (`jwks_url.rs`) are used next to the configured ones; a token whose
//! `kid` none has asks for one rate-bounded refetch before it is refused `unknown_kid`.
//! It must not consult sessions: the chain checks a token's `sid` against revoked sessions.
//! Guarded by `auth::tests::valid_token_gives_its_identity`,
//! `auth::tests::wrong_signature_expired_and_alg_none_are_refused` and `auth::jwt_tests`.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;

use super::jwks_url::{JwksStats, JwksUrl, RemoteJwks};
use super::jwt_keys::{ALLOWED_ALGORITHMS, JwtKey};
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

/// What the built-in JWT authenticator accepts: keys, issuer, audience, leeway.
#[derive(Debug, Clone, Default)]
pub struct JwtSettings {
    /// Verification keys; a token is accepted if one key of its algorithm (and `kid`,
    /// when the token names one) verifies it.
    pub keys: Vec<JwtKey>,
    /// A JWKS document fetched over HTTP(S) at start, refreshed on an interval and on an
    /// unknown `kid`; its keys are used next to `keys`.
    pub jwks_url: Option<JwksUrl>,
    /// When set, the token's `iss` must be this value.
    pub issuer: Option<String>,
    /// When set, the token's `aud` must contain this value.
    pub audience: Option<String>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
}

/// The built-in JWT authenticator.
pub struct JwtAuthenticator {
    keys: Vec<JwtKey>,
    remote: Option<RemoteJwks>,
    /// The checks of each accepted algorithm (the same for every key of it).
    validations: Vec<(Algorithm, Validation)>,
}

impl JwtAuthenticator {
    /// Verifies HS256 tokens signed with `secret` (`exp` required, no leeway).
    pub fn new(secret: &[u8]) -> Self {
        let keys = JwtKey::hs256(secret).into_iter().collect();
        Self::with_settings(JwtSettings {
            keys,
            ..JwtSettings::default()
        })
    }

    /// Verifies tokens against `settings`. With a [`JwksUrl`], fetches it before
    /// returning (at most its timeout; a failure is logged and counted, and the keys
    /// come with a later fetch) and starts its refresh thread.
    pub fn with_settings(settings: JwtSettings) -> Self {
        let validations = ALLOWED_ALGORITHMS
            .iter()
            .map(|algorithm| (*algorithm, validation(*algorithm, &settings)))
            .collect();
        Self {
            keys: settings.keys,
            remote: settings.jwks_url.map(RemoteJwks::start),
            validations,
        }
    }

    /// The health of the JWKS URL, when one is configured.
    pub fn jwks_stats(&self) -> Option<JwksStats> {
        self.remote.as_ref().map(RemoteJwks::stats)
    }

    /// Verifies one token.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header = decode_header(token).map_err(|error| refusal(&error))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed(format!("{:?}", header.alg)));
        }
        let Some(remote) = &self.remote else {
            return self.verify_with(token, &header, &[]);
        };
        match self.verify_with(token, &header, &remote.keys()) {
            // Rotation at the identity provider: its new kid is fetched (rate-bounded).
            Err(AuthError::UnknownKid(kid)) if remote.refresh_for_unknown_kid(&kid) => {
                self.verify_with(token, &header, &remote.keys())
            }
            outcome => outcome,
        }
    }

    /// Verifies against the configured keys and `fetched` ones.
    fn verify_with(
        &self,
        token: &str,
        header: &Header,
        fetched: &[JwtKey],
    ) -> Result<Identity, AuthError> {
        let all = self.keys.iter().chain(fetched);
        let named: Vec<&JwtKey> = match &header.kid {
            Some(kid) => {
                let named: Vec<_> = all.filter(|key| key.kid.as_deref() == Some(kid)).collect();
                if named.is_empty() {
                    return Err(AuthError::UnknownKid(kid.clone()));
                }
                named
            }
            None => all.collect(),
        };
        let mut last = AuthError::AlgorithmNotAllowed(format!("{:?}", header.alg));
        for key in named.into_iter().filter(|key| key.algorithm == header.alg) {
            let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == key.algorithm)
            else {
                continue;
            };
            match decode::<Claims>(token, &key.key, validation) {
                Ok(data) => return identity(data.claims),
                // Rotation: another key of the same algorithm may verify it.
                Err(error) if *error.kind() == ErrorKind::InvalidSignature => {
                    last = AuthError::BadSignature;
                }
                Err(error) => return Err(refusal(&error)),
            }
        }
        Err(last)
    }
}

/// The checks for tokens of `algorithm` under `settings`.
fn validation(algorithm: Algorithm, settings: &JwtSettings) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = settings.leeway_secs;
    validation.validate_nbf = true;
    // A configured issuer or audience is required, not only checked if present.
    let mut required = vec!["exp"];
    match &settings.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    if let Some(issuer) = &settings.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// The typed refusal for a verification error.
fn refusal(error: &jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::ExpiredSignature => AuthError::ExpiredToken,
        ErrorKind::ImmatureSignature => AuthError::TokenNotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::AlgorithmNotAllowed(error.to_string())
        }
        _ => AuthError::InvalidToken(error.to_string()),
    }
}

/// The identity a verified token's claims give.
fn identity(claims: Claims) -> Result<Identity, AuthError> {
    let invalid = |error: IdError| AuthError::InvalidToken(error.to_string());
    let role = match claims.role.as_deref() {
        None => Role::User,
        Some(text) => Role::parse(text)
            .ok_or_else(|| AuthError::InvalidToken(format!("unknown role {text:?}")))?,
    };
    if role == Role::Device {
        let module = ModuleId::from_json_field("sub", &claims.sub).map_err(invalid)?;
        let owner = claims
            .owner
            .as_ref()
            .ok_or_else(|| AuthError::InvalidToken("a device token needs an owner claim".into()))?;
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
