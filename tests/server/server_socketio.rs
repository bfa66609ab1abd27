//! The Engine.IO v4 / Socket.IO v5 server over real sockets on 127.0.0.1 (DESIGN §8):
//! encode once across websockets, the websocket, polling and upgrade paths, CONNECT
//! and its errors, acks, DISCONNECT, heartbeats, HTTP errors and graceful shutdown.

use std::time::{Duration, Instant};

use crate::support::*;
use microcoaster_realtime::EmitOutcome;
use microcoaster_realtime::transport::server::ServerConfig;
use serde_json::{Value, json};

#[test]
fn one_event_to_twenty_admin_websockets_is_encoded_once() {
    const ADMINS: usize = 20;
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut admins = Vec::new();
        for n in 0..ADMINS {
            let label = format!("admin-{n}");
            let token = token(&label, "admin", None);
            admins.push(SioWs::login(server.addr, &label, &token, "admin").await);
        }
        // Every socket has written its auth:ok and snapshot: nothing else is pending.
        for round in 1..=3u64 {
            let before = server.hub.metrics().frames_encoded;
            assert_eq!(
                server
                    .hub
                    .emit_to_admins("ops:notice", &json!({"round": round})),
                Ok(EmitOutcome::Delivered {
                    connections: ADMINS
                })
            );
            let mut texts = Vec::new();
            for admin in &mut admins {
                let packet = admin.packet().await;
                let (name, data) = parse_event(&packet);
                assert_eq!(
                    (name.as_str(), &data["round"]),
                    ("ops:notice", &json!(round))
                );
                texts.push(packet);
            }
            assert!(
                texts.iter().all(|t| *t == texts[0]),
                "same bytes everywhere"
            );
            assert_eq!(
                server.hub.metrics().frames_encoded,
                before + 1,
                "the serializer runs once per event whatever the number of sockets"
            );
        }
    });
}

