//! [`JwtConfig`]: the schema's `jwt` section (C, Python and Node read it like every key):
//! several HS256 secrets, RS256 / ES256 / EdDSA public keys in PEM (text or a file path,
//! optionally with a `kid`), a JWKS file or URL (with its refresh interval, refresh rate
//! bound, timeout and private CA), issuer, audience and leeway, turned into the hub's
//! [`JwtSettings`](crate::auth::JwtSettings). `jwtSecret` stays the one-secret form.
//! This module must not verify tokens. Guarded by its tests below
//! (`jwt_section_loads_keys_and_refuses_bad_ones`, …), `tests/hub/jwks_url.rs` and the
//! bindings' default-config tests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Section;
use super::{ConfigError, Secret};
use crate::auth::{
    DEFAULT_JWKS_MIN_REFRESH, DEFAULT_JWKS_REFRESH, DEFAULT_JWKS_TIMEOUT, JwksUrl, JwtKey,
    JwtSettings,
};

/// The `jwt` section. Every key is optional; the keys of all entries are used together
/// (a token is accepted when one key of its algorithm, and `kid` if it names one,
/// verifies it).
#[derive(Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtConfig {
    /// HS256 secrets valid at once (rotation); text or bytes, each not empty.
    pub secrets: Vec<Secret>,
    /// Public keys: PEM text (`-----BEGIN PUBLIC KEY-----…`) or the path of a PEM file,
    /// alone or with the `kid` tokens choose it by. RSA verifies RS256, EC P-256 ES256,
    /// Ed25519 EdDSA.
    pub public_keys: Vec<PublicKey>,
    /// A JWKS document (`{"keys": [...]}`): a file path, or an `http://` / `https://` URL
    /// fetched at start, every `jwks_refresh_secs` and on an unknown `kid`. Its keys are
    /// chosen by `kid`.
    pub jwks: Option<String>,
    /// With a JWKS URL: seconds between scheduled fetches (default 600, at least 1).
    pub jwks_refresh_secs: u64,
    /// With a JWKS URL: shortest time between two fetches caused by tokens with an
    /// unknown `kid`, in seconds (default 30); the others are refused `unknown_kid`.
    pub jwks_min_refresh_secs: u64,
    /// With a JWKS URL: limit on one fetch in milliseconds (default 5000, at least 1),
    /// the longest a handshake with an unknown `kid` waits.
    pub jwks_timeout_ms: u64,
    /// With an `https://` JWKS URL: a PEM file of the authorities to trust instead of the
    /// public roots (an identity provider behind a private CA).
    pub jwks_ca_file: Option<String>,
    /// When set, a token's `iss` must be this.
    pub issuer: Option<String>,
    /// When set, a token's `aud` must contain this.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (JWT times are whole seconds;
    /// default 0).
    pub leeway_secs: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            public_keys: Vec::new(),
            jwks: None,
            jwks_refresh_secs: DEFAULT_JWKS_REFRESH.as_secs(),
            jwks_min_refresh_secs: DEFAULT_JWKS_MIN_REFRESH.as_secs(),
            jwks_timeout_ms: DEFAULT_JWKS_TIMEOUT.as_millis() as u64,
            jwks_ca_file: None,
            issuer: None,
            audience: None,
            leeway_secs: 0,
        }
    }
}

/// One entry of `publicKeys`: `"<PEM or path>"`, or `{"pem": "<PEM or path>", "kid": "k1"}`
/// for a key that tokens naming `kid` choose (and tokens naming another kid never try).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "PEM text or a PEM file path, or an object {\"pem\", \"kid\"}"
)]
pub enum PublicKey {
    /// PEM text or a PEM file path, no `kid`.
    Pem(String),
    /// PEM text or a PEM file path, chosen by `kid`.
    WithKid {
        /// PEM text or a PEM file path.
        pem: String,
        /// The key id tokens name in their header.
        kid: String,
    },
}

