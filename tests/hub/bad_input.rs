//! Bad input from clients and from the host: every case gets a typed error (never a
//! panic), is counted in `hub.metrics()`, and leaves every other connection served.

use crate::support::*;
use microcoaster_realtime::{
    AuthError, BadInputKind, EmitOutcome, Hub, HubError, IdError, InProcessConnection,
    InboundError, input::InputError, protocol::native::FrameError,
};
use serde_json::{Value, json};

/// A hub, one authenticated bystander (user `w`), and its connection.
fn hub_with_bystander(hub: Hub) -> (Hub, InProcessConnection) {
    let bystander = connect_as(&hub, "w", "user", "modules");
    (hub, bystander)
}

/// The bystander still receives what is sent to it after the bad input.
fn bystander_still_served(hub: &Hub, bystander: &mut InProcessConnection) {
    expect_sentinel(hub, bystander, "w");
}

#[test]
fn unknown_event_before_authenticate_is_refused() {
    let (hub, mut bystander) = hub_with_bystander(
        builder()
            .on_client_event(|event: &microcoaster_realtime::ClientEvent| {
                panic!("nothing may be forwarded before authenticate: {event:?}")
            })
            .build()
            .unwrap(),
    );
    let mut stranger = hub.connect_in_process();

    assert_eq!(
        stranger.send("coaster:start", json!({"speed": 9})),
        Err(InboundError::Auth(AuthError::NotAuthenticated))
    );
    expect_auth_error(&mut stranger, "not_authenticated");
    assert_eq!(
        stranger.send("client:page", json!({"page": "admin"})),
        Err(InboundError::Auth(AuthError::NotAuthenticated))
    );
    expect_auth_error(&mut stranger, "not_authenticated");

    let metrics = hub.metrics();
    assert_eq!(metrics.bad_inputs(BadInputKind::NotAuthenticated), 2);
    assert_eq!(metrics.client_events_forwarded, 0);
    assert_eq!(metrics.hook_panics, 0);
    bystander_still_served(&hub, &mut bystander);
}

/// Sends `bytes` as a raw frame from an authenticated connection and checks the typed
/// error, the counter, that the sender got no reply, and that the bystander is served.
fn raw_frame_is_refused(
    hub: &Hub,
    bytes: &[u8],
    kind: BadInputKind,
    check: impl FnOnce(&FrameError),
) {
    let mut bystander = connect_as(hub, "w", "user", "modules");
    let mut sender = connect_as(hub, "s", "user", "modules");
    let before = hub.metrics().bad_inputs(kind);
    let error = sender.send_raw(bytes).expect_err("bad frame is refused");
    let InboundError::Frame(frame_error) = &error else {
        panic!("expected a frame error, got {error:?}");
    };
    check(frame_error);
    assert_eq!(error.ack_body()["code"], frame_error.kind());
    assert_eq!(
        hub.metrics().bad_inputs(kind),
        before + 1,
        "{kind:?} counted"
    );
    expect_sentinel(hub, &mut sender, "s");
    bystander_still_served(hub, &mut bystander);
}

#[test]
fn invalid_json_frame_is_refused_and_counted() {
    let hub = builder().build().unwrap();
    for bytes in [&b"{"[..], b"{\"event\": \"a\",}", b"", b"not json"] {
        raw_frame_is_refused(&hub, bytes, BadInputKind::InvalidJson, |error| {
            assert!(matches!(error, FrameError::InvalidJson(_)));
        });
    }
}

#[test]
fn non_object_frame_is_refused_as_wrong_shape() {
    let hub = builder().build().unwrap();
    for bytes in [
        &b"[\"client:authenticate\", {}]"[..],
        b"42",
        b"\"x\"",
        b"null",
    ] {
        raw_frame_is_refused(&hub, bytes, BadInputKind::WrongShape, |error| {
            assert!(matches!(error, FrameError::WrongShape(_)));
        });
    }
}

#[test]
fn frame_without_a_string_event_is_refused_as_wrong_shape() {
    let hub = builder().build().unwrap();
    for bytes in [
        &br#"{"data": {"x": 1}}"#[..],
        br#"{"event": 5, "data": {}}"#,
        br#"{"event": "", "data": {}}"#,
        br#"{"event": null}"#,
        br#"{"event": "a", "data": {}, "extra": 1}"#,
    ] {
        raw_frame_is_refused(&hub, bytes, BadInputKind::WrongShape, |error| {
            assert!(matches!(error, FrameError::WrongShape(_)));
        });
    }
}