#[test]
fn websocket_only_session_connects_authenticates_and_receives() {
    let cfg = ServerConfig {
        ping_interval: Duration::from_millis(25_000),
        ping_timeout: Duration::from_millis(20_000),
        max_payload: 123_456,
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    run(async {
        let mut client = SioWs::open(server.addr, "ws-only").await;
        let open = client.open.clone();
        assert!(
            open["sid"].as_str().is_some_and(|s| s.len() >= 16),
            "{open}"
        );
        assert_eq!(open["upgrades"], json!([]), "nothing to upgrade to");
        assert_eq!(open["pingInterval"], json!(25_000));
        assert_eq!(open["pingTimeout"], json!(20_000));
        assert_eq!(open["maxPayload"], json!(123_456));

        let reply = client
            .connect_ns(Some(&auth(&token("u1", "user", None), "modules")))
            .await;
        let body: Value = serde_json::from_str(reply.strip_prefix("40").expect("40")).unwrap();
        let socket_sid = body["sid"].as_str().expect("socket sid");
        assert_ne!(
            socket_sid,
            open["sid"].as_str().unwrap(),
            "a distinct socket id"
        );

        let (name, ok) = client.event().await;
        assert_eq!(name, "auth:ok");
        assert_eq!((&ok["userId"], &ok["role"]), (&json!("u1"), &json!("user")));
        let (name, snapshot) = client.event().await;
        assert_eq!(
            (name.as_str(), &snapshot["page"]),
            ("page:snapshot", &json!("modules"))
        );

        // A host event reaches it; a page change answers with a fresh snapshot.
        send_sentinel(&server.hub, "u1", 1);
        client.sentinel(1).await;
        client
            .emit("client:page", &json!({"page": "dashboard"}), None)
            .await;
        let (name, snapshot) = client.event().await;
        assert_eq!(
            (name.as_str(), &snapshot["page"]),
            ("page:snapshot", &json!("dashboard"))
        );
    });
}

#[test]
fn polling_only_session_handshakes_authenticates_and_receives() {
    let cfg = ServerConfig {
        max_payload: 99_999,
        ping_interval: Duration::from_millis(30_000),
        ping_timeout: Duration::from_millis(15_000),
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    run(async {
        let raw = http(
            server.addr,
            "GET",
            "/socket.io/?EIO=4&transport=polling",
            None,
        )
        .await;
        assert_eq!(raw.status, 200);
        assert!(
            raw.header("content-type")
                .unwrap()
                .starts_with("text/plain")
        );
        let open = parse_open(&raw.body);
        assert!(
            open["sid"].as_str().is_some_and(|s| s.len() >= 16),
            "{open}"
        );
        assert_eq!(open["upgrades"], json!(["websocket"]));
        assert_eq!(open["pingInterval"], json!(30_000));
        assert_eq!(open["pingTimeout"], json!(15_000));
        assert_eq!(open["maxPayload"], json!(99_999));

        let mut client = SioPolling::login(
            server.addr,
            "polling",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        for n in 1..=3 {
            send_sentinel(&server.hub, "u1", n);
        }
        for n in 1..=3 {
            client.sentinel(n).await;
        }
        // Several packets in one POST, each handled in order.
        client
            .post(&[
                "2ping-from-client",
                r#"42["client:page",{"page":"dashboard"}]"#,
            ])
            .await;
        assert_eq!(client.packet().await, "3ping-from-client");
        let (name, snapshot) = client.event().await;
        assert_eq!(
            (name.as_str(), &snapshot["page"]),
            ("page:snapshot", &json!("dashboard"))
        );

        // DISCONNECT ends the session.
        client.post(&["41"]).await;
        client.gone().await;
    });
}

#[test]
fn polling_session_upgrades_to_websocket() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut polling = SioPolling::login(
            server.addr,
            "upgrading",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        let sid = polling.sid.clone();
        // A poll is pending while the client probes the websocket.
        let addr = server.addr;
        let pending = tokio::spawn({
            let sid = sid.clone();
            async move { http(addr, "GET", &SioPolling::target(&sid), None).await }
        });
        let mut ws = Ws::open(
            server.addr,
            &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
            "upgrade",
        )
        .await
        .expect("upgrade handshake");
        ws.send_text("2probe").await;
        assert_eq!(ws.text().await, "3probe");
        let released = within("the pending poll", pending).await.unwrap();
        assert_eq!(
            released.packets(),
            vec!["6".to_owned()],
            "a noop frees the poll"
        );
        ws.send_text("5").await;

        // From now on the session lives on the websocket.
        send_sentinel(&server.hub, "u1", 1);
        let (name, data) = parse_event(&ws.text().await);
        assert_eq!((name.as_str(), &data["n"]), (SENTINEL, &json!(1)));
        ws.send_text(r#"42["client:page",{"page":"dashboard"}]"#)
            .await;
        let (name, _) = parse_event(&ws.text().await);
        assert_eq!(name, "page:snapshot");
        let reply = polling.poll().await;
        assert_eq!(
            reply.status, 400,
            "polling is over once upgraded: {reply:?}"
        );

        // A second websocket for the same session is accepted and closed at once (as
        // the reference server does); the session keeps its websocket.
        let mut second = Ws::open(
            server.addr,
            &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
            "second upgrade",
        )
        .await
        .expect("the second websocket handshake completes");
        let (code, reason) = second.closed().await;
        assert_eq!(
            (code, reason.as_str()),
            (1008, "session already upgraded"),
            "closed without any Engine.IO packet"
        );
        send_sentinel(&server.hub, "u1", 2);
        let (name, data) = parse_event(&ws.text().await);
        assert_eq!((name.as_str(), &data["n"]), (SENTINEL, &json!(2)));
    });
}

#[test]
fn refused_credentials_get_connect_error_and_the_socket_may_retry() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut client = SioWs::open(server.addr, "refused").await;
        let reply = client
            .connect_ns(Some(&json!({"token": "not-a-jwt", "page": "modules"})))
            .await;
        let body: Value =
            serde_json::from_str(reply.strip_prefix("44").expect("CONNECT_ERROR")).unwrap();
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(body["data"]["code"], json!("invalid_token"), "{body}");
        // A token for another role than it claims is refused too.
        let reply = client
            .connect_ns(Some(&json!({
                "token": token("u1", "user", None), "userType": "admin", "page": "modules"
            })))
            .await;
        let body: Value = serde_json::from_str(reply.strip_prefix("44").unwrap()).unwrap();
        assert_eq!(body["data"]["code"], json!("claims_mismatch"), "{body}");
        assert_eq!(server.hub.metrics().auth_failures, 2);

        // Nothing was delivered to the refused socket; a valid CONNECT then works.
        let reply = client
            .connect_ns(Some(&auth(&token("u1", "user", None), "modules")))
            .await;
        assert!(reply.starts_with("40{\"sid\":"), "{reply}");
        let (name, _) = client.event().await;
        assert_eq!(name, "auth:ok");
    });
}

