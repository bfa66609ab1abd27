//! JWT keys beyond one HS256 secret, through a hub: an RS256 public key, rotated HS256
//! secrets, issuer and audience. Each attack (algorithm confusion with the RSA public
//! key, `alg: none`, unknown `kid`, expired, not yet valid, wrong `aud` / `iss`, a
//! retired secret) is refused with its code, counted in the Prometheus text by code, and
//! an admin authenticated beforehand keeps receiving its events (sentinel, allow-list).
//! Keys are generated here.

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use microcoaster_realtime::Hub;
use microcoaster_realtime::auth::{JwtKey, JwtSettings};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

const ISSUER: &str = "https://id.example";
const AUDIENCE: &str = "coaster";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str, role: &str) -> Value {
    json!({"sub": sub, "role": role, "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE})
}

fn encode(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

#[test]
fn rs256_hub_refuses_each_forged_token_by_code_and_counts_it() {
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let rsa_key = EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes());
    let hub = Hub::builder()
        .jwt(JwtSettings {
            keys: vec![
                JwtKey::from_pem(public_pem.as_bytes())
                    .unwrap()
                    .with_kid("rsa-1"),
                JwtKey::hs256("current").unwrap(),
                JwtKey::hs256("previous").unwrap(),
            ],
            issuer: Some(ISSUER.into()),
            audience: Some(AUDIENCE.into()),
            leeway_secs: 0,
            jwks_url: None,
        })
        .max_auth_failures(100)
        .build()
        .unwrap();
    let mut admin = hub.connect_in_process();
    let token = encode(
        Algorithm::RS256,
        Some("rsa-1"),
        &claims("1", "admin"),
        &rsa_key,
    );
    admin
        .authenticate(json!({"token": token, "page": "admin"}))
        .unwrap();
    assert_eq!(names(&mut admin), ["auth:ok", "page:snapshot"]);
    // Both rotated secrets are valid at once.
    for secret in [&b"current"[..], b"previous"] {
        let tab = hub.connect_in_process();
        let token = encode(
            Algorithm::HS256,
            None,
            &claims("2", "user"),
            &EncodingKey::from_secret(secret),
        );
        tab.authenticate(json!({"token": token, "page": "dashboard"}))
            .unwrap();
    }

    let with = |key: &str, value: Value| {
        let mut claims = claims("1", "admin");
        claims[key] = value;
        encode(Algorithm::RS256, Some("rsa-1"), &claims, &rsa_key)
    };
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims("1", "admin").to_string())
    );
    let attacks = [
        (
            encode(
                Algorithm::HS256,
                None,
                &claims("1", "admin"),
                &EncodingKey::from_secret(public_pem.as_bytes()),
            ),
            "bad_signature",
        ),
        (
            encode(
                Algorithm::HS256,
                Some("rsa-1"),
                &claims("1", "admin"),
                &EncodingKey::from_secret(public_pem.as_bytes()),
            ),
            "algorithm_not_allowed",
        ),
        (none, "invalid_token"),
        (
            encode(
                Algorithm::RS256,
                Some("rsa-2"),
                &claims("1", "admin"),
                &rsa_key,
            ),
            "unknown_kid",
        ),
        (
            encode(
                Algorithm::HS256,
                None,
                &claims("1", "admin"),
                &EncodingKey::from_secret(b"retired"),
            ),
            "bad_signature",
        ),
        (with("exp", json!(now() - 60)), "expired_token"),
        (with("nbf", json!(now() + 600)), "token_not_yet_valid"),
        (with("aud", json!("elsewhere")), "wrong_audience"),
        (with("iss", json!("https://evil.example")), "wrong_issuer"),
    ];
    let mut attacker = hub.connect_in_process();
    for (token, code) in &attacks {
        let error = attacker
            .authenticate(json!({"token": token, "page": "admin"}))
            .expect_err(code);
        assert_eq!(error.ack_body()["code"], *code, "{code}");
        expect_auth_error(&mut attacker, code);
        hub.emit_to_admins("ops:notice", &json!({"after": code}))
            .unwrap();
        assert_eq!(names(&mut admin), ["ops:notice"], "after {code}");
    }
    expect_not_authenticated_sentinel(&mut attacker);
    let text = hub.prometheus_text();
    for (code, expected) in [
        ("bad_signature", 2),
        ("algorithm_not_allowed", 1),
        ("invalid_token", 1),
        ("unknown_kid", 1),
        ("expired_token", 1),
        ("token_not_yet_valid", 1),
        ("wrong_audience", 1),
        ("wrong_issuer", 1),
    ] {
        let line = format!("mcrt_token_refusals_total{{code=\"{code}\"}} {expected}\n");
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    assert_eq!(hub.metrics().connections.admins, 1);
}
