//! Authentication over the in-process transport: role and user id come only from a
//! verified credential (JWT, session table, host authenticator), every refusal is an
//! `auth:error {code, message}` and counted, and repeated failures close the connection.

use crate::support::jwt::{future_exp, sign, unsigned_token};
use crate::support::*;
use jsonwebtoken::Algorithm;
use microcoaster_realtime::{
    AuthDecision, AuthError, AuthRequest, CloseReason, HandshakeContext, Hub, Identity,
    InboundError, Received, Reply, Role, SessionId, UserId,
};
use serde_json::json;

/// Sends every kind of admin event the hub has while `admin` (a real admin on `admin`)
/// proves they were delivered.
fn emit_every_admin_event(hub: &Hub, admin: &mut microcoaster_realtime::InProcessConnection) {
    hub.emit_user_registered(&json!({"id": 900, "name": "New"}))
        .unwrap();
    hub.emit_admin_action(1, "user_promoted", &json!({"userId": 900}))
        .unwrap();
    hub.emit_stats_update_with(&json!({"users": 3})).unwrap();
    hub.emit_module_added(&json!({"id": "MC-900", "userId": 900}))
        .unwrap();
    hub.emit_to_admins("ops:notice", &json!({"text": "hi"}))
        .unwrap();
    assert_eq!(
        names(admin),
        [
            "admin:user:registered",
            "admin:action",
            "admin:stats:updated",
            "admin:module:added",
            "ops:notice"
        ]
    );
}

#[test]
fn user_token_claiming_admin_is_refused_and_gets_no_admin_event() {
    let hub = builder().build().unwrap();
    let mut admin = connect_as(&hub, "1", "admin", "admin");
    let mut mallory = hub.connect_in_process();
    let user_token = token("7", "user", None);

    let refused =
        mallory.authenticate(json!({"token": user_token, "userType": "admin", "page": "admin"}));
    assert_eq!(
        refused,
        Err(InboundError::Auth(AuthError::ClaimsMismatch {
            field: "userType"
        }))
    );
    expect_auth_error(&mut mallory, "claims_mismatch");

    // The same token without the false claim is accepted, as what it really is.
    mallory
        .authenticate(json!({"token": user_token, "page": "admin"}))
        .unwrap();
    let ok = next_frame(&mut mallory);
    assert_eq!(ok.name(), "auth:ok");
    assert_eq!(ok.payload()["role"], "user");
    assert_eq!(ok.payload()["userId"], "7");
    assert_eq!(next_frame(&mut mallory).name(), "page:snapshot");

    emit_every_admin_event(&hub, &mut admin);
    expect_sentinel(&hub, &mut mallory, "7");
}

#[test]
fn session_payload_with_wrong_user_type_is_refused() {
    let hub = Hub::builder().build().unwrap();
    let mut admin = connect_with_session(
        &hub,
        json!({"id": 1, "role": "admin"}),
        "sess-admin",
        "admin",
    );
    hub.emit_user_logged_in(&json!({"id": 123, "userType": "user"}), "sess-123")
        .unwrap();
    assert_eq!(names(&mut admin), ["admin:user:logged_in"]);
    let mut tab = hub.connect_in_process();

    let claims_admin =
        json!({"userId": 123, "userType": "admin", "page": "admin", "sessionId": "sess-123"});
    assert_eq!(
        tab.authenticate(claims_admin),
        Err(InboundError::Auth(AuthError::ClaimsMismatch {
            field: "userType"
        }))
    );
    expect_auth_error(&mut tab, "claims_mismatch");
    let claims_other_user = json!({"userId": 124, "page": "modules", "sessionId": "sess-123"});
    assert_eq!(
        tab.authenticate(claims_other_user),
        Err(InboundError::Auth(AuthError::ClaimsMismatch {
            field: "userId"
        }))
    );
    expect_auth_error(&mut tab, "claims_mismatch");
    expect_not_authenticated_sentinel(&mut tab);

    // The seed's honest payload authenticates as the role the host gave.
    tab.authenticate(
        json!({"userId": 123, "userType": "user", "page": "admin", "sessionId": "sess-123"}),
    )
    .unwrap();
    let ok = next_frame(&mut tab);
    assert_eq!(ok.name(), "auth:ok");
    assert_eq!(ok.payload()["role"], "user");
    assert_eq!(ok.payload()["sessionId"], "sess-123");
    assert_eq!(next_frame(&mut tab).name(), "page:snapshot");

    emit_every_admin_event(&hub, &mut admin);
    expect_sentinel(&hub, &mut tab, "123");
}