#[test]
fn invalid_utf8_frame_is_refused_and_counted() {
    let hub = builder().build().unwrap();
    raw_frame_is_refused(
        &hub,
        b"\xff\xfe{\"event\":\"a\"}",
        BadInputKind::InvalidUtf8,
        |error| assert_eq!(error, &FrameError::InvalidUtf8(0)),
    );
    raw_frame_is_refused(
        &hub,
        b"{\"event\":\"a\xc3\"}",
        BadInputKind::InvalidUtf8,
        |error| assert_eq!(error, &FrameError::InvalidUtf8(11)),
    );
}

#[test]
fn oversized_frame_is_refused_and_a_frame_at_the_limit_is_accepted() {
    let hub = builder()
        .max_message_bytes(64)
        .on_client_event(|_: &microcoaster_realtime::ClientEvent| {})
        .build()
        .unwrap();
    let frame_of = |len: usize| {
        let head = br#"{"event":"note","data":""#;
        let tail = br#""}"#;
        let mut bytes = head.to_vec();
        bytes.resize(len - tail.len(), b'x');
        bytes.extend_from_slice(tail);
        assert_eq!(bytes.len(), len);
        bytes
    };
    raw_frame_is_refused(&hub, &frame_of(65), BadInputKind::TooLarge, |error| {
        assert_eq!(error, &FrameError::TooLarge { len: 65, max: 64 });
    });
    raw_frame_is_refused(
        &hub,
        &vec![b' '; 100_000],
        BadInputKind::TooLarge,
        |error| {
            assert!(matches!(error, FrameError::TooLarge { len: 100_000, .. }));
        },
    );

    let sender = connect_as(&hub, "s", "user", "modules");
    assert_eq!(sender.send_raw(&frame_of(64)), Ok(Default::default()));
    assert_eq!(hub.metrics().client_events_forwarded, 1);
}

