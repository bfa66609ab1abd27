//! The origin policy over real sockets: a browser `Origin` that is neither the request's
//! own host nor configured is refused with 403 and Engine.IO's `Forbidden` body before
//! any session exists, on the polling handshake, the websocket handshake, the upgrade
//! of a polling session and the native `/ws`, and counted as `bad_input{kind="origin"}`;
//! a request without `Origin` (devices, servers) is unaffected. A logged-in client on
//! the same server keeps receiving its events throughout (sentinel).

use std::net::SocketAddr;

use crate::support::*;
use microcoaster_realtime::BadInputKind;
use microcoaster_realtime::transport::server::{Cors, ServerConfig};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, http::HeaderValue};

const EVIL: &str = "https://evil.example";

/// One `GET` with an `Origin` header on its own connection: the status and the body.
async fn get_with_origin(addr: SocketAddr, target: &str, origin: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut reply = String::new();
    within("reply", stream.read_to_string(&mut reply))
        .await
        .expect("read");
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad reply {reply:?}"));
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

/// A websocket handshake with `Origin`: `Ok(())` when accepted, else the HTTP status.
async fn websocket_with_origin(addr: SocketAddr, target: &str, origin: &str) -> Result<(), u16> {
    let stream = TcpStream::connect(addr).await.expect("tcp connect");
    let mut request = format!("ws://{addr}{target}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(origin).unwrap());
    match within(
        "handshake",
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("websocket to {target} failed oddly: {other}"),
    }
}

const POLLING: &str = "/socket.io/?EIO=4&transport=polling";
const WEBSOCKET: &str = "/socket.io/?EIO=4&transport=websocket";

#[test]
fn a_foreign_origin_is_refused_on_every_handshake_and_counted() {
    let server = serve(builder().build().unwrap(), config());
    let addr = server.addr;
    run(async {
        let mut legit = SioWs::login(addr, "legit", &token("u9", "user", None), "modules").await;
        let (status, body) = get_with_origin(addr, POLLING, EVIL).await;
        assert_eq!(status, 403, "polling handshake: {body}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!({"code": 4, "message": "Forbidden"})
        );
        assert_eq!(websocket_with_origin(addr, WEBSOCKET, EVIL).await, Err(403));
        assert_eq!(websocket_with_origin(addr, "/ws", EVIL).await, Err(403));
        // The upgrade of a session opened without an Origin (a device) by a page.
        let polling = SioPolling::open(addr, "polling").await;
        let upgrade = format!("{WEBSOCKET}&sid={}", polling.sid);
        assert_eq!(websocket_with_origin(addr, &upgrade, EVIL).await, Err(403));
        assert_eq!(server.hub.metrics().bad_inputs(BadInputKind::Origin), 4);
        assert_eq!(
            server.handle.connections(),
            2,
            "no session was opened for a refused origin"
        );
        send_sentinel(&server.hub, "u9", 1);
        legit.sentinel(1).await;
    });
}

#[test]
fn the_same_origin_and_listed_origins_are_allowed() {
    let cfg = ServerConfig {
        cors: Cors::Origins(vec!["https://app.example".into()]),
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    let addr = server.addr;
    run(async {
        let own = format!("http://{addr}");
        let (status, body) = get_with_origin(addr, POLLING, &own).await;
        assert_eq!(status, 200, "same origin over polling: {body}");
        assert_eq!(websocket_with_origin(addr, WEBSOCKET, &own).await, Ok(()));
        assert_eq!(websocket_with_origin(addr, "/ws", &own).await, Ok(()));
        let listed = "https://app.example";
        assert_eq!(websocket_with_origin(addr, WEBSOCKET, listed).await, Ok(()));
        let (status, _) = get_with_origin(addr, POLLING, listed).await;
        assert_eq!(status, 200);
        // A listed host on another port or scheme is another origin.
        assert_eq!(
            websocket_with_origin(addr, WEBSOCKET, "https://app.example:8443").await,
            Err(403)
        );
        assert_eq!(websocket_with_origin(addr, "/ws", EVIL).await, Err(403));
        assert_eq!(server.hub.metrics().bad_inputs(BadInputKind::Origin), 2);
    });
}

#[test]
fn any_origin_allows_every_page() {
    let cfg = ServerConfig {
        cors: Cors::Any,
        ..config()
    };
    let server = serve(builder().build().unwrap(), cfg);
    run(async {
        assert_eq!(
            websocket_with_origin(server.addr, WEBSOCKET, EVIL).await,
            Ok(())
        );
        let (status, _) = get_with_origin(server.addr, POLLING, EVIL).await;
        assert_eq!(status, 200);
        assert_eq!(server.hub.metrics().bad_inputs(BadInputKind::Origin), 0);
    });
}
