//! Verification keys of the built-in JWT authenticator: [`JwtKey`] and [`JwtKeyError`].
//!
//! Owns turning key material (an HS256 secret, a PEM public key, a JWKS document) into a
//! key whose algorithm is fixed by the key itself, never by a token's header: an RSA key
//! verifies RS256 only, so a token that says HS256 and was signed with the RSA public key
//! bytes as its secret finds no HS256 key and is refused. It must not verify tokens
//! (`jwt.rs` does). Guarded by `auth::jwt_tests::hs256_token_signed_with_rsa_public_key_is_refused`
//! and `auth::jwt_tests::jwks_keys_are_chosen_by_kid`.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The algorithms the built-in authenticator accepts, each tied to one key type.
pub const ALLOWED_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Why key material could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtKeyError {
    /// The PEM is not an RSA, P-256 or Ed25519 public key.
    #[error("not an RSA, EC P-256 or Ed25519 public key in PEM: {0}")]
    Pem(String),
    /// The JWKS document is not valid JSON of the expected shape.
    #[error("invalid JWKS document: {0}")]
    Jwks(String),
    /// A JWKS document had no key of an accepted algorithm (RS256, ES256, EdDSA).
    #[error("the JWKS document has no RS256, ES256 or EdDSA key")]
    NoUsableKey,
    /// An HS256 secret was empty.
    #[error("an HS256 secret must not be empty")]
    EmptySecret,
}

/// One verification key, its algorithm and its optional key id (`kid`).
#[derive(Clone)]
pub struct JwtKey {
    pub(super) kid: Option<String>,
    pub(super) algorithm: Algorithm,
    pub(super) key: DecodingKey,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    /// An HS256 shared secret. Several may be configured at once for rotation.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, JwtKeyError> {
        if secret.as_ref().is_empty() {
            return Err(JwtKeyError::EmptySecret);
        }
        Ok(Self {
            kid: None,
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(secret.as_ref()),
        })
    }

    /// A public key in PEM (SPKI `PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`): RSA verifies
    /// RS256, EC P-256 verifies ES256, Ed25519 verifies EdDSA.
    pub fn from_pem(pem: &[u8]) -> Result<Self, JwtKeyError> {
        let (algorithm, key) = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            (Algorithm::RS256, key)
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            (Algorithm::ES256, key)
        } else {
            let key = DecodingKey::from_ed_pem(pem)
                .map_err(|error| JwtKeyError::Pem(error.to_string()))?;
            (Algorithm::EdDSA, key)
        };
        Ok(Self {
            kid: None,
            algorithm,
            key,
        })
    }

    /// The keys of a JWKS document (`{"keys": [...]}`). Symmetric keys and algorithms
    /// other than RS256, ES256 and EdDSA are skipped (logged), never trusted.
    pub fn from_jwks(json: &[u8]) -> Result<Vec<Self>, JwtKeyError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|error| JwtKeyError::Jwks(error.to_string()))?;
        let keys: Vec<Self> = set.keys.iter().filter_map(Self::from_jwk).collect();
        if keys.is_empty() {
            return Err(JwtKeyError::NoUsableKey);
        }
        Ok(keys)
    }

    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        let by_type = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Some(Algorithm::ES256)
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Some(Algorithm::EdDSA)
            }
            _ => None,
        };
        let declared = jwk
            .common
            .key_algorithm
            .map(|alg| Algorithm::try_from(alg).ok());
        // A declared `alg` must agree with the key type; a symmetric JWK is never used.
        let algorithm = match (by_type, declared) {
            (Some(by_type), None) => by_type,
            (Some(by_type), Some(Some(declared))) if declared == by_type => by_type,
            _ => {
                tracing::warn!(kid = ?jwk.common.key_id, "JWKS key skipped: not RS256, ES256 or EdDSA");
                return None;
            }
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        })
    }

    /// The same key, chosen by tokens whose header carries this `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm this key verifies (the only one it verifies).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}
