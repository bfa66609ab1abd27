//! A minimal Socket.IO v5 / Engine.IO v4 client over websocket for the server tests:
//! packet parsers, the handshake, authentication and strict event reads.

use std::net::SocketAddr;
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::websocket::{Ws, WsRead};
use super::{SENTINEL, token};

/// Parses an Engine.IO open packet `0{...}`.
pub fn parse_open(packet: &str) -> Value {
    let json = packet
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("expected an open packet, got {packet:?}"));
    serde_json::from_str(json).expect("open packet JSON")
}

/// Parses an event packet `42[name, data]` into its name and data.
pub fn parse_event(packet: &str) -> (String, Value) {
    let json = packet
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("expected an EVENT packet, got {packet:?}"));
    let args: Value = serde_json::from_str(json).expect("event JSON");
    let name = args[0].as_str().expect("event name").to_owned();
    (name, args.get(1).cloned().unwrap_or(Value::Null))
}

/// The `auth` object a browser gives at connect.
pub fn auth(token: &str, page: &str) -> Value {
    json!({"token": token, "page": page})
}

/// A Socket.IO client over a websocket-only Engine.IO session.
pub struct SioWs {
    /// The websocket.
    pub ws: Ws,
    /// The Engine.IO handshake (`0` packet).
    pub open: Value,
    /// Engine.IO pings received (answered when `answer_pings`).
    pub pings: usize,
    /// Whether reads answer server pings with `3` (default true).
    pub answer_pings: bool,
    /// When each ping arrived.
    pub ping_times: Vec<Instant>,
}

impl SioWs {
    /// Opens `/socket.io/?EIO=4&transport=websocket` and reads the open packet.
    pub async fn open(addr: SocketAddr, label: &str) -> Self {
        let ws = Ws::open(addr, "/socket.io/?EIO=4&transport=websocket", label)
            .await
            .expect("engine.io websocket handshake");
        let mut client = Self {
            ws,
            open: Value::Null,
            pings: 0,
            answer_pings: true,
            ping_times: Vec::new(),
        };
        let first = client.ws.text().await;
        client.open = parse_open(&first);
        client
    }

    /// Sends `40` with `auth` and returns the reply (Engine.IO message data).
    pub async fn connect_ns(&mut self, auth: Option<&Value>) -> String {
        let packet = match auth {
            Some(auth) => format!("40{auth}"),
            None => "40".to_owned(),
        };
        self.ws.send_text(packet).await;
        self.packet().await
    }

    /// Opens, connects with a token and consumes `40`, `auth:ok` and `page:snapshot`.
    pub async fn login(addr: SocketAddr, label: &str, token: &str, page: &str) -> Self {
        let mut client = Self::open(addr, label).await;
        let reply = client.connect_ns(Some(&auth(token, page))).await;
        assert!(
            reply.starts_with("40{\"sid\":"),
            "{label}: CONNECT reply {reply:?}"
        );
        let (name, ok) = client.event().await;
        assert_eq!(name, "auth:ok", "{label}: {ok}");
        let (name, _) = client.event().await;
        assert_eq!(name, "page:snapshot", "{label}");
        client
    }

    /// The next Engine.IO packet other than a ping (pings are counted and, when
    /// `answer_pings`, answered). Panics if the connection ends.
    pub async fn packet(&mut self) -> String {
        match self.packet_or_close().await {
            Ok(packet) => packet,
            Err(close) => panic!(
                "{}: expected a packet, connection closed {close:?}",
                self.ws.label()
            ),
        }
    }

    /// The next non-ping packet, or the close (code, reason) if the connection ends.
    pub async fn packet_or_close(&mut self) -> Result<String, Option<(u16, String)>> {
        loop {
            match self.ws.read().await {
                WsRead::Text(text) if text == "2" => {
                    self.pings += 1;
                    self.ping_times.push(Instant::now());
                    if self.answer_pings {
                        self.ws.try_send_text("3").await;
                    }
                }
                WsRead::Text(text) => return Ok(text),
                WsRead::Binary(bytes) => {
                    panic!("{}: unexpected binary frame {bytes:?}", self.ws.label())
                }
                WsRead::Closed(frame) => {
                    return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
            }
        }
    }

    /// The next packet must be an event.
    pub async fn event(&mut self) -> (String, Value) {
        let packet = self.packet().await;
        parse_event(&packet)
    }

    /// The next packet must be the sentinel `n`.
    pub async fn sentinel(&mut self, n: u64) {
        let (name, data) = self.event().await;
        assert_eq!(
            (name.as_str(), &data["n"]),
            (SENTINEL, &json!(n)),
            "{}",
            self.ws.label()
        );
    }

    /// Reads until `n` pings in all were received; any other packet is a failure.
    pub async fn until_pings(&mut self, n: usize) {
        while self.pings < n {
            match self.ws.read().await {
                WsRead::Text(text) if text == "2" => {
                    self.pings += 1;
                    self.ping_times.push(Instant::now());
                    if self.answer_pings {
                        self.ws.send_text("3").await;
                    }
                }
                other => panic!("{}: expected a ping, got {other:?}", self.ws.label()),
            }
        }
    }

    /// Emits `42[name, data]`, or `42<id>[name, data]` with an ack id.
    pub async fn emit(&mut self, name: &str, data: &Value, ack: Option<u64>) {
        let id = ack.map(|id| id.to_string()).unwrap_or_default();
        self.ws
            .send_text(format!("42{id}{}", json!([name, data])))
            .await;
    }

    /// The connection must end now (no packet first); returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        match self.packet_or_close().await {
            Ok(packet) => panic!(
                "{}: expected the session to close, got {packet:?}",
                self.ws.label()
            ),
            Err(close) => close.map(|(code, _)| code),
        }
    }
}
