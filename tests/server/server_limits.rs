//! The server's limits over real sockets: message size, authentication deadline,
//! connection cap, malformed frames and the inbound rate limit. Each offender is closed
//! and counted while another connection keeps being served (checked with a sentinel).

use std::time::Duration;

use crate::support::*;
use microcoaster_realtime::BadInputKind;
use microcoaster_realtime::transport::server::{RateLimit, ServerConfig};
use serde_json::json;

fn small_messages() -> ServerConfig {
    ServerConfig {
        max_message_bytes: 1024,
        ..config()
    }
}

#[test]
fn a_native_frame_over_the_limit_closes_with_1009() {
    let server = serve(builder().build().unwrap(), small_messages());
    run(async {
        let mut other =
            Native::login(server.addr, "other", &token("u9", "user", None), "modules").await;
        let mut big =
            Native::login(server.addr, "big", &token("u1", "user", None), "modules").await;
        // Just under the limit is fine.
        let fits =
            json!({"event": "client:page", "data": {"page": "dashboard", "pad": "m".repeat(900)}});
        big.ws.send_text(fits.to_string()).await;
        assert_eq!(
            big.event().await.0,
            "page:snapshot",
            "a frame under the limit is handled"
        );
        let frame = json!({"event": "custom", "data": "x".repeat(2000)}).to_string();
        big.ws.send_text(frame).await;
        let (code, reason) = big.ws.closed().await;
        assert_eq!((code, reason.as_str()), (1009, "message_too_big"));
        assert_eq!(server.hub.metrics().bad_inputs(BadInputKind::TooLarge), 1);
        send_sentinel(&server.hub, "u9", 1);
        other.sentinel(1).await;
    });
}

#[test]
fn a_socketio_message_over_the_limit_closes_the_session() {
    let server = serve(builder().build().unwrap(), small_messages());
    run(async {
        let mut other =
            SioWs::login(server.addr, "other", &token("u9", "user", None), "modules").await;

        let mut ws = SioWs::login(server.addr, "ws", &token("u1", "user", None), "modules").await;
        ws.emit("custom", &json!("x".repeat(2000)), None).await;
        assert_eq!(ws.closed().await, Some(1009));
        assert_eq!(server.hub.metrics().bad_inputs(BadInputKind::TooLarge), 1);
        send_sentinel(&server.hub, "u9", 1);
        other.sentinel(1).await;

        // Over polling the payload fits `maxPayload` but the packet is over the limit.
        let mut polling = SioPolling::login(
            server.addr,
            "polling",
            &token("u2", "user", None),
            "modules",
        )
        .await;
        let packet = format!("42{}", json!(["custom", "x".repeat(2000)]));
        polling.post(&[&packet]).await;
        polling.gone().await;
        assert_eq!(server.hub.metrics().bad_inputs(BadInputKind::TooLarge), 2);
        send_sentinel(&server.hub, "u9", 2);
        other.sentinel(2).await;
    });
}