/// Logs `user` in with `session` and opens a connection authenticated by it on `page`.
fn connect_with_session(
    hub: &Hub,
    user: serde_json::Value,
    session: &str,
    page: &str,
) -> microcoaster_realtime::InProcessConnection {
    hub.emit_user_logged_in(&user, session).unwrap();
    let mut connection = hub.connect_in_process();
    connection
        .authenticate(json!({"sessionId": session, "page": page}))
        .unwrap();
    assert_eq!(names(&mut connection), ["auth:ok", "page:snapshot"]);
    connection
}

#[test]
fn payload_without_token_or_session_is_refused_as_missing_credentials() {
    let hub = builder().max_auth_failures(100).build().unwrap();
    let mut tab = hub.connect_in_process();
    for payload in [
        json!({"page": "modules"}),
        json!({"userId": 1, "userType": "admin"}),
        json!({}),
        serde_json::Value::Null,
    ] {
        assert_eq!(
            tab.authenticate(payload),
            Err(InboundError::Auth(AuthError::MissingCredentials))
        );
        expect_auth_error(&mut tab, "missing_credentials");
    }
    expect_not_authenticated_sentinel(&mut tab);
}

#[test]
fn malformed_expired_wrongly_signed_and_unsigned_tokens_are_refused() {
    let hub = builder().max_auth_failures(100).build().unwrap();
    let mut tab = hub.connect_in_process();
    let exp = future_exp();
    let cases = [
        ("not-a-jwt".to_owned(), "invalid_token"),
        ("a.b.c".to_owned(), "invalid_token"),
        (
            sign(
                &json!({"sub": "7", "role": "admin", "exp": 1_000_000_000}),
                JWT_SECRET,
                Algorithm::HS256,
            ),
            "expired_token",
        ),
        (
            sign(
                &json!({"sub": "7", "role": "admin", "exp": exp}),
                b"someone-else",
                Algorithm::HS256,
            ),
            "bad_signature",
        ),
        (
            unsigned_token(&json!({"sub": "7", "role": "admin", "exp": exp})),
            "invalid_token",
        ),
        (
            sign(
                &json!({"sub": "7", "role": "admin", "exp": exp}),
                JWT_SECRET,
                Algorithm::HS512,
            ),
            "algorithm_not_allowed",
        ),
        (
            sign(
                &json!({"sub": "7", "role": "admin"}),
                JWT_SECRET,
                Algorithm::HS256,
            ),
            "invalid_token",
        ),
        (
            sign(
                &json!({"sub": "7", "role": "root", "exp": exp}),
                JWT_SECRET,
                Algorithm::HS256,
            ),
            "invalid_token",
        ),
    ];
    for (bad, code) in &cases {
        let error = tab
            .authenticate(json!({"token": bad, "page": "admin"}))
            .expect_err(bad);
        assert_eq!(error.ack_body()["code"], *code, "token {bad}");
        expect_auth_error(&mut tab, code);
    }
    expect_not_authenticated_sentinel(&mut tab);
    assert_eq!(hub.metrics().connections.admins, 0);

    // The connection can still authenticate with a good token.
    tab.authenticate(json!({"token": token("7", "admin", None), "page": "admin"}))
        .unwrap();
    assert_eq!(names(&mut tab), ["auth:ok", "page:snapshot"]);
}

#[test]
fn token_without_jwt_secret_configured_is_refused_as_not_configured() {
    let hub = Hub::builder().build().unwrap();
    let mut tab = hub.connect_in_process();
    assert_eq!(
        tab.authenticate(json!({"token": token("7", "admin", None)})),
        Err(InboundError::Auth(AuthError::JwtNotConfigured))
    );
    expect_auth_error(&mut tab, "jwt_not_configured");
    expect_not_authenticated_sentinel(&mut tab);
}

#[test]
fn unknown_or_logged_out_session_is_refused() {
    let hub = Hub::builder().max_auth_failures(100).build().unwrap();
    let mut tab = hub.connect_in_process();
    assert_eq!(
        tab.authenticate(json!({"userId": 1, "sessionId": "never-logged-in"})),
        Err(InboundError::Auth(AuthError::UnknownSession))
    );
    expect_auth_error(&mut tab, "unknown_session");

    hub.emit_user_logged_in(&json!({"id": 1}), "sess-1")
        .unwrap();
    hub.emit_user_logged_out(&json!({"id": 1}), "sess-1")
        .unwrap();
    assert_eq!(
        tab.authenticate(json!({"userId": 1, "sessionId": "sess-1"})),
        Err(InboundError::Auth(AuthError::UnknownSession))
    );
    expect_auth_error(&mut tab, "unknown_session");
    expect_not_authenticated_sentinel(&mut tab);
}

