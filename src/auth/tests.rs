//! Unit tests of the authenticators and the request parser.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{
    AuthError, AuthRequest, HandshakeContext, Identity, JwtAuthenticator, Role, SessionTable,
};
use crate::ids::{SessionId, UserId};

fn token(claims: Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn future() -> u64 {
    crate::event::now_ms() / 1000 + 3600
}

#[test]
fn valid_token_gives_its_identity() {
    let jwt = JwtAuthenticator::new(b"secret");
    let id = jwt
        .verify(&token(
            json!({"sub": 7, "role": "admin", "sid": "s1", "exp": future()}),
            b"secret",
        ))
        .unwrap();
    assert_eq!(id.user_id.as_str(), "7");
    assert_eq!(id.role, Role::Admin);
    assert_eq!(id.session_id.unwrap().as_str(), "s1");
}

#[test]
fn wrong_signature_expired_and_alg_none_are_refused() {
    let jwt = JwtAuthenticator::new(b"secret");
    let wrong = token(json!({"sub": "1", "exp": future()}), b"other");
    assert_eq!(jwt.verify(&wrong), Err(AuthError::BadSignature));
    let expired = token(json!({"sub": "1", "exp": 1_000_000_000}), b"secret");
    assert_eq!(jwt.verify(&expired), Err(AuthError::ExpiredToken));
    // {"alg":"none","typ":"JWT"}.{"sub":"1","role":"admin","exp":9999999999}.
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwicm9sZSI6ImFkbWluIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
    assert!(matches!(jwt.verify(none), Err(AuthError::InvalidToken(_))));
    let no_exp = token(json!({"sub": "1"}), b"secret");
    assert!(matches!(
        jwt.verify(&no_exp),
        Err(AuthError::InvalidToken(_))
    ));
}

#[test]
fn claims_are_checked_never_trusted() {
    let identity = Identity::user(UserId::new("1").unwrap(), Role::User, None);
    let request = AuthRequest::parse(&json!({"userId": 1, "userType": "admin"})).unwrap();
    assert_eq!(
        request.check_claims(&identity),
        Err(AuthError::ClaimsMismatch { field: "userType" })
    );
    let request = AuthRequest::parse(&json!({"userId": "2"})).unwrap();
    assert_eq!(
        request.check_claims(&identity),
        Err(AuthError::ClaimsMismatch { field: "userId" })
    );
}

#[test]
fn non_object_payloads_are_invalid() {
    for bad in [json!(1), json!("x"), json!([1]), json!({"token": 5})] {
        assert!(matches!(
            AuthRequest::parse(&bad),
            Err(AuthError::InvalidPayload(_))
        ));
    }
}

#[test]
fn logged_out_session_is_revoked_until_next_login() {
    let table = SessionTable::default();
    let sid = SessionId::new("abc").unwrap();
    let user = UserId::new("1").unwrap();
    assert!(table.log_in(sid.clone(), user.clone(), Role::User));
    assert!(!table.log_in(sid.clone(), user.clone(), Role::User));
    let other = UserId::new("2").unwrap();
    assert_eq!(table.log_out(&sid, &other), Err(user.clone()));
    assert!(
        table.lookup("abc").is_some(),
        "another user's logout leaves it live"
    );
    assert_eq!(table.log_out(&sid, &user), Ok(true));
    assert!(table.is_revoked(&sid));
    assert!(table.lookup("abc").is_none());
    table.log_in(sid.clone(), user, Role::User);
    assert!(!table.is_revoked(&sid));
}

#[test]
fn cookies_and_headers_are_found() {
    let context = HandshakeContext {
        headers: vec![("Cookie".into(), "a=1; connect.sid=xyz".into())],
        ..Default::default()
    };
    assert_eq!(context.cookie("connect.sid"), Some("xyz"));
    assert_eq!(context.header("cookie"), Some("a=1; connect.sid=xyz"));
}
