//! Connection-state recovery over real sockets (issue 6 §4): the Socket.IO CONNECT
//! reply carries a `pid`, every event its offset; a client that lost its transport and
//! comes back with `{pid, offset}` within the window gets the same `pid` back and every
//! event it missed, in order, exactly once, and only its own; a logged-out session, an
//! expired one or an unknown pid get a fresh session. The native `/ws` protocol does the
//! same with `client:resume`.

use std::time::Duration;

use crate::support::*;
use microcoaster_realtime::transport::server::{RecoveryConfig, ServerConfig};
use serde_json::{Value, json};

fn recovery_config(window: Duration) -> ServerConfig {
    ServerConfig {
        recovery: Some(RecoveryConfig {
            window,
            ..RecoveryConfig::default()
        }),
        ..config()
    }
}

fn recovering_server() -> Server {
    serve(
        builder().build().unwrap(),
        recovery_config(Duration::from_secs(60)),
    )
}

/// `42["name",data,"offset"]` → (name, data, offset).
fn event_with_offset(packet: &str) -> (String, Value, u64) {
    let args: Value = serde_json::from_str(
        packet
            .strip_prefix("42")
            .unwrap_or_else(|| panic!("expected an EVENT, got {packet:?}")),
    )
    .unwrap();
    let offset = args[2]
        .as_str()
        .unwrap_or_else(|| panic!("no offset string in {packet}"))
        .parse()
        .unwrap();
    (
        args[0].as_str().unwrap().to_owned(),
        args[1].clone(),
        offset,
    )
}

/// Logs in over Socket.IO with recovery on; returns the client and its pid.
async fn sio_login(server: &Server, label: &str, token: &str) -> (SioWs, String) {
    let mut client = SioWs::open(server.addr, label).await;
    let reply = client.connect_ns(Some(&auth(token, "modules"))).await;
    let body: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
    let pid = body["pid"]
        .as_str()
        .unwrap_or_else(|| panic!("{label}: no pid in {reply}"))
        .to_owned();
    assert!(body["sid"].is_string(), "{reply}");
    // Replies to one connection carry no offset.
    assert_eq!(parse_event(&client.packet().await).0, "auth:ok");
    assert_eq!(parse_event(&client.packet().await).0, "page:snapshot");
    (client, pid)
}

/// Drops the client's transport and waits until the server parked its connection.
async fn drop_transport(server: &Server, ws: &mut Ws, parked: usize) {
    ws.close().await;
    eventually("the connection to be parked", || {
        server.handle.parked_connections() == parked
    })
    .await;
}

#[test]
fn connect_reply_has_a_pid_and_every_event_its_growing_offset() {
    let server = recovering_server();
    run(async {
        let (mut client, pid) = sio_login(&server, "u1", &token("u1", "user", None)).await;
        assert!(pid.len() >= 20, "{pid}");
        let mut last = 0;
        for n in 0..3 {
            server
                .hub
                .emit_to_user("u1", "cart:moved", &json!({"n": n}))
                .unwrap();
            let (name, data, offset) = event_with_offset(&client.packet().await);
            assert_eq!((name.as_str(), &data["n"]), ("cart:moved", &json!(n)));
            assert!(offset > last, "offsets must grow: {offset} after {last}");
            last = offset;
        }
    });
}

#[test]
fn resumed_socketio_client_gets_exactly_its_missed_events_in_order() {
    let server = recovering_server();
    run(async {
        let (mut ada, pid) = sio_login(&server, "ada", &token("ada", "user", None)).await;
        let (mut bob, _) = sio_login(&server, "bob", &token("bob", "user", None)).await;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": -1}))
            .unwrap();
        let (_, _, seen) = event_with_offset(&ada.packet().await);

        drop_transport(&server, &mut ada.ws, 1).await;
        for n in 0..20 {
            server
                .hub
                .emit_to_user("ada", "cart:moved", &json!({"n": n}))
                .unwrap();
            server
                .hub
                .emit_to_user("bob", "cart:moved", &json!({"n": n}))
                .unwrap();
        }
        for n in 0..20 {
            let (_, data, _) = event_with_offset(&bob.packet().await);
            assert_eq!(data["n"], json!(n), "bob gets his live");
        }

        let mut back = SioWs::open(server.addr, "ada again").await;
        let reply = back
            .connect_ns(Some(&json!({"pid": pid, "offset": seen.to_string()})))
            .await;
        let body: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
        assert_eq!(body["pid"], json!(pid), "same pid: recovered");
        let mut last = seen;
        for n in 0..20 {
            let (name, data, offset) = event_with_offset(&back.packet().await);
            assert_eq!((name.as_str(), &data["n"]), ("cart:moved", &json!(n)));
            assert!(offset > last);
            last = offset;
        }
        // Nothing of Bob's, nothing twice: the next frame is the sentinel, and the
        // identity and page came back without authenticating again.
        send_sentinel(&server.hub, "ada", 1);
        back.sentinel(1).await;
        assert_eq!(server.handle.parked_connections(), 0);
    });
}