#[test]
fn unauthenticated_connections_are_closed_at_the_deadline() {
    let cfg = ServerConfig {
        auth_deadline: Duration::from_millis(800),
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    run(async {
        // The authenticated ones open first, so their deadline passes first.
        let mut sio =
            SioWs::login(server.addr, "sio-ok", &token("u1", "user", None), "modules").await;
        let mut native = Native::login(
            server.addr,
            "native-ok",
            &token("u2", "user", None),
            "modules",
        )
        .await;

        let mut idle_sio = SioWs::open(server.addr, "sio-idle").await;
        let reply = idle_sio.connect_ns(None).await;
        assert!(
            reply.starts_with("40{"),
            "joins without credentials: {reply}"
        );
        let mut idle_native = Native::open(server.addr, "native-idle").await;
        let mut idle_polling = SioPolling::open(server.addr, "polling-idle").await;

        let (sio_close, (native_code, native_reason), ()) = tokio::join!(
            idle_sio.closed(),
            idle_native.ws.closed(),
            idle_polling.gone()
        );
        assert_eq!(sio_close, Some(1008));
        assert_eq!(
            (native_code, native_reason.as_str()),
            (1008, "auth_timeout")
        );
        assert_eq!(server.hub.metrics().auth_timeouts, 3);

        send_sentinel(&server.hub, "u1", 1);
        sio.sentinel(1).await;
        send_sentinel(&server.hub, "u2", 2);
        native.sentinel(2).await;
        assert_eq!(server.hub.metrics().auth_timeouts, 3);
    });
}

/// The connect deadline (`connect_timeout`) runs on the session's one timer task beside
/// the heartbeat and the auth deadline: a Socket.IO session that never joins a
/// namespace is closed at it, over websocket (1008) and polling, without counting as an
/// authentication timeout, while a joined session is served on.
#[test]
fn sessions_that_join_no_namespace_are_closed_at_the_connect_deadline() {
    let cfg = ServerConfig {
        connect_timeout: Duration::from_millis(700),
        auth_deadline: Duration::from_secs(60),
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    run(async {
        let mut sio =
            SioWs::login(server.addr, "sio-ok", &token("u1", "user", None), "modules").await;
        let mut idle_ws = SioWs::open(server.addr, "sio-no-namespace").await;
        let mut idle_polling = SioPolling::open(server.addr, "polling-no-namespace").await;
        let (ws_close, ()) = tokio::join!(idle_ws.closed(), idle_polling.gone());
        assert_eq!(ws_close, Some(1008));
        assert_eq!(server.hub.metrics().auth_timeouts, 0);
        send_sentinel(&server.hub, "u1", 1);
        sio.sentinel(1).await;
    });
}

#[test]
fn handshakes_past_max_connections_get_503() {
    let cfg = ServerConfig {
        max_connections: 2,
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    run(async {
        let addr = server.addr;
        let mut sio = SioWs::login(addr, "sio", &token("u1", "user", None), "modules").await;
        let mut native = Native::login(addr, "native", &token("u2", "user", None), "modules").await;
        assert_eq!(server.handle.connections(), 2);

        let reply = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", None).await;
        assert_eq!(reply.status, 503, "{reply:?}");
        assert_eq!(
            Ws::refused_status(addr, "/socket.io/?EIO=4&transport=websocket").await,
            503
        );
        assert_eq!(Ws::refused_status(addr, "/ws").await, 503);
        assert_eq!(server.hub.metrics().connections_refused, 3);
        assert_eq!(server.handle.connections(), 2);

        // The open ones are unaffected.
        send_sentinel(&server.hub, "u1", 1);
        sio.sentinel(1).await;
        send_sentinel(&server.hub, "u2", 2);
        native.sentinel(2).await;

        // A slot freed is a slot available again.
        native.ws.close().await;
        eventually("the native slot to be freed", || {
            server.handle.connections() == 1
        })
        .await;
        let mut polling =
            SioPolling::login(addr, "polling", &token("u3", "user", None), "modules").await;
        send_sentinel(&server.hub, "u3", 3);
        polling.sentinel(3).await;
        assert_eq!(server.hub.metrics().connections_refused, 3);
    });
}

#[test]
fn a_polling_session_closed_by_its_client_frees_its_slot() {
    let cfg = ServerConfig {
        max_connections: 1,
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    run(async {
        for round in 0..3 {
            let client = SioPolling::login(
                server.addr,
                "polling",
                &token("u1", "user", None),
                "modules",
            )
            .await;
            // The client leaves with an Engine.IO close and polls no more.
            if round % 2 == 0 {
                client.post(&["1"]).await;
            } else {
                client.post(&["41"]).await;
            }
            eventually("the polling slot to be freed", || {
                server.handle.connections() == 0
            })
            .await;
        }
        assert_eq!(server.hub.metrics().connections_refused, 0);
    });
}

#[test]
fn malformed_packets_close_only_the_offending_session() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut other =
            SioWs::login(server.addr, "other", &token("u9", "user", None), "modules").await;
        let cases = [
            "9",              // unknown Engine.IO type
            "0{}",            // open packet from a client
            "",               // empty packet
            "4",              // empty Socket.IO packet
            "49",             // unknown Socket.IO type
            "44{}",           // CONNECT_ERROR from a client
            r#"42{"a":1}"#,   // event that is not an array
            r#"42["a""#,      // invalid JSON
            r#"43["no-id"]"#, // ack without id
        ];
        for (n, frame) in cases.into_iter().enumerate() {
            let before = server.hub.metrics().bad_inputs(BadInputKind::Protocol);
            let mut client =
                SioWs::login(server.addr, "bad", &token("u1", "user", None), "modules").await;
            client.ws.send_text(frame).await;
            assert_eq!(client.closed().await, Some(1002), "{frame:?}");
            assert_eq!(
                server.hub.metrics().bad_inputs(BadInputKind::Protocol),
                before + 1,
                "{frame:?}"
            );
            send_sentinel(&server.hub, "u9", n as u64);
            other.sentinel(n as u64).await;
        }

        // Bad binary packets, each closing only its own session, counted as `binary`.
        enum Frame {
            Text(&'static str),
            Binary,
        }
        use Frame::{Binary, Text};
        let binary_cases: [(&[Frame], u16, BadInputKind); 4] = [
            (&[Binary], 1002, BadInputKind::Binary), // nothing announced it
            (
                &[Text(r#"451-["a",{"_placeholder":true,"num":1}]"#)],
                1002,
                BadInputKind::Binary,
            ), // a placeholder past the attachments
            (&[Text(r#"4511-["a"]"#)], 1009, BadInputKind::Binary), // over max_attachments
            (
                &[
                    Text(r#"451-["a",{"_placeholder":true,"num":0}]"#),
                    Text(r#"42["a"]"#),
                ],
                1002,
                BadInputKind::Binary,
            ), // text while an attachment is due
        ];
        for (n, (frames, code, kind)) in binary_cases.into_iter().enumerate() {
            let before = server.hub.metrics().bad_inputs(kind);
            let mut client =
                SioWs::login(server.addr, "binary", &token("u1", "user", None), "modules").await;
            for frame in frames {
                match frame {
                    Text(text) => client.ws.send_text(*text).await,
                    Binary => client.ws.send_binary(vec![1, 2, 3]).await,
                }
            }
            assert_eq!(client.closed().await, Some(code), "case {n}");
            assert_eq!(
                server.hub.metrics().bad_inputs(kind),
                before + 1,
                "case {n}"
            );
            send_sentinel(&server.hub, "u9", 200 + n as u64);
            other.sentinel(200 + n as u64).await;
        }

        // Over polling: a bad payload is refused with 400 and ends the session.
        let mut polling = SioPolling::login(
            server.addr,
            "polling",
            &token("u2", "user", None),
            "modules",
        )
        .await;
        let reply = polling.post_raw("4a\x1e\x1e4b").await;
        assert_eq!((reply.status, &reply.json()["code"]), (400, &json!(3)));
        polling.gone().await;

        // The text cases, and the bad polling payload.
        let total = cases.len() as u64 + 1;
        assert_eq!(
            server.hub.metrics().bad_inputs(BadInputKind::Protocol),
            total
        );
        send_sentinel(&server.hub, "u9", 100);
        other.sentinel(100).await;
    });
}

fn strict_rate_limit() -> ServerConfig {
    ServerConfig {
        rate_limit: RateLimit {
            burst: 5,
            per_second: 0.0,
        },
        ..config()
    }
}

#[test]
fn socketio_messages_past_the_rate_limit_are_dropped_then_the_session_closed() {
    let server = serve(builder().build().unwrap(), strict_rate_limit());
    run(async {
        let mut other =
            SioWs::login(server.addr, "other", &token("u9", "user", None), "modules").await;
        let mut client =
            SioWs::login(server.addr, "flood", &token("u1", "user", None), "modules").await;
        for id in 1..=8 {
            client.emit("custom:x", &json!({"id": id}), Some(id)).await;
        }
        // An Engine.IO ping is not rate limited: its pong comes after every ack of the
        // messages sent before it, and only the first five were acked.
        client.ws.send_text("2").await;
        for id in 1..=5 {
            assert_eq!(client.packet().await, format!("43{id}[null]"));
        }
        assert_eq!(client.packet().await, "3", "messages 6 to 8 were dropped");
        let metrics = server.hub.metrics();
        assert_eq!(metrics.bad_inputs(BadInputKind::RateLimited), 3);
        assert_eq!(
            metrics.client_events_dropped, 5,
            "only admitted events reached the hub"
        );

        // Sustained abuse: more than `burst` drops in a row closes the session.
        for id in 9..=11 {
            client
                .ws
                .try_send_text(format!("42{id}[\"custom:x\",{{}}]"))
                .await;
        }
        assert_eq!(client.closed().await, Some(1008));
        assert_eq!(
            server.hub.metrics().bad_inputs(BadInputKind::RateLimited),
            6
        );
        send_sentinel(&server.hub, "u9", 1);
        other.sentinel(1).await;
    });
}

#[test]
fn native_frames_past_the_rate_limit_are_dropped_then_the_connection_closed() {
    let server = serve(builder().build().unwrap(), strict_rate_limit());
    run(async {
        let mut other =
            Native::login(server.addr, "other", &token("u9", "user", None), "modules").await;
        // `client:authenticate` took one token: four are left.
        let mut client =
            Native::login(server.addr, "flood", &token("u1", "user", None), "modules").await;
        for _ in 0..6 {
            client
                .send("client:page", &json!({"page": "dashboard"}))
                .await;
        }
        eventually("two drops to be counted", || {
            server.hub.metrics().bad_inputs(BadInputKind::RateLimited) == 2
        })
        .await;
        send_sentinel(&server.hub, "u1", 1);
        for _ in 0..4 {
            assert_eq!(client.event().await.0, "page:snapshot");
        }
        client.sentinel(1).await;

        for _ in 0..4 {
            client
                .ws
                .try_send_text(r#"{"event":"client:page","data":{"page":"modules"}}"#)
                .await;
        }
        let (code, reason) = client.ws.closed().await;
        assert_eq!((code, reason.as_str()), (1008, "rate_limited"));
        assert_eq!(
            server.hub.metrics().bad_inputs(BadInputKind::RateLimited),
            6
        );
        send_sentinel(&server.hub, "u9", 2);
        other.sentinel(2).await;
    });
}

#[test]
fn a_poll_that_arrives_just_after_its_client_closed_gets_the_noop_then_the_session_is_unknown() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut client = SioPolling::login(
            server.addr,
            "closing",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        // The close arrives before the poll the client sent first (two connections).
        client.post(&["1"]).await;
        eventually("the slot to be freed at once", || {
            server.handle.connections() == 0
        })
        .await;
        let late = client.poll().await;
        assert_eq!((late.status, late.body.as_str()), (200, "6"), "{late:?}");
        let after = client.poll().await;
        assert_eq!(after.status, 400, "{after:?}");
    });
}