#[test]
fn non_object_authenticate_payload_is_refused_as_invalid_payload() {
    let (hub, mut bystander) =
        hub_with_bystander(builder().max_auth_failures(100).build().unwrap());
    let mut stranger = hub.connect_in_process();
    for (count, payload) in [
        json!("token"),
        json!(5),
        json!([{"sessionId": "x"}]),
        json!(true),
    ]
    .into_iter()
    .enumerate()
    {
        let error = stranger.authenticate(payload).unwrap_err();
        assert!(
            matches!(error, InboundError::Auth(AuthError::InvalidPayload(_))),
            "{error:?}"
        );
        expect_auth_error(&mut stranger, "invalid_payload");
        assert_eq!(
            hub.metrics().bad_inputs(BadInputKind::WrongShape),
            count as u64 + 1
        );
        bystander_still_served(&hub, &mut bystander);
    }
    // The same thing as a raw frame.
    let error = stranger
        .send_raw(br#"{"event":"client:authenticate","data":[1]}"#)
        .unwrap_err();
    assert!(matches!(
        error,
        InboundError::Auth(AuthError::InvalidPayload(_))
    ));
    expect_auth_error(&mut stranger, "invalid_payload");
    expect_not_authenticated_sentinel(&mut stranger);
}

#[test]
fn wrongly_typed_fields_are_refused_with_typed_errors() {
    let (hub, mut bystander) =
        hub_with_bystander(builder().max_auth_failures(100).build().unwrap());
    let mut stranger = hub.connect_in_process();
    for payload in [
        json!({"sessionId": 5}),
        json!({"token": true}),
        json!({"token": {"sub": "1"}}),
        json!({"userId": [1], "sessionId": "s"}),
        json!({"userId": 1.5, "sessionId": "s"}),
        json!({"userId": "", "sessionId": "s"}),
        json!({"userType": 1, "sessionId": "s"}),
        json!({"page": 3, "sessionId": "s"}),
    ] {
        let before = hub.metrics().bad_inputs(BadInputKind::WrongShape);
        let error = stranger.authenticate(payload.clone()).unwrap_err();
        assert!(
            matches!(error, InboundError::Auth(AuthError::InvalidPayload(_))),
            "{payload}: {error:?}"
        );
        expect_auth_error(&mut stranger, "invalid_payload");
        assert_eq!(
            hub.metrics().bad_inputs(BadInputKind::WrongShape),
            before + 1,
            "{payload} counted"
        );
        bystander_still_served(&hub, &mut bystander);
    }
    expect_not_authenticated_sentinel(&mut stranger);

    // client:page from an authenticated connection, with a bad page field.
    let mut tab = connect_as(&hub, "t", "user", "modules");
    for payload in [
        json!({"page": 5}),
        json!([]),
        json!(null),
        json!({"page": "nowhere"}),
    ] {
        let before = hub.metrics().bad_inputs(BadInputKind::WrongShape);
        let error = tab.send("client:page", payload.clone()).unwrap_err();
        assert!(
            matches!(error, InboundError::InvalidPage(_)),
            "{payload}: {error:?}"
        );
        assert_eq!(error.ack_body()["code"], "invalid_page");
        assert_eq!(
            hub.metrics().bad_inputs(BadInputKind::WrongShape),
            before + 1
        );
        bystander_still_served(&hub, &mut bystander);
    }
    // Still on `modules`, still served.
    expect_sentinel(&hub, &mut tab, "t");
    tab.send("client:page", json!({"page": "dashboard"}))
        .unwrap();
    let snapshot = next_frame(&mut tab);
    assert_eq!(snapshot.name(), "page:snapshot");
    assert_eq!(snapshot.payload()["page"], "dashboard");
}

// ----- host arguments ---------------------------------------------------------------

/// Runs a host call that must fail with `code`, and checks it is counted as a failed
/// emit and a host-argument bad input.
fn host_call_is_refused(
    hub: &Hub,
    code: &str,
    call: impl FnOnce() -> Result<EmitOutcome, HubError>,
) -> HubError {
    let before = hub.metrics();
    let error = call().expect_err("refused");
    assert_eq!(error.code(), code, "{error}");
    assert!(!error.to_string().is_empty());
    let after = hub.metrics();
    assert_eq!(after.emits_failed, before.emits_failed + 1);
    assert_eq!(
        after.bad_inputs(BadInputKind::HostArgument),
        before.bad_inputs(BadInputKind::HostArgument) + 1
    );
    assert_eq!(after.frames_delivered, before.frames_delivered);
    error
}

fn id_error(error: &HubError) -> &IdError {
    match error {
        HubError::Input(InputError::Id(id)) => id,
        other => panic!("expected an id error, got {other:?}"),
    }
}

#[test]
fn invalid_module_ids_are_refused_with_typed_errors() {
    let (hub, mut bystander) = hub_with_bystander(builder().build().unwrap());
    let long = "M".repeat(129);
    let info = json!({"userId": "w", "name": "Station"});
    for (id, expected) in [
        ("", "Empty"),
        (long.as_str(), "TooLong"),
        ("MC\n1", "ControlCharacter"),
        ("MC\u{7f}1", "ControlCharacter"),
    ] {
        let online = host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_module_online(id, &info)
        });
        let offline = host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_module_offline(id, &info)
        });
        let telemetry = host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_telemetry_update(id, &json!({"speed": 1}))
        });
        let added = host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_module_added(&json!({"id": id, "userId": "w"}))
        });
        for error in [&online, &offline, &telemetry, &added] {
            let found = format!("{:?}", id_error(error));
            assert!(found.starts_with(expected), "{id:?}: {found}");
        }
        bystander_still_served(&hub, &mut bystander);
    }
    // A module id of exactly 128 bytes is fine; nothing was recorded by the refusals.
    let longest = "M".repeat(128);
    assert_eq!(
        hub.emit_module_online(&longest, &info),
        Ok(EmitOutcome::Delivered { connections: 1 })
    );
    assert_eq!(next_frame(&mut bystander).name(), "module:status:changed");
    let mut tab = hub.connect_in_process();
    tab.authenticate(json!({"token": token("w", "user", None)}))
        .unwrap();
    assert_eq!(next_frame(&mut tab).name(), "auth:ok");
    let snapshot = next_frame(&mut tab);
    assert_eq!(snapshot.name(), "page:snapshot");
    assert_eq!(snapshot.payload()["modules"].as_array().unwrap().len(), 1);
    assert_eq!(snapshot.payload()["modules"][0]["moduleId"], json!(longest));
}

#[test]
fn non_object_arguments_are_refused_with_typed_errors() {
    let (hub, mut bystander) = hub_with_bystander(builder().build().unwrap());
    let not_object = |error: &HubError| {
        assert!(
            matches!(error, HubError::Input(InputError::NotAnObject { .. })),
            "{error:?}"
        );
    };
    for bad in [json!([1]), json!("w"), json!(5), json!(true)] {
        not_object(&host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_module_online("MC-1", &bad)
        }));
        not_object(&host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_module_added(&bad)
        }));
        not_object(&host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_module_removed(&bad)
        }));
        not_object(&host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_user_logged_in(&bad, "sess")
        }));
        not_object(&host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_user_registered(&bad)
        }));
        not_object(&host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_user_profile_updated(&json!({"id": "w"}), &bad)
        }));
        not_object(&host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_stats_update_with(&bad)
        }));
        bystander_still_served(&hub, &mut bystander);
    }
    // Wrong field types inside an object.
    let wrong_type = host_call_is_refused(&hub, "invalid_argument", || {
        hub.emit_module_online("MC-1", &json!({"userId": "w", "name": 5}))
    });
    assert!(matches!(
        wrong_type,
        HubError::Input(InputError::WrongType { field: "name", .. })
    ));
    let owner_type = host_call_is_refused(&hub, "invalid_argument", || {
        hub.emit_module_online("MC-1", &json!({"userId": {"id": 1}}))
    });
    assert!(matches!(
        id_error(&owner_type),
        IdError::WrongType {
            found: "object",
            ..
        }
    ));
    bystander_still_served(&hub, &mut bystander);
}

