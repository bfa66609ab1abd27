//! Per-client limits over real sockets: handshakes per second per remote IP (429), the
//! size of a request's header block (the connection is closed) and the time to send it (slow-loris: the
//! connection is closed), and one long poll in flight per session (a second concurrent
//! `GET` gets 400 and ends the session), open connections per remote IP (429 until one
//! closes) and per user (`auth:error` / CONNECT_ERROR `too_many_connections`, then a
//! close). Each is counted in `bad_input`, and a logged-in client on the same server
//! keeps receiving its events (sentinel).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::*;
use microcoaster_realtime::BadInputKind;
use microcoaster_realtime::transport::server::ServerConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head` on a fresh connection and reads until the server closes it: the status
/// (`None` when it closed without answering). The answer is read while the head is
/// still being written: a server that refuses a head it did not read whole resets the
/// connection after its answer, and a reset discards what the client had not read.
async fn raw(addr: SocketAddr, head: &[u8]) -> Option<u16> {
    let stream = TcpStream::connect(addr).await.expect("tcp connect");
    let (mut reader, mut writer) = stream.into_split();
    let read = tokio::spawn(async move {
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
        }
        reply
    });
    let _ = writer.write_all(head).await;
    let reply = within("server closes", read).await.expect("reader");
    let reply = String::from_utf8_lossy(&reply);
    reply.split_whitespace().nth(1).and_then(|s| s.parse().ok())
}

fn polling_handshake(addr: SocketAddr) -> String {
    format!(
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
}

#[test]
fn handshakes_past_the_per_ip_rate_get_429() {
    let cfg = ServerConfig {
        handshakes_per_second: 5.0,
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    let addr = server.addr;
    run(async {
        let mut legit = SioWs::login(addr, "legit", &token("u9", "user", None), "modules").await;
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(raw(addr, polling_handshake(addr).as_bytes()).await);
        }
        let refused = statuses.iter().filter(|s| **s == Some(429)).count();
        let accepted = statuses.iter().filter(|s| **s == Some(200)).count();
        assert_eq!(refused + accepted, 30, "{statuses:?}");
        assert!((4..=8).contains(&accepted), "a burst of 5: {statuses:?}");
        let ws = Ws::refused_status(addr, "/ws").await;
        assert_eq!(ws, 429, "the native endpoint shares the bucket");
        let counted = server.hub.metrics().bad_inputs(BadInputKind::HandshakeRate);
        assert_eq!(counted, refused as u64 + 1);
        send_sentinel(&server.hub, "u9", 1);
        legit.sentinel(1).await;
    });
}

#[test]
fn an_oversized_header_block_closes_the_connection() {
    let cfg = ServerConfig {
        max_header_bytes: 16 * 1024,
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    let addr = server.addr;
    run(async {
        let mut legit = SioWs::login(addr, "legit", &token("u9", "user", None), "modules").await;
        let head = format!(
            "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(20 * 1024)
        );
        // hyper stops reading and closes the connection without an answer.
        assert_eq!(raw(addr, head.as_bytes()).await, None);
        let under = format!(
            "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "p".repeat(8 * 1024)
        );
        assert_eq!(raw(addr, under.as_bytes()).await, Some(200));
        eventually("counted", || {
            server
                .hub
                .metrics()
                .bad_inputs(BadInputKind::HeaderTooLarge)
                == 1
        })
        .await;
        send_sentinel(&server.hub, "u9", 1);
        legit.sentinel(1).await;
    });
}

#[test]
fn a_slow_loris_is_cut_off_at_the_header_timeout() {
    let cfg = ServerConfig {
        header_timeout: Duration::from_millis(600),
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    let addr = server.addr;
    run(async {
        let mut legit = SioWs::login(addr, "legit", &token("u9", "user", None), "modules").await;
        let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
        let started = Instant::now();
        let head = polling_handshake(addr);
        let mut closed = false;
        // One byte every 100 ms: the head would take seconds.
        for byte in head.as_bytes() {
            if stream.write_all(&[*byte]).await.is_err() {
                closed = true;
                break;
            }
            let mut buf = [0u8; 64];
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(_)) => panic!("answered a request never finished"),
                Err(_) => {}
            }
        }
        let took = started.elapsed();
        assert!(closed, "the server never cut the slow client off");
        assert!(
            took >= Duration::from_millis(500),
            "cut too early: {took:?}"
        );
        assert!(took < Duration::from_secs(3), "cut too late: {took:?}");
        eventually("counted", || {
            server.hub.metrics().bad_inputs(BadInputKind::HeaderTimeout) == 1
        })
        .await;
        send_sentinel(&server.hub, "u9", 1);
        legit.sentinel(1).await;
    });
}

#[test]
fn a_second_concurrent_poll_ends_the_session() {
    let server = serve(builder().build().unwrap(), config());
    let addr = server.addr;
    run(async {
        let mut legit = SioWs::login(addr, "legit", &token("u9", "user", None), "modules").await;
        let polling = SioPolling::open(addr, "polling").await;
        let target = SioPolling::target(&polling.sid);
        // Two GETs at once on two connections, nothing queued: whichever arrives
        // second is refused and ends the session, which answers the pending one.
        let (mut one, mut two) = (HttpConn::open(addr).await, HttpConn::open(addr).await);
        let (a, b) = tokio::join!(
            one.request("GET", &target, None),
            two.request("GET", &target, None)
        );
        let refused: Vec<_> = [&a, &b].into_iter().filter(|r| r.status == 400).collect();
        assert_eq!(refused.len(), 1, "{a:?} {b:?}");
        assert_eq!(refused[0].json()["code"], 3);
        assert_eq!(server.hub.metrics().bad_inputs(BadInputKind::Protocol), 1);
        send_sentinel(&server.hub, "u9", 1);
        legit.sentinel(1).await;
    });
}

/// A polling handshake that says it was forwarded for `client`.
fn forwarded_handshake(addr: SocketAddr, client: &str) -> String {
    format!(
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nX-Forwarded-For: {client}\r\nConnection: close\r\n\r\n"
    )
}

#[test]
fn x_forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let trusted = ServerConfig {
        handshakes_per_second: 1.0,
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..config()
    };
    let server = serve(builder().build().unwrap(), trusted);
    let addr = server.addr;
    run(async {
        // Each forwarded client has its own bucket of one.
        for client in ["203.0.113.1", "203.0.113.2", "198.51.100.7, 203.0.113.3"] {
            let head = forwarded_handshake(addr, client);
            assert_eq!(raw(addr, head.as_bytes()).await, Some(200), "{client}");
        }
        let again = forwarded_handshake(addr, "203.0.113.1");
        assert_eq!(raw(addr, again.as_bytes()).await, Some(429));
    });
    let untrusted = ServerConfig {
        handshakes_per_second: 1.0,
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..config()
    };
    let server = serve(builder().build().unwrap(), untrusted);
    let addr = server.addr;
    run(async {
        // The peer is no trusted proxy: the header is ignored, one bucket for all.
        let first = forwarded_handshake(addr, "203.0.113.1");
        assert_eq!(raw(addr, first.as_bytes()).await, Some(200));
        let second = forwarded_handshake(addr, "203.0.113.2");
        assert_eq!(raw(addr, second.as_bytes()).await, Some(429));
    });
}

#[test]
fn open_connections_past_the_per_ip_limit_get_429_until_one_closes() {
    let cfg = ServerConfig {
        max_connections_per_ip: 3,
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    let addr = server.addr;
    run(async {
        let mut legit = SioWs::login(addr, "legit", &token("u9", "user", None), "modules").await;
        // Polling sessions stay open after their handshake: three fill 203.0.113.1.
        let attacker = forwarded_handshake(addr, "203.0.113.1");
        for _ in 0..3 {
            assert_eq!(raw(addr, attacker.as_bytes()).await, Some(200));
        }
        assert_eq!(raw(addr, attacker.as_bytes()).await, Some(429));
        let other = forwarded_handshake(addr, "203.0.113.2");
        assert_eq!(raw(addr, other.as_bytes()).await, Some(200), "own count");
        // 127.0.0.1 holds `legit`; two native sockets fill it, the next is refused.
        let mut a = Native::open(addr, "a").await;
        let _b = Native::open(addr, "b").await;
        assert_eq!(Ws::refused_status(addr, "/ws").await, 429);
        a.ws.close().await;
        within("the closed socket's slot is given back", async {
            while Ws::open(addr, "/ws", "c").await.is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let counted = server.hub.metrics();
        assert!(counted.bad_inputs(BadInputKind::ConnectionsPerIp) >= 2);
        send_sentinel(&server.hub, "u9", 1);
        legit.sentinel(1).await;
    });
}

#[test]
fn connections_past_the_per_user_limit_are_refused_and_closed() {
    let server = serve(
        builder().max_connections_per_user(2).build().unwrap(),
        config(),
    );
    let addr = server.addr;
    run(async {
        let user = token("u1", "user", None);
        let mut first = SioWs::login(addr, "first", &user, "modules").await;
        let mut second = Native::login(addr, "second", &user, "modules").await;
        // Native: `auth:error` with the code, then close 4004.
        let mut third = Native::open(addr, "third").await;
        let login = json!({"token": user, "page": "modules"});
        third.send("client:authenticate", &login).await;
        let (name, error) = third.event().await;
        assert_eq!(name, "auth:error", "{error}");
        assert_eq!(error["code"], "too_many_connections");
        let closed = third.ws.closed().await;
        assert_eq!(closed, (4004, "too_many_connections".to_owned()));
        // Socket.IO: CONNECT_ERROR with the code, then the session ends.
        let mut fourth = SioWs::open(addr, "fourth").await;
        let reply = fourth.connect_ns(Some(&auth(&user, "modules"))).await;
        assert!(reply.starts_with("44"), "{reply}");
        assert!(reply.contains("too_many_connections"), "{reply}");
        fourth.closed().await;
        let counted = server.hub.metrics();
        assert_eq!(counted.bad_inputs(BadInputKind::ConnectionsPerUser), 2);
        // Another user is not affected; the user's own connections still receive.
        let mut other = SioWs::login(addr, "other", &token("u2", "user", None), "modules").await;
        send_sentinel(&server.hub, "u1", 1);
        first.sentinel(1).await;
        second.sentinel(1).await;
        send_sentinel(&server.hub, "u2", 2);
        other.sentinel(2).await;
        // A closed connection gives its slot back.
        second.ws.close().await;
        within("the user's slot is given back", async {
            loop {
                let mut next = Native::open(addr, "next").await;
                next.send("client:authenticate", &login).await;
                if next.event().await.0 == "auth:ok" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    });
}
