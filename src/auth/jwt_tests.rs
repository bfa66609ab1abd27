//! Unit tests of JWT keys beyond one HS256 secret: PEM public keys, JWKS and `kid`,
//! rotation, issuer / audience / leeway, and algorithm confusion. Keys are generated here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePublicKey;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use super::{AuthError, JwtAuthenticator, JwtKey, JwtSettings};

/// A private key to sign with and its public key in PEM.
struct Pair {
    signing: EncodingKey,
    public_pem: String,
    algorithm: Algorithm,
}

fn rsa_pair() -> Pair {
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let der = private.to_pkcs1_der().unwrap();
    Pair {
        signing: EncodingKey::from_rsa_der(der.as_bytes()),
        public_pem: private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
        algorithm: Algorithm::RS256,
    }
}

fn ec_pair() -> Pair {
    let private = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    Pair {
        signing: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        public_pem: private
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
        algorithm: Algorithm::ES256,
    }
}

/// The JWK of an RSA pair's public key, as an identity provider publishes it.
fn rsa_jwk(pair: &Pair, kid: &str) -> Value {
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&pair.signing, pair.algorithm).unwrap())
            .unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

/// The JWK of an Ed25519 public key (`OKP`, `x` = the 32 key bytes).
fn ed_jwk(pair: &Pair, kid: &str) -> Value {
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&pair.public_pem).unwrap();
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": URL_SAFE_NO_PAD.encode(key.as_bytes())})
}

fn ed_pair() -> Pair {
    let private = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    Pair {
        signing: EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        public_pem: private
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
        algorithm: Algorithm::EdDSA,
    }
}

fn now() -> u64 {
    crate::event::now_ms() / 1000
}

fn claims() -> Value {
    json!({"sub": "7", "exp": now() + 3600})
}

fn sign(pair: &Pair, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(pair.algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &pair.signing).unwrap()
}

fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn with_keys(keys: Vec<JwtKey>) -> JwtAuthenticator {
    JwtAuthenticator::with_settings(JwtSettings {
        keys,
        ..JwtSettings::default()
    })
}

#[test]
fn rs256_es256_and_eddsa_public_keys_verify_their_own_tokens_only() {
    let pairs = [rsa_pair(), ec_pair(), ed_pair()];
    for pair in &pairs {
        let key = JwtKey::from_pem(pair.public_pem.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), pair.algorithm);
        let jwt = with_keys(vec![key]);
        let identity = jwt.verify(&sign(pair, None, &claims())).unwrap();
        assert_eq!(identity.user_id.as_str(), "7");
        // A token of the same algorithm signed by another key pair.
        let other = match pair.algorithm {
            Algorithm::RS256 => rsa_pair(),
            Algorithm::ES256 => ec_pair(),
            _ => ed_pair(),
        };
        let forged = sign(&other, None, &claims());
        assert_eq!(jwt.verify(&forged), Err(AuthError::BadSignature));
    }
}

#[test]
fn hs256_token_signed_with_rsa_public_key_is_refused() {
    let pair = rsa_pair();
    let jwt = with_keys(vec![JwtKey::from_pem(pair.public_pem.as_bytes()).unwrap()]);
    let confused = hs256(pair.public_pem.as_bytes(), None, &claims());
    assert!(matches!(
        jwt.verify(&confused),
        Err(AuthError::AlgorithmNotAllowed(_))
    ));
    // {"alg":"none"} with the same claims.
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"x")
        )
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
    );
    assert!(jwt.verify(&none).is_err());
    assert_eq!(jwt.verify(&none).unwrap_err().code(), "invalid_token");
}

#[test]
fn several_hs256_secrets_are_valid_at_once() {
    let jwt = with_keys(vec![
        JwtKey::hs256("new").unwrap(),
        JwtKey::hs256("old").unwrap(),
    ]);
    assert!(jwt.verify(&hs256(b"new", None, &claims())).is_ok());
    assert!(jwt.verify(&hs256(b"old", None, &claims())).is_ok());
    assert_eq!(
        jwt.verify(&hs256(b"retired", None, &claims())),
        Err(AuthError::BadSignature)
    );
    assert!(JwtKey::hs256("").is_err());
}

#[test]
fn jwks_keys_are_chosen_by_kid() {
    let (a, b) = (rsa_pair(), ed_pair());
    let (a_jwk, b_jwk) = (rsa_jwk(&a, "a"), ed_jwk(&b, "b"));
    let document = json!({"keys": [a_jwk, b_jwk, {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}]});
    let keys = JwtKey::from_jwks(document.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 2, "the symmetric key is skipped");
    let jwt = with_keys(keys);
    assert!(jwt.verify(&sign(&a, Some("a"), &claims())).is_ok());
    assert!(jwt.verify(&sign(&b, Some("b"), &claims())).is_ok());
    // Signed by a but naming b's kid: b is EdDSA, so no key of RS256 under that kid.
    assert!(matches!(
        jwt.verify(&sign(&a, Some("b"), &claims())),
        Err(AuthError::AlgorithmNotAllowed(_))
    ));
    assert_eq!(
        jwt.verify(&sign(&a, Some("gone"), &claims())),
        Err(AuthError::UnknownKid("gone".into()))
    );
    assert_eq!(
        jwt.verify(&hs256(b"secret", Some("sym"), &claims())),
        Err(AuthError::UnknownKid("sym".into()))
    );
    assert!(JwtKey::from_jwks(b"{\"keys\": []}").is_err());
    assert!(JwtKey::from_jwks(b"not json").is_err());
}

#[test]
fn issuer_audience_nbf_and_leeway_are_checked() {
    let jwt = JwtAuthenticator::with_settings(JwtSettings {
        keys: vec![JwtKey::hs256("s").unwrap()],
        issuer: Some("https://id.example".into()),
        audience: Some("coaster".into()),
        leeway_secs: 60,
        jwks_url: None,
    });
    let good =
        json!({"sub": "7", "exp": now() + 3600, "iss": "https://id.example", "aud": "coaster"});
    assert!(jwt.verify(&hs256(b"s", None, &good)).is_ok());
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        jwt.verify(&hs256(b"s", None, &claims))
    };
    assert_eq!(
        with("iss", json!("https://evil.example")),
        Err(AuthError::WrongIssuer)
    );
    assert_eq!(with("aud", json!("other")), Err(AuthError::WrongAudience));
    assert_eq!(
        with("nbf", json!(now() + 600)),
        Err(AuthError::TokenNotYetValid)
    );
    assert_eq!(
        with("exp", json!(now() - 600)),
        Err(AuthError::ExpiredToken)
    );
    // Within the leeway.
    assert!(with("exp", json!(now() - 10)).is_ok());
    assert!(with("nbf", json!(now() + 10)).is_ok());
    let missing_iss = json!({"sub": "7", "exp": now() + 3600, "aud": "coaster"});
    assert!(jwt.verify(&hs256(b"s", None, &missing_iss)).is_err());
}

#[test]
fn without_audience_setting_a_token_audience_is_ignored() {
    let jwt = with_keys(vec![JwtKey::hs256("s").unwrap()]);
    let claims = json!({"sub": "7", "exp": now() + 3600, "aud": "anything"});
    assert!(jwt.verify(&hs256(b"s", None, &claims)).is_ok());
}