#[test]
fn unknown_namespace_gets_connect_error() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut client = SioWs::open(server.addr, "namespace").await;
        client.ws.send_text("40/admin,").await;
        assert_eq!(
            client.packet().await,
            r#"44/admin,{"message":"Invalid namespace"}"#
        );
        // Events to that namespace are ignored; the default namespace still works.
        client.ws.send_text(r#"42/admin,["x",1]"#).await;
        let reply = client
            .connect_ns(Some(&auth(&token("u1", "user", None), "modules")))
            .await;
        assert!(reply.starts_with("40{\"sid\":"), "{reply}");
        let (name, _) = client.event().await;
        assert_eq!(name, "auth:ok");
    });
}

/// Reads `n` packets and sorts them: the ack and the hub's frames travel on two queues,
/// so their relative order is not part of the contract.
async fn packets(client: &mut SioWs, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(client.packet().await);
    }
    out
}

#[test]
fn client_authenticate_with_an_ack_id_is_acked_with_the_auth_body() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut client = SioWs::open(server.addr, "ack").await;
        let reply = client.connect_ns(None).await;
        assert!(
            reply.starts_with("40{\"sid\":"),
            "joins unauthenticated: {reply}"
        );

        // A refused attempt: auth:error event and an error ack.
        client
            .emit("client:authenticate", &json!({"token": "garbage"}), Some(7))
            .await;
        let got = packets(&mut client, 2).await;
        let ack = got.iter().find(|p| p.starts_with("437")).expect("ack 7");
        let body: Value = serde_json::from_str(&ack[3..]).unwrap();
        assert_eq!(body[0]["code"], json!("invalid_token"), "{ack}");
        let event = got
            .iter()
            .find(|p| p.starts_with("42"))
            .expect("auth:error");
        assert_eq!(parse_event(event).0, "auth:error");

        let tok = token("a1", "admin", Some("s-1"));
        client
            .emit(
                "client:authenticate",
                &json!({"token": tok, "page": "admin"}),
                Some(12),
            )
            .await;
        let got = packets(&mut client, 3).await;
        let ack = got.iter().find(|p| p.starts_with("4312")).expect("ack 12");
        let body: Value = serde_json::from_str(&ack[4..]).unwrap();
        assert_eq!(
            body,
            json!([{"userId": "a1", "role": "admin", "sessionId": "s-1", "page": "admin"}])
        );
        let events: Vec<_> = got
            .iter()
            .filter(|p| p.starts_with("42"))
            .map(|p| parse_event(p))
            .collect();
        assert_eq!(events.len(), 2, "{got:?}");
        assert_eq!(events[0].0, "auth:ok");
        assert_eq!(events[0].1["userId"], json!("a1"));
        assert_eq!(events[1].0, "page:snapshot");

        // A forwarded event with an ack id gets an empty ack.
        client.emit("custom:thing", &json!({"x": 1}), Some(3)).await;
        assert_eq!(client.packet().await, "433[null]");
    });
}

#[test]
fn disconnect_packet_closes_the_websocket_session() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut leaving = SioWs::login(
            server.addr,
            "leaving",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        let mut staying = SioWs::login(
            server.addr,
            "staying",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        assert_eq!(server.handle.connections(), 2);
        leaving.ws.send_text("41").await;
        assert_eq!(leaving.closed().await, Some(1000));
        eventually("the session to be released", || {
            server.handle.connections() == 1 && server.hub.metrics().connections.users == 1
        })
        .await;
        send_sentinel(&server.hub, "u1", 1);
        assert_eq!(
            server.hub.emit_to_user("u1", "x:y", &json!({})),
            Ok(EmitOutcome::Delivered { connections: 1 })
        );
        staying.sentinel(1).await;
    });
}

