//! [`JwtConfig`]: the schema's `jwt` section (C, Python and Node read it like every key):
//! several HS256 secrets, RS256 / ES256 / EdDSA public keys in PEM (text or a file path),
//! a JWKS file, issuer, audience and leeway, turned into the hub's
//! [`JwtSettings`](crate::auth::JwtSettings). `jwtSecret` stays the one-secret form.
//! This module must not verify tokens. Guarded by its tests below
//! (`jwt_section_loads_keys_and_refuses_bad_ones`, …) and the bindings' default-config tests.

use serde::{Deserialize, Serialize};

use super::check::Section;
use super::{ConfigError, Secret};
use crate::auth::{JwtKey, JwtSettings};

/// The `jwt` section. Every key is optional; the keys of all entries are used together
/// (a token is accepted when one key of its algorithm, and `kid` if it names one,
/// verifies it).
#[derive(Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtConfig {
    /// HS256 secrets valid at once (rotation); text or bytes, each not empty.
    pub secrets: Vec<Secret>,
    /// Public keys: PEM text (`-----BEGIN PUBLIC KEY-----…`) or the path of a PEM file.
    /// RSA verifies RS256, EC P-256 ES256, Ed25519 EdDSA.
    pub public_keys: Vec<String>,
    /// The path of a JWKS document (`{"keys": [...]}`); its keys are chosen by `kid`.
    pub jwks: Option<String>,
    /// When set, a token's `iss` must be this.
    pub issuer: Option<String>,
    /// When set, a token's `aud` must contain this.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (JWT times are whole seconds;
    /// default 0).
    pub leeway_secs: u64,
}

/// The accepted form: every field optional, so `check` can tell known keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawJwt {
    secrets: Option<Vec<Secret>>,
    #[serde(alias = "public_keys")]
    public_keys: Option<Vec<String>>,
    jwks: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    #[serde(alias = "leeway_secs")]
    leeway_secs: Option<u64>,
}

impl Section for RawJwt {}

impl RawJwt {
    /// The section with its defaults, its keys loaded once to refuse bad ones now.
    pub(super) fn resolve(self) -> Result<JwtConfig, ConfigError> {
        let config = JwtConfig {
            secrets: self.secrets.unwrap_or_default(),
            public_keys: self.public_keys.unwrap_or_default(),
            jwks: self.jwks,
            issuer: self.issuer,
            audience: self.audience,
            leeway_secs: self.leeway_secs.unwrap_or(0),
        };
        config.settings()?;
        Ok(config)
    }
}

impl JwtConfig {
    /// The hub's settings: reads the PEM and JWKS files.
    pub fn settings(&self) -> Result<JwtSettings, ConfigError> {
        let mut keys = Vec::new();
        for (i, secret) in self.secrets.iter().enumerate() {
            let key = JwtKey::hs256(&secret.0).map_err(|e| {
                ConfigError::bad(
                    &format!("jwt.secrets[{i}]"),
                    "a non-empty secret",
                    e.to_string(),
                )
            })?;
            keys.push(key);
        }
        for (i, entry) in self.public_keys.iter().enumerate() {
            let at = format!("jwt.publicKeys[{i}]");
            let pem = if entry.contains("-----BEGIN") {
                entry.clone().into_bytes()
            } else {
                read(&at, entry)?
            };
            let key = JwtKey::from_pem(&pem).map_err(|e| {
                ConfigError::bad(
                    &at,
                    "an RSA, P-256 or Ed25519 public key in PEM",
                    e.to_string(),
                )
            })?;
            keys.push(key);
        }
        if let Some(path) = &self.jwks {
            let document = read("jwt.jwks", path)?;
            let found = JwtKey::from_jwks(&document)
                .map_err(|e| ConfigError::bad("jwt.jwks", "a JWKS document", e.to_string()))?;
            keys.extend(found);
        }
        Ok(JwtSettings {
            keys,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway_secs: self.leeway_secs,
        })
    }
}

fn read(at: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::bad(at, "a readable file", format!("{path}: {e}")))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use serde_json::json;

    use crate::HubConfig;
    use crate::auth::JwtAuthenticator;

    fn temp_file(name: &str, contents: &[u8]) -> String {
        let path = std::env::temp_dir().join(format!("mcrt-jwt-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn jwt_section_loads_keys_and_refuses_bad_ones() {
        let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let public = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let path = temp_file("rsa.pem", public.as_bytes());
        let config = HubConfig::from_json(&json!({"jwt": {
            "secrets": ["new", "old"], "publicKeys": [path], "issuer": "https://id.example",
            "leewaySecs": 5
        }}))
        .unwrap();
        let settings = config.jwt.as_ref().unwrap().settings().unwrap();
        let jwt = JwtAuthenticator::with_settings(settings);
        let claims = json!({"sub": "7", "exp": crate::event::now_ms() / 1000 + 60, "iss": "https://id.example"});
        let signing = EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes());
        let rs = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &signing).unwrap();
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"old"),
        )
        .unwrap();
        assert!(jwt.verify(&rs).is_ok() && jwt.verify(&hs).is_ok());
        // The canonical form keeps the path, and Debug never shows a secret.
        let shown = serde_json::to_value(&config).unwrap();
        assert_eq!(shown["jwt"]["leewaySecs"], json!(5));
        assert!(!format!("{config:?}").contains("old"), "{config:?}");
        for (bad, key) in [
            (json!({"jwt": {"secrets": [""]}}), "jwt.secrets[0]"),
            (
                json!({"jwt": {"publicKeys": ["/nonexistent.pem"]}}),
                "jwt.publicKeys[0]",
            ),
            (
                json!({"jwt": {"publicKeys": ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]}}),
                "jwt.publicKeys[0]",
            ),
            (json!({"jwt": {"jwks": path}}), "jwt.jwks"),
            (json!({"jwt": {"leeway": 5}}), "jwt.leeway"),
            (json!({"jwt": {"issuer": 5}}), "jwt.issuer"),
        ] {
            let error = HubConfig::from_json(&bad).expect_err(&bad.to_string());
            assert_eq!(error.key(), key, "{error}");
        }
        std::fs::remove_file(path).unwrap();
    }
}