impl PublicKey {
    fn parts(&self) -> (&str, Option<&str>) {
        match self {
            Self::Pem(pem) => (pem, None),
            Self::WithKid { pem, kid } => (pem, Some(kid)),
        }
    }
}

/// The accepted form: every field optional, so `check` can tell known keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawJwt {
    secrets: Option<Vec<Secret>>,
    #[serde(alias = "public_keys")]
    public_keys: Option<Vec<PublicKey>>,
    jwks: Option<String>,
    #[serde(alias = "jwks_refresh_secs")]
    jwks_refresh_secs: Option<u64>,
    #[serde(alias = "jwks_min_refresh_secs")]
    jwks_min_refresh_secs: Option<u64>,
    #[serde(alias = "jwks_timeout_ms")]
    jwks_timeout_ms: Option<u64>,
    #[serde(alias = "jwks_ca_file")]
    jwks_ca_file: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    #[serde(alias = "leeway_secs")]
    leeway_secs: Option<u64>,
}

impl Section for RawJwt {}

impl RawJwt {
    /// The section with its defaults, its keys loaded once to refuse bad ones now (a
    /// JWKS URL is only checked for its form: it is fetched when the hub is built).
    pub(super) fn resolve(self) -> Result<JwtConfig, ConfigError> {
        let defaults = JwtConfig::default();
        let config = JwtConfig {
            secrets: self.secrets.unwrap_or_default(),
            public_keys: self.public_keys.unwrap_or_default(),
            jwks: self.jwks,
            jwks_refresh_secs: self.jwks_refresh_secs.unwrap_or(defaults.jwks_refresh_secs),
            jwks_min_refresh_secs: self
                .jwks_min_refresh_secs
                .unwrap_or(defaults.jwks_min_refresh_secs),
            jwks_timeout_ms: self.jwks_timeout_ms.unwrap_or(defaults.jwks_timeout_ms),
            jwks_ca_file: self.jwks_ca_file,
            issuer: self.issuer,
            audience: self.audience,
            leeway_secs: self.leeway_secs.unwrap_or(0),
        };
        for (key, value) in [
            ("jwt.jwksRefreshSecs", config.jwks_refresh_secs),
            ("jwt.jwksTimeoutMs", config.jwks_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::bad(key, "a number >= 1", "0"));
            }
        }
        config.settings()?;
        Ok(config)
    }
}

impl JwtConfig {
    /// The hub's settings: reads the PEM files and a JWKS file (a JWKS URL becomes
    /// [`JwtSettings::jwks_url`], fetched when the hub is built).
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
            keys.push(public_key(&format!("jwt.publicKeys[{i}]"), entry)?);
        }
        let mut jwks_url = None;
        match &self.jwks {
            Some(url) if JwksUrl::is_url(url) => jwks_url = Some(self.jwks_url(url)?),
            Some(path) => {
                let document = read("jwt.jwks", path)?;
                let found = JwtKey::from_jwks(&document)
                    .map_err(|e| ConfigError::bad("jwt.jwks", "a JWKS document", e.to_string()))?;
                keys.extend(found);
            }
            None => {}
        }
        Ok(JwtSettings {
            keys,
            jwks_url,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway_secs: self.leeway_secs,
        })
    }

    fn jwks_url(&self, url: &str) -> Result<JwksUrl, ConfigError> {
        if !cfg!(feature = "jwks-url") {
            return Err(ConfigError::bad(
                "jwt.jwks",
                "a file path (this build has no JWKS URL support: cargo feature `jwks-url`)",
                url,
            ));
        }
        let ca_pem = match &self.jwks_ca_file {
            None => None,
            Some(path) => {
                let pem = String::from_utf8_lossy(&read("jwt.jwksCaFile", path)?).into_owned();
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(ConfigError::bad(
                        "jwt.jwksCaFile",
                        "a PEM file of CA certificates",
                        path.as_str(),
                    ));
                }
                Some(pem)
            }
        };
        Ok(JwksUrl {
            ca_pem,
            url: url.trim().to_owned(),
            refresh_interval: Duration::from_secs(self.jwks_refresh_secs.max(1)),
            min_refresh_interval: Duration::from_secs(self.jwks_min_refresh_secs),
            timeout: Duration::from_millis(self.jwks_timeout_ms.max(1)),
        })
    }
}

