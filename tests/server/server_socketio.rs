//! The Engine.IO v4 / Socket.IO v5 server's transport paths over real sockets on
//! 127.0.0.1 (DESIGN §8): encode once across websockets, the websocket-only and
//! polling-only sessions, and the upgrade from polling to websocket. CONNECT and its
//! errors, acks and DISCONNECT are in `socketio_connect.rs`; heartbeats, HTTP errors,
//! stalled sockets and graceful shutdown in `socketio_lifecycle.rs`.

use std::time::Duration;

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