#[test]
fn frames_a_dying_socket_did_not_deliver_are_replayed_from_the_tail() {
    let server = recovering_server();
    run(async {
        let (mut ada, pid) = sio_login(&server, "ada", &token("ada", "user", None)).await;
        let mut offsets = Vec::new();
        for n in 0..5 {
            server
                .hub
                .emit_to_user("ada", "cart:moved", &json!({"n": n}))
                .unwrap();
            offsets.push(event_with_offset(&ada.packet().await).2);
        }
        // The server wrote five frames; say only the first two arrived.
        drop_transport(&server, &mut ada.ws, 1).await;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": 5}))
            .unwrap();
        let mut back = SioWs::open(server.addr, "ada again").await;
        let reply = back
            .connect_ns(Some(&json!({"pid": pid, "offset": offsets[1].to_string()})))
            .await;
        assert!(reply.contains(&pid), "{reply}");
        for n in 2..6 {
            let (_, data, _) = event_with_offset(&back.packet().await);
            assert_eq!(data["n"], json!(n));
        }
        send_sentinel(&server.hub, "ada", 1);
        back.sentinel(1).await;
    });
}

#[test]
fn a_logged_out_session_is_not_recoverable() {
    let server = recovering_server();
    run(async {
        let ada_token = token("ada", "user", Some("s-ada"));
        let (mut ada, pid) = sio_login(&server, "ada", &ada_token).await;
        drop_transport(&server, &mut ada.ws, 1).await;
        server
            .hub
            .emit_user_logged_out(&json!({"id": "ada", "role": "user"}), "s-ada")
            .unwrap();
        let mut back = SioWs::open(server.addr, "ada again").await;
        let reply = back
            .connect_ns(Some(&json!({"pid": pid, "offset": "0"})))
            .await;
        let body: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
        assert_ne!(body["pid"], json!(pid), "a fresh session: {reply}");
        // It is not authenticated, and its old credential is refused.
        back.emit("client:authenticate", &auth(&ada_token, "modules"), None)
            .await;
        let (name, error) = back.event().await;
        assert_eq!(name, "auth:error", "{error}");
        assert_eq!(server.handle.parked_connections(), 0);
    });
}

#[test]
fn outside_the_window_or_with_an_unknown_pid_the_session_is_fresh() {
    let server = serve(
        builder().build().unwrap(),
        recovery_config(Duration::from_millis(200)),
    );
    run(async {
        let (mut ada, pid) = sio_login(&server, "ada", &token("ada", "user", None)).await;
        drop_transport(&server, &mut ada.ws, 1).await;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": 0}))
            .unwrap();
        eventually("the parked connection to expire", || {
            server.handle.parked_connections() == 0
        })
        .await;
        for stale in [pid.as_str(), "never-issued"] {
            let mut back = SioWs::open(server.addr, "ada again").await;
            let reply = back
                .connect_ns(Some(&json!({"pid": stale, "offset": "0"})))
                .await;
            let body: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
            assert_ne!(body["pid"], json!(stale), "{reply}");
            // Fresh: it authenticates as usual and gets a snapshot, not the old event.
            back.emit(
                "client:authenticate",
                &auth(&token("ada", "user", None), "modules"),
                None,
            )
            .await;
            assert_eq!(back.event().await.0, "auth:ok");
            assert_eq!(back.event().await.0, "page:snapshot");
            send_sentinel(&server.hub, "ada", 1);
            back.sentinel(1).await;
        }
    });
}