#[test]
fn reauthenticating_as_another_user_is_refused_but_as_the_same_user_works() {
    let hub = Hub::builder().build().unwrap();
    hub.emit_user_logged_in(&json!({"id": 1}), "sess-1a")
        .unwrap();
    hub.emit_user_logged_in(&json!({"id": 1}), "sess-1b")
        .unwrap();
    hub.emit_user_logged_in(&json!({"id": 2}), "sess-2")
        .unwrap();
    let mut tab = hub.connect_in_process();
    tab.authenticate(json!({"sessionId": "sess-1a"})).unwrap();
    assert_eq!(names(&mut tab), ["auth:ok", "page:snapshot"]);

    assert_eq!(
        tab.authenticate(json!({"sessionId": "sess-2"})),
        Err(InboundError::Auth(AuthError::IdentityChange))
    );
    expect_auth_error(&mut tab, "identity_change");
    // Still user 1, and only user 1: user 2's event does not arrive.
    hub.emit_to_user(2, "note:private", &json!({})).unwrap();
    expect_sentinel(&hub, &mut tab, "1");

    // Same user, another session and page: accepted, with the new session.
    let reply = tab
        .authenticate(json!({"sessionId": "sess-1b", "page": "dashboard"}))
        .unwrap();
    assert_eq!(
        reply.ack,
        Some(json!({"userId": "1", "role": "user", "sessionId": "sess-1b", "page": "dashboard"}))
    );
    assert_eq!(names(&mut tab), ["auth:ok", "page:snapshot"]);
    // The connection now belongs to sess-1b: logging sess-1a out leaves it open.
    hub.emit_user_logged_out(&json!({"id": 1}), "sess-1a")
        .unwrap();
    expect_sentinel(&hub, &mut tab, "1");
}

#[test]
fn connection_is_closed_after_max_auth_failures() {
    let hub = Hub::builder().max_auth_failures(3).build().unwrap();
    let mut tab = hub.connect_in_process();
    for _ in 0..2 {
        tab.authenticate(json!({"sessionId": "nope"})).unwrap_err();
    }
    // Two failures: refused twice, still open (the next things are frames, not a close).
    expect_auth_error(&mut tab, "unknown_session");
    expect_auth_error(&mut tab, "unknown_session");
    tab.authenticate(json!({"sessionId": "nope"})).unwrap_err();
    expect_auth_error(&mut tab, "unknown_session");
    assert!(
        matches!(
            tab.try_recv(),
            Some(Received::Closed(CloseReason::TooManyAuthFailures))
        ),
        "the third failure closes the connection"
    );

    // Closed for good: even a valid credential is not accepted any more.
    hub.emit_user_logged_in(&json!({"id": 1}), "sess-1")
        .unwrap();
    let id = tab.id();
    assert_eq!(
        tab.authenticate(json!({"sessionId": "sess-1"})),
        Err(InboundError::Closed(id))
    );
    assert!(tab.try_recv().is_none());
}

#[test]
fn successful_authentication_resets_the_failure_count() {
    let hub = Hub::builder().max_auth_failures(3).build().unwrap();
    hub.emit_user_logged_in(&json!({"id": 1}), "sess-1")
        .unwrap();
    let mut tab = hub.connect_in_process();
    for _ in 0..2 {
        tab.authenticate(json!({"sessionId": "nope"})).unwrap_err();
    }
    tab.authenticate(json!({"sessionId": "sess-1"})).unwrap();
    for _ in 0..2 {
        tab.authenticate(json!({"sessionId": "nope"})).unwrap_err();
    }
    assert_eq!(
        names(&mut tab),
        [
            "auth:error",
            "auth:error",
            "auth:ok",
            "page:snapshot",
            "auth:error",
            "auth:error"
        ]
    );
    // Four failures in all, but never three in a row: still open and authenticated.
    expect_sentinel(&hub, &mut tab, "1");
}

