//! JWT keys from a JWKS URL, through a hub, against a real HTTP endpoint on 127.0.0.1
//! (`jwks_server.rs`): keys chosen by `kid`; a rotated key fetched on its unknown `kid`;
//! a flood of unknown kids fetching at most once per `min_refresh_interval`; the endpoint
//! down (HTTP 500, a garbage document) keeping the last good keys and counting the
//! failure; a hanging endpoint bounded by the timeout without stalling a handshake whose
//! kid is known; the scheduled refresh; the schema's `jwt.jwks` URL; an `https://`
//! endpoint refused under the public roots and trusted with its CA configured. Each refusal is
//! paired with an admin that keeps receiving its events. Keys are generated here.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use microcoaster_realtime::auth::{JwksUrl, JwtSettings};
use microcoaster_realtime::{Hub, HubConfig};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value, json};

use super::jwks_server::{JwksServer, Mode};
use crate::support::jwt::future_exp;
use crate::support::*;

/// An ES256 signing key and the JWK an identity provider publishes for it.
struct Signer {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

fn signer(kid: &str) -> Signer {
    let private = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    Signer {
        kid: kid.to_owned(),
        key,
        jwk,
    }
}

fn document(signers: &[&Signer]) -> Mode {
    let keys: Vec<&Value> = signers.iter().map(|s| &s.jwk).collect();
    Mode::Serve(json!({ "keys": keys }).to_string())
}

/// A token for `sub` as `role`, signed by `signer` and naming `kid`.
fn token(signer: &Signer, kid: &str, sub: &str, role: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    let claims = json!({"sub": sub, "role": role, "exp": future_exp()});
    jsonwebtoken::encode(&header, &claims, &signer.key).unwrap()
}

fn hub_fetching(url: String, min_refresh: Duration, timeout: Duration) -> Hub {
    Hub::builder()
        .jwt(JwtSettings {
            jwks_url: Some(JwksUrl {
                refresh_interval: Duration::from_secs(3600),
                min_refresh_interval: min_refresh,
                timeout,
                ..JwksUrl::new(url)
            }),
            ..JwtSettings::default()
        })
        .max_auth_failures(1000)
        .build()
        .unwrap()
}

/// An admin authenticated with `signer`'s key, to pair every refusal with a sentinel.
fn admin(hub: &Hub, signer: &Signer) -> microcoaster_realtime::InProcessConnection {
    let mut admin = hub.connect_in_process();
    admin
        .authenticate(json!({"token": token(signer, &signer.kid, "1", "admin"), "page": "admin"}))
        .unwrap();
    assert_eq!(names(&mut admin), ["auth:ok", "page:snapshot"]);
    admin
}

/// Whether a fresh connection authenticates with `token`; the refusal code otherwise.
fn try_token(hub: &Hub, token: &str) -> Result<(), String> {
    let tab = hub.connect_in_process();
    match tab.authenticate(json!({"token": token, "page": "dashboard"})) {
        Ok(_) => Ok(()),
        Err(error) => Err(error.ack_body()["code"].as_str().unwrap().to_owned()),
    }
}

fn sentinel(hub: &Hub, admin: &mut microcoaster_realtime::InProcessConnection, n: u64) {
    hub.emit_to_admins("ops:notice", &json!({ "n": n }))
        .unwrap();
    assert_eq!(names(admin), ["ops:notice"], "sentinel {n}");
}

#[test]
fn jwks_url_keys_are_chosen_by_kid_and_rotation_is_fetched_on_unknown_kid() {
    let (old, new) = (signer("2026-a"), signer("2026-b"));
    let server = JwksServer::start(document(&[&old]));
    let hub = hub_fetching(server.url(), Duration::ZERO, Duration::from_secs(5));
    assert_eq!(server.requests(), 1, "fetched once at start");
    let mut admin = admin(&hub, &old);
    // The kid chooses the key: the new key's signature under the old kid does not verify.
    assert_eq!(
        try_token(&hub, &token(&new, &old.kid, "2", "user")),
        Err("bad_signature".into())
    );
    // The identity provider rotates: the new kid is fetched when a token first names it.
    server.set(document(&[&old, &new]));
    assert_eq!(try_token(&hub, &token(&new, &new.kid, "2", "user")), Ok(()));
    assert_eq!(server.requests(), 2);
    assert_eq!(try_token(&hub, &token(&old, &old.kid, "3", "user")), Ok(()));
    let jwks = hub.metrics().jwks.expect("JWKS stats with a JWKS URL");
    assert_eq!((jwks.fetches, jwks.fetch_failures, jwks.keys), (2, 0, 2));
    let text = hub.prometheus_text();
    assert!(
        text.contains("mcrt_jwks_fetches_total{outcome=\"ok\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("mcrt_jwks_keys 2\n"), "{text}");
    sentinel(&hub, &mut admin, 1);
}

#[test]
fn unknown_kid_flood_fetches_at_most_once_per_min_interval() {
    let (good, forger) = (signer("good"), signer("forger"));
    let server = JwksServer::start(document(&[&good]));
    let hub = hub_fetching(
        server.url(),
        Duration::from_secs(3600),
        Duration::from_secs(5),
    );
    let mut admin = admin(&hub, &good);
    for n in 0..200 {
        let kid = format!("random-{n}");
        assert_eq!(
            try_token(&hub, &token(&forger, &kid, "2", "admin")),
            Err("unknown_kid".into()),
            "{kid}"
        );
    }
    // The start fetch is within the interval: not one fetch for the 200 forged kids.
    assert_eq!(server.requests(), 1);
    let refused = hub.prometheus_text();
    assert!(
        refused.contains("mcrt_token_refusals_total{code=\"unknown_kid\"} 200\n"),
        "{refused}"
    );
    sentinel(&hub, &mut admin, 1);
    // The bound holds for a genuine new kid too until the interval has passed.
    let later = signer("later");
    server.set(document(&[&good, &later]));
    assert_eq!(
        try_token(&hub, &token(&later, &later.kid, "3", "user")),
        Err("unknown_kid".into())
    );
    assert_eq!(server.requests(), 1);
    assert_eq!(
        try_token(&hub, &token(&good, &good.kid, "3", "user")),
        Ok(())
    );
}

#[test]
fn endpoint_down_keeps_last_good_keys_and_counts_the_failure() {
    let good = signer("good");
    let server = JwksServer::start(document(&[&good]));
    let hub = hub_fetching(server.url(), Duration::ZERO, Duration::from_secs(5));
    let mut admin = admin(&hub, &good);
    let other = signer("other");
    for (n, mode) in [Mode::Fail, Mode::Serve("{\"keys\": 7}".into())]
        .into_iter()
        .enumerate()
    {
        server.set(mode);
        // An unknown kid makes it fetch; the fetch fails; the kid stays unknown.
        assert_eq!(
            try_token(&hub, &token(&other, &other.kid, "2", "user")),
            Err("unknown_kid".into())
        );
        assert_eq!(server.requests(), n + 2);
        // The last good key set is kept.
        assert_eq!(
            try_token(&hub, &token(&good, &good.kid, "2", "user")),
            Ok(())
        );
        let jwks = hub.metrics().jwks.unwrap();
        assert_eq!(
            (jwks.fetches, jwks.fetch_failures, jwks.keys),
            (1, n as u64 + 1, 1)
        );
        sentinel(&hub, &mut admin, n as u64);
    }
    let text = hub.prometheus_text();
    assert!(
        text.contains("mcrt_jwks_fetches_total{outcome=\"failed\"} 2\n"),
        "{text}"
    );
}

#[test]
fn hanging_endpoint_is_bounded_by_the_timeout_and_stalls_no_known_kid_handshake() {
    let good = signer("good");
    let server = JwksServer::start(document(&[&good]));
    let timeout = Duration::from_millis(800);
    let hub = hub_fetching(server.url(), Duration::ZERO, timeout);
    let mut admin = admin(&hub, &good);
    server.drain_arrivals();
    server.set(Mode::Hang);
    let (done, waiting) = std::sync::mpsc::channel();
    let forged = token(&signer("x"), "unknown", "2", "user");
    let unknown_kid_handshake = || {
        let (hub, forged, done) = (hub.clone(), forged.clone(), done.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let _ = done.send((try_token(&hub, &forged), started.elapsed()));
        });
    };
    unknown_kid_handshake();
    server.await_request(Duration::from_secs(5));
    // A second unknown kid during that fetch waits for it and does not fetch again.
    unknown_kid_handshake();
    // While that fetch hangs, a token with a known kid is verified at once.
    let started = Instant::now();
    assert_eq!(
        try_token(&hub, &token(&good, &good.kid, "3", "user")),
        Ok(())
    );
    assert!(started.elapsed() < timeout / 2, "{:?}", started.elapsed());
    sentinel(&hub, &mut admin, 1);
    assert!(
        waiting.try_recv().is_err(),
        "the unknown kid waits for its fetch"
    );
    for _ in 0..2 {
        let (outcome, waited) = waiting
            .recv_timeout(timeout + Duration::from_secs(3))
            .expect("the fetch timeout bounds the wait");
        assert_eq!(outcome, Err("unknown_kid".into()));
        assert!(
            waited < timeout * 2,
            "one fetch's timeout at most: {waited:?}"
        );
    }
    assert_eq!(
        server.requests(),
        2,
        "start, then one fetch for both unknown kids"
    );
    assert_eq!(hub.metrics().jwks.unwrap().fetch_failures, 1);
}

#[test]
fn scheduled_refresh_installs_a_rotated_key_without_an_unknown_kid() {
    let (old, new) = (signer("old"), signer("new"));
    let server = JwksServer::start(document(&[&old]));
    let hub = Hub::builder()
        .jwt(JwtSettings {
            jwks_url: Some(JwksUrl {
                refresh_interval: Duration::from_millis(200),
                // Unknown kids never fetch here: only the schedule can bring `new`.
                min_refresh_interval: Duration::from_secs(3600),
                ..JwksUrl::new(server.url())
            }),
            ..JwtSettings::default()
        })
        .build()
        .unwrap();
    server.await_request(Duration::from_secs(5));
    server.set(document(&[&old, &new]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while hub.metrics().jwks.unwrap().keys < 2 {
        assert!(
            Instant::now() < deadline,
            "no scheduled refresh installed the new key"
        );
        server.await_request(Duration::from_secs(5));
    }
    assert_eq!(try_token(&hub, &token(&new, &new.kid, "2", "user")), Ok(()));
}

#[test]
fn schema_jwks_url_is_fetched_by_the_hub() {
    let good = signer("good");
    let server = JwksServer::start(document(&[&good]));
    let config = HubConfig::from_json(&json!({"jwt": {
        "jwks": server.url(), "jwksRefreshSecs": 60, "jwksMinRefreshSecs": 0, "jwksTimeoutMs": 2000
    }}))
    .unwrap();
    let shown = serde_json::to_value(&config).unwrap();
    assert_eq!(shown["jwt"]["jwks"], json!(server.url()));
    assert_eq!(shown["jwt"]["jwksRefreshSecs"], json!(60));
    // The URL is not fetched while the configuration is only read.
    assert_eq!(server.requests(), 0);
    let hub = config.into_builder().build().unwrap();
    assert_eq!(server.requests(), 1);
    assert_eq!(
        try_token(&hub, &token(&good, &good.kid, "2", "user")),
        Ok(())
    );
    // Credentials in a JWKS URL never reach a log through Debug.
    let secret_url = server.url().replace("http://", "http://idp:hunter2@");
    let with_password = HubConfig::from_json(&json!({"jwt": {"jwks": secret_url}})).unwrap();
    assert!(!format!("{with_password:?}").contains("hunter2"));
    for (bad, key) in [
        (
            json!({"jwt": {"jwks": server.url(), "jwksRefreshSecs": 0}}),
            "jwt.jwksRefreshSecs",
        ),
        (
            json!({"jwt": {"jwks": server.url(), "jwksTimeoutMs": 0}}),
            "jwt.jwksTimeoutMs",
        ),
        (
            json!({"jwt": {"jwksRefreshSecs": "soon"}}),
            "jwt.jwksRefreshSecs",
        ),
    ] {
        let error = HubConfig::from_json(&bad).expect_err(&bad.to_string());
        assert_eq!(error.key(), key, "{error}");
    }
}

#[test]
fn https_jwks_is_verified_against_the_public_roots_or_the_configured_ca() {
    let good = signer("good");
    let server = JwksServer::start_tls(document(&[&good]));
    assert!(server.url().starts_with("https://"));
    let hub = hub_fetching(
        server.url(),
        Duration::from_secs(3600),
        Duration::from_secs(5),
    );
    // TLS was spoken to this endpoint, and its chain refused: no request was sent.
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 0);
    let jwks = hub.metrics().jwks.unwrap();
    assert_eq!((jwks.fetches, jwks.fetch_failures, jwks.keys), (0, 1, 0));
    assert_eq!(
        try_token(&hub, &token(&good, &good.kid, "2", "user")),
        Err("unknown_kid".into())
    );
    // A PEM that holds no certificate trusts nothing (never the public roots instead).
    let with_ca = |ca_pem: String| {
        Hub::builder()
            .jwt(JwtSettings {
                jwks_url: Some(JwksUrl {
                    ca_pem: Some(ca_pem),
                    ..JwksUrl::new(server.url())
                }),
                ..JwtSettings::default()
            })
            .build()
            .unwrap()
    };
    let nothing = with_ca("not a certificate".into());
    assert_eq!(nothing.metrics().jwks.unwrap().fetch_failures, 1);
    assert_eq!(server.requests(), 0);
    // The identity provider's private CA, configured, is trusted.
    let hub = with_ca(server.ca_pem());
    assert_eq!(server.requests(), 1);
    assert_eq!(
        try_token(&hub, &token(&good, &good.kid, "2", "user")),
        Ok(())
    );
    // The schema reads the CA from a file and refuses one without certificates.
    let dir = TempDir::new("jwks-ca");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, server.ca_pem()).unwrap();
    let config =
        HubConfig::from_json(&json!({"jwt": {"jwks": server.url(), "jwksCaFile": ca_file}}))
            .unwrap();
    let hub = config.into_builder().build().unwrap();
    assert_eq!(
        try_token(&hub, &token(&good, &good.kid, "3", "user")),
        Ok(())
    );
    std::fs::write(&ca_file, "no certificate here").unwrap();
    let error =
        HubConfig::from_json(&json!({"jwt": {"jwks": server.url(), "jwksCaFile": ca_file}}))
            .unwrap_err();
    assert_eq!(error.key(), "jwt.jwksCaFile", "{error}");
}