#[test]
fn without_recovery_there_is_no_pid_no_offset_and_nothing_parks() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut ada = SioWs::open(server.addr, "ada").await;
        let reply = ada
            .connect_ns(Some(&auth(&token("ada", "user", None), "modules")))
            .await;
        assert!(!reply.contains("pid"), "{reply}");
        ada.event().await;
        ada.event().await;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": 0}))
            .unwrap();
        let packet = ada.packet().await;
        let args: Value = serde_json::from_str(packet.strip_prefix("42").unwrap()).unwrap();
        assert_eq!(
            args.as_array().map(Vec::len),
            Some(2),
            "no offset: {packet}"
        );
        ada.ws.close().await;
        eventually("the connection to close", || {
            server.handle.connections() == 0
        })
        .await;
        assert_eq!(server.handle.parked_connections(), 0);
    });
}

// ----- native /ws ----------------------------------------------------------------------

/// The next native frame: name, data and offset (if any).
async fn native_frame(client: &mut Native) -> (String, Value, Option<u64>) {
    let text = client.ws.text().await;
    let value: Value = serde_json::from_str(&text).unwrap();
    (
        value["event"].as_str().unwrap().to_owned(),
        value["data"].clone(),
        value["offset"].as_u64(),
    )
}

async fn native_login(server: &Server, label: &str, user: &str) -> (Native, String) {
    let client = Native::login(server.addr, label, &token(user, "user", None), "modules").await;
    let mut client = client;
    let (name, data, offset) = native_frame(&mut client).await;
    assert_eq!((name.as_str(), offset), ("auth:resumable", None), "{data}");
    (client, data["pid"].as_str().unwrap().to_owned())
}

#[test]
fn native_client_resumes_with_client_resume() {
    let server = recovering_server();
    run(async {
        let (mut ada, pid) = native_login(&server, "ada", "ada").await;
        let (mut bob, _) = native_login(&server, "bob", "bob").await;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": -1}))
            .unwrap();
        let (_, _, seen) = native_frame(&mut ada).await;
        let seen = seen.expect("events carry offsets");

        drop_transport(&server, &mut ada.ws, 1).await;
        for n in 0..10 {
            server
                .hub
                .emit_to_user("ada", "cart:moved", &json!({"n": n}))
                .unwrap();
            server
                .hub
                .emit_to_user("bob", "cart:moved", &json!({"n": n}))
                .unwrap();
        }
        for n in 0..10 {
            assert_eq!(native_frame(&mut bob).await.1["n"], json!(n));
        }

        let mut back = Native::open(server.addr, "ada again").await;
        back.send("client:resume", &json!({"pid": pid, "offset": seen}))
            .await;
        let (name, data, _) = native_frame(&mut back).await;
        assert_eq!((name.as_str(), &data["pid"]), ("auth:resumed", &json!(pid)));
        for n in 0..10 {
            let (name, data, offset) = native_frame(&mut back).await;
            assert_eq!((name.as_str(), &data["n"]), ("cart:moved", &json!(n)));
            assert!(offset.unwrap() > seen);
        }
        send_sentinel(&server.hub, "ada", 1);
        back.sentinel(1).await;
    });
}

#[test]
fn native_resume_refused_leaves_the_connection_open_for_authentication() {
    let server = recovering_server();
    run(async {
        let mut client = Native::open(server.addr, "stranger").await;
        client
            .send("client:resume", &json!({"pid": "nope", "offset": 3}))
            .await;
        let (name, data, _) = native_frame(&mut client).await;
        assert_eq!(
            (name.as_str(), &data["code"]),
            ("auth:resume_failed", &json!("unknown_pid"))
        );
        client.send("client:resume", &json!({"pid": 1})).await;
        let (name, data, _) = native_frame(&mut client).await;
        assert_eq!(
            (name.as_str(), &data["code"]),
            ("auth:resume_failed", &json!("bad_resume"))
        );
        client
            .send(
                "client:authenticate",
                &json!({"token": token("ada", "user", None)}),
            )
            .await;
        assert_eq!(native_frame(&mut client).await.0, "auth:ok");
        // A Socket.IO pid is not a native one.
        let (mut sio, pid) = sio_login(&server, "sio", &token("bob", "user", None)).await;
        drop_transport(&server, &mut sio.ws, 1).await;
        let mut other = Native::open(server.addr, "wrong protocol").await;
        other.send("client:resume", &json!({"pid": pid})).await;
        let (name, data, _) = native_frame(&mut other).await;
        assert_eq!(
            (name.as_str(), &data["code"]),
            ("auth:resume_failed", &json!("wrong_protocol"))
        );
    });
}