/// One `publicKeys` entry as a key, with its `kid` when given.
fn public_key(at: &str, entry: &PublicKey) -> Result<JwtKey, ConfigError> {
    let (pem, kid) = entry.parts();
    let pem = if pem.contains("-----BEGIN") {
        pem.as_bytes().to_vec()
    } else {
        read(at, pem)?
    };
    let key = JwtKey::from_pem(&pem).map_err(|e| {
        ConfigError::bad(
            at,
            "an RSA, P-256 or Ed25519 public key in PEM",
            e.to_string(),
        )
    })?;
    match kid {
        Some("") => Err(ConfigError::bad(
            &format!("{at}.kid"),
            "a non-empty key id",
            "\"\"",
        )),
        Some(kid) => Ok(key.with_kid(kid)),
        None => Ok(key),
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

    #[test]
    fn public_keys_with_a_kid_are_chosen_only_by_that_kid() {
        let pair = || {
            use p256::pkcs8::EncodePrivateKey;
            let private = p256::SecretKey::random(&mut rand_core::OsRng);
            let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
            let public = private
                .public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap();
            (EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), public)
        };
        let ((named, named_pem), (plain, plain_pem)) = (pair(), pair());
        let path = temp_file("plain-ec.pem", plain_pem.as_bytes());
        let config = HubConfig::from_json(&json!({"jwt": {
            "publicKeys": [{"pem": named_pem, "kid": "k1"}, path]
        }}))
        .unwrap();
        // The canonical form keeps each entry's shape.
        let shown = serde_json::to_value(&config).unwrap();
        assert_eq!(shown["jwt"]["publicKeys"][0]["kid"], json!("k1"));
        assert_eq!(shown["jwt"]["publicKeys"][1], json!(path));
        let jwt = JwtAuthenticator::with_settings(config.jwt.unwrap().settings().unwrap());
        let claims = json!({"sub": "7", "exp": crate::event::now_ms() / 1000 + 60});
        let sign = |key: &EncodingKey, kid: Option<&str>| {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = kid.map(str::to_owned);
            jsonwebtoken::encode(&header, &claims, key).unwrap()
        };
        assert!(jwt.verify(&sign(&named, Some("k1"))).is_ok());
        // A token without kid may use any key; one naming k1 only k1's.
        assert!(jwt.verify(&sign(&plain, None)).is_ok());
        assert_eq!(
            jwt.verify(&sign(&plain, Some("k1"))).unwrap_err().code(),
            "bad_signature"
        );
        assert_eq!(
            jwt.verify(&sign(&named, Some("k2"))).unwrap_err().code(),
            "unknown_kid"
        );
        for (bad, key) in [
            (
                json!({"jwt": {"publicKeys": [{"pem": named_pem}]}}),
                "jwt.publicKeys",
            ),
            (
                json!({"jwt": {"publicKeys": [{"pem": named_pem, "kid": "a", "alg": "ES256"}]}}),
                "jwt.publicKeys",
            ),
            (
                json!({"jwt": {"publicKeys": [{"pem": named_pem, "kid": ""}]}}),
                "jwt.publicKeys[0].kid",
            ),
            (json!({"jwt": {"publicKeys": [7]}}), "jwt.publicKeys"),
        ] {
            let error = HubConfig::from_json(&bad).expect_err(&bad.to_string());
            assert_eq!(error.key(), key, "{error}");
            // The message says which forms an entry may take.
            assert!(
                key.ends_with("kid") || error.to_string().contains("pem"),
                "{error}"
            );
        }
        std::fs::remove_file(path).unwrap();
    }
}
