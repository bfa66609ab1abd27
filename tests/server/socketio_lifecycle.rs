//! The Engine.IO session's life over real sockets on 127.0.0.1 (DESIGN §8): server
//! pings and closes a session that does not answer, bad requests get HTTP 400 with
//! Engine.IO codes, a stalled websocket never delays the others, and a graceful
//! shutdown delivers everything emitted before it.

use std::time::{Duration, Instant};

use crate::support::*;
use microcoaster_realtime::EmitOutcome;
use microcoaster_realtime::transport::server::ServerConfig;
use serde_json::{Value, json};

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
