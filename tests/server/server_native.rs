//! The native JSON protocol on `/ws` over real sockets (DESIGN §8): authentication,
//! snapshot and events as `{"event","data"}` frames, and every close code the crate
//! docs promise (1007, 1003, 4001, 4002, 4003).

use crate::support::*;
use microcoaster_realtime::BadInputKind;
use microcoaster_realtime::EmitOutcome;
use serde_json::json;

#[test]
fn authenticates_then_gets_auth_ok_snapshot_and_events() {
    let hub = builder().build().unwrap();
    hub.emit_module_added(&json!({"id": "m1", "userId": "u1", "name": "Lift", "type": "lift"}))
        .unwrap();
    let server = serve(hub, config());
    run(async {
        let mut client = Native::open(server.addr, "native").await;
        client
            .send(
                "client:authenticate",
                &json!({"token": token("u1", "user", Some("s-1")), "page": "modules"}),
            )
            .await;
        let (name, ok) = client.event().await;
        assert_eq!(name, "auth:ok");
        assert_eq!(ok["userId"], json!("u1"));
        assert_eq!(ok["role"], json!("user"));
        assert_eq!(ok["sessionId"], json!("s-1"));
        assert_eq!(ok["page"], json!("modules"));
        let (name, snapshot) = client.event().await;
        assert_eq!(name, "page:snapshot");
        assert_eq!(snapshot["page"], json!("modules"));
        let modules = snapshot["modules"].as_array().expect("modules");
        assert_eq!(modules.len(), 1, "{snapshot}");
        assert_eq!(modules[0]["moduleId"], json!("m1"));
        assert_eq!(modules[0]["online"], json!(false));

        assert_eq!(
            server
                .hub
                .emit_module_online("m1", &json!({"userId": "u1"})),
            Ok(EmitOutcome::Delivered { connections: 1 })
        );
        let (name, data) = client.event().await;
        assert_eq!(name, "module:status:changed");
        assert_eq!(
            (&data["moduleId"], &data["online"]),
            (&json!("m1"), &json!(true))
        );
        send_sentinel(&server.hub, "u1", 1);
        client.sentinel(1).await;

        // Another user's events never reach it; the sentinel proves it is still served.
        server
            .hub
            .emit_module_added(&json!({"id": "m2", "userId": "u2"}))
            .unwrap();
        send_sentinel(&server.hub, "u1", 2);
        client.sentinel(2).await;
    });
}

#[test]
fn events_before_authentication_get_auth_error() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut client = Native::open(server.addr, "early").await;
        client.send("custom:thing", &json!({"x": 1})).await;
        let (name, error) = client.event().await;
        assert_eq!(
            (name.as_str(), &error["code"]),
            ("auth:error", &json!("not_authenticated"))
        );
        client
            .send("client:authenticate", &json!({"token": "nope"}))
            .await;
        let (name, error) = client.event().await;
        assert_eq!(
            (name.as_str(), &error["code"]),
            ("auth:error", &json!("invalid_token"))
        );
        // Still open: a valid attempt then succeeds.
        client
            .send(
                "client:authenticate",
                &json!({"token": token("u1", "user", None)}),
            )
            .await;
        assert_eq!(client.event().await.0, "auth:ok");
        assert_eq!(client.event().await.0, "page:snapshot");
    });
}

#[test]
fn invalid_json_or_wrong_shape_closes_with_1007() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut other =
            Native::login(server.addr, "other", &token("u9", "user", None), "modules").await;
        let cases = [
            ("{not json", BadInputKind::InvalidJson),
            ("[1,2]", BadInputKind::WrongShape),
            (r#"{"event":""}"#, BadInputKind::WrongShape),
            (r#"{"event":"a","extra":1}"#, BadInputKind::WrongShape),
        ];
        for (n, (frame, kind)) in cases.into_iter().enumerate() {
            let before = server.hub.metrics().bad_inputs(kind);
            let mut client =
                Native::login(server.addr, "bad", &token("u1", "user", None), "modules").await;
            client.ws.send_text(frame).await;
            let (code, reason) = client.ws.closed().await;
            assert_eq!(
                (code, reason.as_str()),
                (1007, "malformed_frame"),
                "{frame}"
            );
            assert_eq!(server.hub.metrics().bad_inputs(kind), before + 1, "{frame}");
            send_sentinel(&server.hub, "u9", n as u64);
            other.sentinel(n as u64).await;
        }
    });
}

#[test]
fn binary_frames_close_with_1003() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut other =
            Native::login(server.addr, "other", &token("u9", "user", None), "modules").await;
        let mut client =
            Native::login(server.addr, "binary", &token("u1", "user", None), "modules").await;
        client.ws.send_binary(vec![0x7b, 0x7d]).await;
        let (code, reason) = client.ws.closed().await;
        assert_eq!((code, reason.as_str()), (1003, "binary_not_supported"));
        assert_eq!(server.hub.metrics().bad_inputs(BadInputKind::Protocol), 1);
        send_sentinel(&server.hub, "u9", 1);
        other.sentinel(1).await;
    });
}