#[test]
fn numeric_and_string_user_ids_reach_the_same_user() {
    let hub = builder().build().unwrap();
    let mut owner = connect_as(&hub, "123", "user", "modules");
    assert_eq!(
        hub.emit_module_online("MC-1", &json!({"userId": 123})),
        Ok(EmitOutcome::Delivered { connections: 1 })
    );
    let status = next_frame(&mut owner);
    assert_eq!(status.payload()["userId"], json!("123"));
    // The same owner named as a string is the same owner (no owner_mismatch).
    assert_eq!(
        hub.emit_module_offline("MC-1", &json!({"userId": "123"})),
        Ok(EmitOutcome::Delivered { connections: 1 })
    );
    assert_eq!(next_frame(&mut owner).payload()["userId"], json!("123"));

    for (n, outcome) in [
        hub.emit_to_user(123, "note:n", &json!({"n": 0})),
        hub.emit_to_user(123_i64, "note:n", &json!({"n": 1})),
        hub.emit_to_user("123", "note:n", &json!({"n": 2})),
        hub.emit_to_user(json!(123), "note:n", &json!({"n": 3})),
        hub.emit_to_user(json!("123"), "note:n", &json!({"n": 4})),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(outcome, Ok(EmitOutcome::Delivered { connections: 1 }));
        let frame = next_frame(&mut owner);
        assert_eq!(frame.payload()["n"], json!(n));
    }
    // Numbers that are not integers are not ids.
    for bad in [json!(1.5), json!(null), json!([123])] {
        let error = host_call_is_refused(&hub, "invalid_argument", || {
            hub.emit_to_user(bad.clone(), "note:n", &json!({}))
        });
        id_error(&error);
    }
    expect_sentinel(&hub, &mut owner, "123");
}

#[test]
fn reserved_and_invalid_event_names_are_refused_for_host_events() {
    let hub = builder().build().unwrap();
    let mut user = connect_as(&hub, "1", "user", "modules");
    let mut admin = connect_as(&hub, "2", "admin", "admin");
    let data = json!({"forged": true});
    for name in [
        "auth:ok",
        "page:snapshot",
        "system:maintenance",
        "admin:action",
        "user:session:ended",
        "module:status:changed",
        "client:authenticate",
        "client:page",
    ] {
        let error =
            host_call_is_refused(&hub, "reserved_event", || hub.emit_to_user(1, name, &data));
        assert_eq!(error, HubError::ReservedEvent(name.to_owned()));
        host_call_is_refused(&hub, "reserved_event", || hub.emit_to_admins(name, &data));
    }
    let long = "e".repeat(129);
    for name in ["", long.as_str(), "note\nnext", "note\u{0}"] {
        let error = host_call_is_refused(&hub, "invalid_event_name", || {
            hub.emit_to_user(1, name, &data)
        });
        assert!(matches!(error, HubError::InvalidEventName(_)));
        host_call_is_refused(&hub, "invalid_event_name", || {
            hub.emit_to_admins(name, &data)
        });
    }
    // Nothing forged arrived: the next frames are the sentinels.
    expect_sentinel(&hub, &mut user, "1");
    expect_sentinel(&hub, &mut admin, "2");
    // Names that merely resemble a prefix are the host's own.
    assert_eq!(
        hub.emit_to_user(1, "users:count", &json!({})),
        Ok(EmitOutcome::Delivered { connections: 1 })
    );
    assert_eq!(next_frame(&mut user).name(), "users:count");
}

#[test]
fn bad_host_arguments_never_change_state() {
    let hub = builder().build().unwrap();
    let mut owner = connect_as(&hub, "1", "user", "modules");
    hub.emit_module_online("MC-1", &json!({"userId": 1}))
        .unwrap();
    assert_eq!(next_frame(&mut owner).name(), "module:status:changed");
    // Another owner is refused, and the module stays online and owned by 1.
    let error = host_call_is_refused(&hub, "owner_mismatch", || {
        hub.emit_module_offline("MC-1", &json!({"userId": 2}))
    });
    assert!(error.to_string().contains("MC-1"), "{error}");
    host_call_is_refused(&hub, "unknown_module", || {
        hub.emit_telemetry_update("MC-unknown", &json!({"speed": 1}))
    });
    host_call_is_refused(&hub, "missing_owner", || {
        hub.emit_module_online("MC-2", &Value::Null)
    });
    assert_eq!(
        hub.emit_module_online("MC-1", &json!({})),
        Ok(EmitOutcome::Unchanged)
    );
    expect_sentinel(&hub, &mut owner, "1");
}