#[test]
fn host_authenticator_reads_the_session_cookie() {
    let hub = Hub::builder()
        .max_auth_failures(100)
        .authenticator(|_request: &AuthRequest, context: &HandshakeContext| {
            match context.cookie("sid") {
                Some("good-cookie") => AuthDecision::Accept(Identity::user(
                    UserId::new("42").unwrap(),
                    Role::User,
                    Some(SessionId::new("good-cookie").unwrap()),
                )),
                Some(_) => AuthDecision::Refuse(AuthError::Refused {
                    code: "bad_cookie".into(),
                    message: "that session cookie is not valid".into(),
                }),
                None => AuthDecision::Pass,
            }
        })
        .build()
        .unwrap();
    let with_cookie = |cookie: &str| {
        hub.connect_in_process_with(HandshakeContext {
            headers: vec![("cookie".into(), cookie.into())],
            ..Default::default()
        })
    };

    let mut good = with_cookie("theme=dark; sid=good-cookie");
    let reply = good
        .authenticate(json!({"userId": 42, "page": "modules", "sessionId": "whatever"}))
        .unwrap();
    assert_eq!(reply.ack.as_ref().unwrap()["userId"], "42");
    assert_eq!(reply.ack.as_ref().unwrap()["sessionId"], "good-cookie");
    assert_eq!(names(&mut good), ["auth:ok", "page:snapshot"]);
    expect_sentinel(&hub, &mut good, "42");

    // The host's identity is still checked against the client's claims.
    let mut claims_admin = with_cookie("sid=good-cookie");
    assert_eq!(
        claims_admin.authenticate(json!({"userType": "admin"})),
        Err(InboundError::Auth(AuthError::ClaimsMismatch {
            field: "userType"
        }))
    );
    expect_auth_error(&mut claims_admin, "claims_mismatch");

    let mut bad = with_cookie("sid=forged");
    let error = bad.authenticate(json!({"page": "modules"})).unwrap_err();
    assert_eq!(
        error.ack_body(),
        json!({"code": "bad_cookie", "message": "that session cookie is not valid"})
    );
    let body = expect_auth_error(&mut bad, "bad_cookie");
    assert_eq!(body["message"], "that session cookie is not valid");
    expect_not_authenticated_sentinel(&mut bad);

    // Without the cookie the host passes and the built-in chain decides.
    let mut none = hub.connect_in_process();
    assert_eq!(
        none.authenticate(json!({"page": "modules"})),
        Err(InboundError::Auth(AuthError::MissingCredentials))
    );
    expect_auth_error(&mut none, "missing_credentials");
}

#[test]
fn authenticate_ack_is_the_auth_ok_body_and_refusals_ack_code_and_message() {
    let hub = builder().build().unwrap();
    hub.emit_user_logged_in(&json!({"id": 5, "role": "admin"}), "sess-5")
        .unwrap();
    let mut tab = hub.connect_in_process();

    let error = tab
        .authenticate(json!({"sessionId": "sess-6"}))
        .unwrap_err();
    let frame = expect_auth_error(&mut tab, "unknown_session");
    assert_eq!(
        error.ack_body(),
        json!({"code": "unknown_session", "message": frame["message"]})
    );

    let reply = tab
        .authenticate(json!({"userId": "5", "sessionId": "sess-5", "page": "admin"}))
        .unwrap();
    let expected = json!({"userId": "5", "role": "admin", "sessionId": "sess-5", "page": "admin"});
    assert_eq!(
        reply,
        Reply {
            ack: Some(expected.clone()),
            ..Reply::default()
        }
    );
    let ok = next_frame(&mut tab);
    assert_eq!(ok.name(), "auth:ok");
    let mut body = ok.payload().clone();
    assert!(body["timestamp"].is_u64());
    body.as_object_mut().unwrap().remove("timestamp");
    assert_eq!(body, expected);

    let token_reply = hub
        .connect_in_process()
        .authenticate(json!({"token": token("8", "user", None)}))
        .unwrap();
    assert_eq!(
        token_reply.ack,
        Some(json!({"userId": "8", "role": "user", "sessionId": null, "page": "modules"}))
    );
}

#[test]
fn auth_successes_and_failures_are_counted() {
    let hub = builder().max_auth_failures(100).build().unwrap();
    let before = hub.metrics();
    let tab = hub.connect_in_process();
    tab.authenticate(json!({"token": "garbage"})).unwrap_err();
    tab.authenticate(json!({"sessionId": "nope"})).unwrap_err();
    tab.authenticate(json!({})).unwrap_err();
    tab.send("test:early", json!({})).unwrap_err();
    let after_failures = hub.metrics();
    assert_eq!(after_failures.auth_failures - before.auth_failures, 4);
    assert_eq!(after_failures.auth_successes, before.auth_successes);

    tab.authenticate(json!({"token": token("1", "user", None)}))
        .unwrap();
    hub.connect_in_process()
        .authenticate(json!({"token": token("2", "admin", None), "page": "admin"}))
        .unwrap();
    let after = hub.metrics();
    assert_eq!(after.auth_successes - before.auth_successes, 2);
    assert_eq!(after.auth_failures, after_failures.auth_failures);
}