#[test]
fn with_persistence_the_history_stores_each_event_under_its_wire_offset() {
    let dir = std::env::temp_dir().join(format!("mcrt-recovery-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let hub = builder()
        .persist(
            dir.join("realtime.db"),
            microcoaster_realtime::Durability::Batched,
        )
        .build()
        .unwrap();
    let server = serve(hub, recovery_config(Duration::from_secs(60)));
    run(async {
        let (mut ada, _) = sio_login(&server, "ada", &token("ada", "user", None)).await;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": 7}))
            .unwrap();
        let (_, _, offset) = event_with_offset(&ada.packet().await);
        let db = server.hub.persistence().expect("persistence");
        db.flush().unwrap();
        let stored = db.events_after(offset - 1, 10).unwrap();
        assert_eq!(stored[0].offset, offset);
        assert_eq!(stored[0].name, "cart:moved");
        assert_eq!(stored[0].payload["n"], json!(7));
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_that_disconnects_on_purpose_is_not_parked() {
    let server = recovering_server();
    run(async {
        let (mut ada, _) = sio_login(&server, "ada", &token("ada", "user", None)).await;
        // A parked connection first, as the positive control of the same check.
        let (mut bob, _) = sio_login(&server, "bob", &token("bob", "user", None)).await;
        drop_transport(&server, &mut bob.ws, 1).await;
        ada.ws.send_text("41").await;
        ada.ws.close().await;
        eventually("both sessions to end", || server.handle.connections() == 0).await;
        assert_eq!(
            server.handle.parked_connections(),
            1,
            "only bob's lost transport"
        );
    });
}

#[test]
fn a_polling_client_that_vanishes_is_parked_at_its_ping_timeout_and_resumes() {
    let config = ServerConfig {
        ping_interval: Duration::from_millis(100),
        ping_timeout: Duration::from_millis(100),
        ..recovery_config(Duration::from_secs(60))
    };
    let server = serve(builder().build().unwrap(), config);
    run(async {
        let mut ada = SioPolling::open(server.addr, "ada polling").await;
        ada.post(&[&format!(
            "40{}",
            auth(&token("ada", "user", None), "modules")
        )])
        .await;
        let reply = ada.packet().await;
        let body: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
        let pid = body["pid"].as_str().expect("pid").to_owned();
        assert_eq!(ada.event().await.0, "auth:ok");
        assert_eq!(ada.event().await.0, "page:snapshot");
        // The client stops polling and answering pings, as a lost network does.
        drop(ada);
        eventually("the ping timeout to park the connection", || {
            server.handle.parked_connections() == 1
        })
        .await;
        for n in 0..3 {
            server
                .hub
                .emit_to_user("ada", "cart:moved", &json!({"n": n}))
                .unwrap();
        }
        let mut back = SioWs::open(server.addr, "ada over websocket").await;
        let reply = back
            .connect_ns(Some(&json!({"pid": pid, "offset": null})))
            .await;
        assert!(reply.contains(&pid), "{reply}");
        for n in 0..3 {
            assert_eq!(event_with_offset(&back.packet().await).1["n"], json!(n));
        }
        send_sentinel(&server.hub, "ada", 1);
        back.sentinel(1).await;
    });
}

#[test]
fn a_device_connection_is_never_parked_and_its_module_goes_offline() {
    let hub = builder()
        .device_offline_grace(Duration::ZERO)
        .build()
        .unwrap();
    hub.register_device_key("MC-DEV", "ada", "0123456789abcdef-key")
        .unwrap();
    hub.emit_user_logged_in(&json!({"id": "ada"}), "sess-ada")
        .unwrap();
    let mut tab = hub.connect_in_process();
    tab.authenticate(json!({"userId": "ada", "page": "modules", "sessionId": "sess-ada"}))
        .unwrap();
    let server = serve(hub, recovery_config(Duration::from_secs(60)));
    run(async {
        let mut device = Native::open(server.addr, "device").await;
        device
            .send(
                "client:authenticate",
                &json!({"moduleId": "MC-DEV", "deviceKey": "0123456789abcdef-key"}),
            )
            .await;
        assert_eq!(native_frame(&mut device).await.0, "auth:ok");
        device.ws.close().await;
        eventually("the device connection to end", || {
            server.handle.connections() == 0
        })
        .await;
        assert_eq!(server.handle.parked_connections(), 0);
    });
    let statuses: Vec<_> = std::iter::from_fn(|| tab.recv_timeout(WAIT))
        .filter_map(|r| r.frame().cloned())
        .filter(|f| f.name() == "module:status:changed")
        .map(|f| f.payload()["online"].clone())
        .take(2)
        .collect();
    assert_eq!(statuses, [json!(true), json!(false)]);
}

#[test]
fn offsets_keep_encode_once_every_recipient_and_a_replay_share_one_encoding() {
    let server = recovering_server();
    run(async {
        let ada_token = token("ada", "user", None);
        let (mut tab1, pid) = sio_login(&server, "tab 1", &ada_token).await;
        let (mut tab2, _) = sio_login(&server, "tab 2", &ada_token).await;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": 0}))
            .unwrap();
        let seen = event_with_offset(&tab1.packet().await).2;
        tab2.packet().await;

        drop_transport(&server, &mut tab1.ws, 1).await;
        let before = server.hub.metrics().frames_encoded;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": 1}))
            .unwrap();
        let live = tab2.packet().await;
        let mut back = SioWs::open(server.addr, "tab 1 again").await;
        back.connect_ns(Some(&json!({"pid": pid, "offset": seen.to_string()})))
            .await;
        let replayed = back.packet().await;
        assert_eq!(replayed, live, "the same bytes, offset included");
        assert_eq!(
            server.hub.metrics().frames_encoded - before,
            1,
            "one encoding for the live recipient and the replay"
        );
    });
}

#[test]
fn a_client_back_before_its_old_transport_was_found_dead_takes_the_connection_over() {
    let server = recovering_server();
    run(async {
        let (mut old, pid) = sio_login(&server, "old transport", &token("ada", "user", None)).await;
        server
            .hub
            .emit_to_user("ada", "cart:moved", &json!({"n": 0}))
            .unwrap();
        let seen = event_with_offset(&old.packet().await).2;
        // The old socket stays open (a half-open connection the server cannot tell
        // from a live one); it neither reads nor closes while the client comes back.
        for n in 1..4 {
            server
                .hub
                .emit_to_user("ada", "cart:moved", &json!({"n": n}))
                .unwrap();
        }
        let mut back = SioWs::open(server.addr, "new transport").await;
        let reply = back
            .connect_ns(Some(&json!({"pid": pid, "offset": seen.to_string()})))
            .await;
        assert!(reply.contains(&pid), "recovered: {reply}");
        for n in 1..4 {
            assert_eq!(event_with_offset(&back.packet().await).1["n"], json!(n));
        }
        send_sentinel(&server.hub, "ada", 1);
        back.sentinel(1).await;
        // The old transport was closed; it may have been handed some frames before.
        while let Ok(packet) = old.packet_or_close().await {
            assert!(packet.starts_with("42"), "{packet}");
        }
        assert_eq!(server.handle.parked_connections(), 0);
    });
}

#[test]
fn a_resumed_connection_can_be_resumed_again() {
    let server = recovering_server();
    run(async {
        let (mut client, pid) = sio_login(&server, "first", &token("ada", "user", None)).await;
        let mut seen = 0;
        for round in 0..3 {
            drop_transport(&server, &mut client.ws, 1).await;
            server
                .hub
                .emit_to_user("ada", "cart:moved", &json!({"n": round}))
                .unwrap();
            client = SioWs::open(server.addr, "again").await;
            let reply = client
                .connect_ns(Some(&json!({"pid": pid, "offset": seen.to_string()})))
                .await;
            assert!(reply.contains(&pid), "round {round}: {reply}");
            let (_, data, offset) = event_with_offset(&client.packet().await);
            assert_eq!(data["n"], json!(round));
            seen = offset;
        }
        send_sentinel(&server.hub, "ada", 1);
        client.sentinel(1).await;
    });
}