#[test]
fn server_pings_and_closes_a_session_that_does_not_answer() {
    let cfg = ServerConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(1_000),
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    run(async {
        let mut alive =
            SioWs::login(server.addr, "alive", &token("u1", "user", None), "modules").await;
        let mut silent =
            SioWs::login(server.addr, "silent", &token("u2", "user", None), "modules").await;
        silent.answer_pings = false;
        let mut polling = SioPolling::login(
            server.addr,
            "silent-polling",
            &token("u3", "user", None),
            "modules",
        )
        .await;
        polling.answer_pings = false;

        let silent_side = async {
            let started = Instant::now();
            let close = silent.closed().await;
            assert!(silent.pings >= 1, "a ping came before the close");
            assert_eq!(close, Some(1000));
            started.elapsed()
        };
        let polling_side = async {
            // The ping arrives in a poll; without a pong the next poll gets the close.
            polling.closed().await;
            assert!(polling.pings >= 1);
        };
        let alive_side = alive.until_pings(4);
        let (elapsed, (), ()) = tokio::join!(silent_side, polling_side, alive_side);
        assert!(elapsed < Duration::from_secs(4), "closed after {elapsed:?}");
        // The official client gives up when no ping comes within pingInterval +
        // pingTimeout of the previous one: a client that answers must be pinged again
        // one interval after its pong, well within that window.
        for gap in alive.ping_times.windows(2) {
            let gap = gap[1] - gap[0];
            assert!(
                gap < Duration::from_millis(1_300),
                "pings {gap:?} apart: the official client would time out"
            );
        }
        assert_eq!(server.hub.metrics().ping_timeouts, 2);

        // The session that answered is still served.
        send_sentinel(&server.hub, "u1", 1);
        alive.sentinel(1).await;
        assert_eq!(server.hub.metrics().ping_timeouts, 2);
    });
}

#[test]
fn bad_requests_get_http_400_with_engine_io_codes() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let addr = server.addr;
        let cases = [
            ("GET", "/socket.io/?EIO=3&transport=polling", 5),
            ("GET", "/socket.io/?transport=polling", 5),
            ("GET", "/socket.io/?EIO=4&transport=carrier-pigeon", 0),
            ("GET", "/socket.io/?EIO=4", 0),
            ("GET", "/socket.io/?EIO=4&transport=polling&sid=unknown", 1),
            ("POST", "/socket.io/?EIO=4&transport=polling&sid=unknown", 1),
            ("POST", "/socket.io/?EIO=4&transport=polling", 2),
            ("GET", "/socket.io/?EIO=4&transport=websocket", 3),
        ];
        for (method, target, code) in cases {
            let reply = http(addr, method, target, Some("")).await;
            assert_eq!(reply.status, 400, "{method} {target}: {reply:?}");
            assert_eq!(reply.json()["code"], json!(code), "{method} {target}");
            assert!(reply.json()["message"].is_string());
        }
        let status =
            Ws::refused_status(addr, "/socket.io/?EIO=4&transport=websocket&sid=unknown").await;
        assert_eq!(status, 400);

        // A second concurrent GET poll is a protocol error: one of the two gets 400,
        // the other the close packet, and the session is gone.
        let client = SioPolling::open(addr, "double-poll").await;
        let target = SioPolling::target(&client.sid);
        let (a, b) = tokio::join!(
            http(addr, "GET", &target, None),
            http(addr, "GET", &target, None)
        );
        let (refused, closed) = if a.status == 400 { (a, b) } else { (b, a) };
        assert_eq!(
            (refused.status, &refused.json()["code"]),
            (400, &json!(3)),
            "{refused:?}"
        );
        assert_eq!(
            (closed.status, closed.body.as_str()),
            (200, "1"),
            "{closed:?}"
        );
        let after = http(addr, "GET", &target, None).await;
        assert_eq!((after.status, &after.json()["code"]), (400, &json!(1)));

        // The server still serves new sessions.
        let mut fine = SioPolling::login(addr, "fine", &token("u1", "user", None), "modules").await;
        send_sentinel(&server.hub, "u1", 1);
        fine.sentinel(1).await;
    });
}