#[test]
fn logout_sends_session_ended_then_closes_with_4002() {
    let hub = builder().build().unwrap();
    hub.emit_user_logged_in(&json!({"id": "u1", "role": "user"}), "s-1")
        .unwrap();
    hub.emit_user_logged_in(&json!({"id": "u1", "role": "user"}), "s-2")
        .unwrap();
    let server = serve(hub, config());
    run(async {
        let mut ending = Native::login(
            server.addr,
            "s-1",
            &token("u1", "user", Some("s-1")),
            "modules",
        )
        .await;
        let mut staying = Native::login(
            server.addr,
            "s-2",
            &token("u1", "user", Some("s-2")),
            "modules",
        )
        .await;
        server
            .hub
            .emit_user_logged_out(&json!({"id": "u1", "role": "user"}), "s-1")
            .unwrap();
        let (name, data) = ending.event().await;
        assert_eq!(
            (name.as_str(), &data["userId"]),
            ("user:session:ended", &json!("u1"))
        );
        let (code, reason) = ending.ws.closed().await;
        assert_eq!((code, reason.as_str()), (4002, "logged_out"));

        // The other session of the same user is untouched.
        send_sentinel(&server.hub, "u1", 1);
        staying.sentinel(1).await;
    });
}

#[test]
fn repeated_auth_failures_close_with_4003() {
    let server = serve(builder().max_auth_failures(2).build().unwrap(), config());
    run(async {
        let mut client = Native::open(server.addr, "guesser").await;
        for _ in 0..2 {
            client
                .send("client:authenticate", &json!({"token": "guess"}))
                .await;
            assert_eq!(client.event().await.0, "auth:error");
        }
        let (code, reason) = client.ws.closed().await;
        assert_eq!((code, reason.as_str()), (4003, "too_many_auth_failures"));
    });
}

/// A client that stops reading fills the kernel's socket buffers, then its bounded
/// queue; the hub closes it as a slow consumer without slowing anyone else, and once
/// it reads again it finds the frames that were written, in order, then the 4001 close.
#[test]
fn a_client_that_stops_reading_is_closed_with_4001() {
    const CAPACITY: usize = 8;
    let server = serve(
        builder().queue_capacity(CAPACITY).build().unwrap(),
        config(),
    );
    run(async {
        let mut slow =
            Native::login(server.addr, "slow", &token("slow", "user", None), "modules").await;
        let mut fast =
            Native::login(server.addr, "fast", &token("fast", "user", None), "modules").await;
        send_sentinel(&server.hub, "fast", 0);
        fast.sentinel(0).await;
        // Paced: the writer takes each frame before the next is emitted, until it
        // stalls on a socket whose peer does not read.
        let mut sent = emit_until_writer_stalls(&server.hub, "slow").await;
        let stalled_after = sent;
        assert!(
            stalled_after >= 16,
            "at least 512 KiB fit in the socket buffers before the stall ({stalled_after} frames)"
        );
        assert_eq!(server.hub.metrics().slow_consumer_closes.total(), 0);
        // Now the queue fills to its bound and overflows.
        while server.hub.metrics().slow_consumer_closes.frames == 0 {
            assert!(sent < stalled_after + 1_000, "no overflow");
            server
                .hub
                .emit_to_user("slow", "bulk:data", &json!({"n": sent}))
                .unwrap();
            sent += 1;
        }
        // The fast client was never slowed down.
        send_sentinel(&server.hub, "fast", 1_000_001);
        fast.sentinel(1_000_001).await;
        assert_eq!(server.hub.metrics().slow_consumer_closes.frames, 1);
        // It reads again: frames in order (never more than were sent), then the close.
        let mut next = 0u64;
        loop {
            match slow.ws.read().await {
                WsRead::Text(text) => {
                    let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(frame["data"]["n"], json!(next), "in order, none skipped");
                    next += 1;
                }
                WsRead::Closed(Some(frame)) => {
                    assert_eq!(
                        (u16::from(frame.code), frame.reason.as_str()),
                        (4001, "slow_consumer")
                    );
                    break;
                }
                other => panic!("slow: unexpected {other:?}"),
            }
        }
        assert!(
            next + 1 >= stalled_after && next + (CAPACITY as u64) < sent,
            "what the socket held arrived, what was queued past it was dropped \
             ({next} read, stalled after {stalled_after}, {sent} sent)"
        );
        send_sentinel(&server.hub, "fast", 1_000_002);
        fast.sentinel(1_000_002).await;
    });
}