/// No lock is held while writing: a websocket whose peer stopped reading blocks only
/// its own writer. Emits keep returning at once and every other socket keeps receiving.
#[test]
fn a_stalled_websocket_never_delays_the_other_sockets() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut stalled = SioWs::login(
            server.addr,
            "stalled",
            &token("slow", "user", None),
            "modules",
        )
        .await;
        let mut ws = SioWs::login(server.addr, "ws", &token("u1", "user", None), "modules").await;
        let mut polling = SioPolling::login(
            server.addr,
            "polling",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        let sent = emit_until_writer_stalls(&server.hub, "slow").await;
        assert!(
            sent >= 16,
            "the socket buffers filled first ({sent} frames)"
        );
        for n in 0..50 {
            let started = Instant::now();
            assert_eq!(
                server
                    .hub
                    .emit_to_user("slow", "bulk:more", &json!({"n": n})),
                Ok(EmitOutcome::Delivered { connections: 1 })
            );
            send_sentinel(&server.hub, "u1", n);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "an emit waited for a socket"
            );
            ws.sentinel(n).await;
            polling.sentinel(n).await;
        }
        assert_eq!(server.hub.metrics().slow_consumer_closes.total(), 0);
        // The stalled socket was served all along: it gets the frames once it reads.
        for n in 0..sent {
            let (name, data) = stalled.event().await;
            assert_eq!((name.as_str(), &data["n"]), ("bulk:data", &json!(n)));
        }
        for n in 0..50 {
            let (name, data) = stalled.event().await;
            assert_eq!((name.as_str(), &data["n"]), ("bulk:more", &json!(n)));
        }
    });
}

#[test]
fn graceful_shutdown_delivers_everything_emitted_before_it_then_closes() {
    const EVENTS: u64 = 25;
    let cfg = ServerConfig {
        shutdown_deadline: Duration::from_secs(4),
        ..config()
    };
    let Server { hub, handle, addr } = serve(builder().build().unwrap(), cfg);
    run(async move {
        let mut ws = Vec::new();
        let mut polling = Vec::new();
        let mut native = Vec::new();
        for n in 0..3 {
            let label = format!("ws-{n}");
            ws.push(SioWs::login(addr, &label, &token(&label, "admin", None), "admin").await);
        }
        for n in 0..2 {
            let label = format!("polling-{n}");
            polling.push(
                SioPolling::login(addr, &label, &token(&label, "admin", None), "admin").await,
            );
        }
        for n in 0..2 {
            let label = format!("native-{n}");
            native.push(Native::login(addr, &label, &token(&label, "admin", None), "admin").await);
        }
        assert_eq!(handle.connections(), 7);

        for n in 0..EVENTS {
            assert_eq!(
                hub.emit_to_admins("ops:tick", &json!({"n": n})),
                Ok(EmitOutcome::Delivered { connections: 7 })
            );
        }
        let stopping = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            handle.shutdown();
            (started.elapsed(), handle.connections())
        });

        let check = |name: &str, data: &Value, n: u64, who: &str| {
            assert_eq!((name, &data["n"]), ("ops:tick", &json!(n)), "{who}");
        };
        let ws_side = futures_util::future::join_all(ws.iter_mut().map(|client| async move {
            for n in 0..EVENTS {
                let (name, data) = client.event().await;
                check(&name, &data, n, client.ws.label());
            }
            assert_eq!(client.closed().await, Some(1001), "going away");
        }));
        let polling_side =
            futures_util::future::join_all(polling.iter_mut().map(|client| async move {
                for n in 0..EVENTS {
                    let (name, data) = client.event().await;
                    check(&name, &data, n, "polling");
                }
                assert_eq!(client.packet().await, "1", "then the close packet");
            }));
        let native_side =
            futures_util::future::join_all(native.iter_mut().map(|client| async move {
                for n in 0..EVENTS {
                    let (name, data) = client.event().await;
                    check(&name, &data, n, client.ws.label());
                }
                let (code, reason) = client.ws.closed().await;
                assert_eq!((code, reason.as_str()), (1001, "shutdown"));
            }));
        tokio::join!(ws_side, polling_side, native_side);
        let (elapsed, left) = within("shutdown to return", stopping).await.unwrap();
        assert_eq!(left, 0, "every connection was closed");
        assert!(
            elapsed < Duration::from_secs(4),
            "shutdown waited for its whole deadline ({elapsed:?}): a connection was not released"
        );
    });
}
