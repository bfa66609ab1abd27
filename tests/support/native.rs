//! A native `/ws` protocol client for the server tests, over [`Ws`](super::Ws).

use std::net::SocketAddr;

use futures_util::SinkExt;
use serde_json::{Value, json};

use super::websocket::Ws;
use super::{SENTINEL, token};

/// A native `/ws` client.
pub struct Native {
    /// The websocket.
    pub ws: Ws,
}

impl Native {
    /// Opens `/ws`.
    pub async fn open(addr: SocketAddr, label: &str) -> Self {
        let ws = Ws::open(addr, "/ws", label)
            .await
            .expect("native handshake");
        Self { ws }
    }

    /// Opens `/ws` and authenticates with `token` on `page`; consumes `auth:ok` and
    /// `page:snapshot`.
    pub async fn login(addr: SocketAddr, label: &str, token: &str, page: &str) -> Self {
        let mut client = Self::open(addr, label).await;
        client
            .send(
                "client:authenticate",
                &json!({"token": token, "page": page}),
            )
            .await;
        let (name, ok) = client.event().await;
        assert_eq!(name, "auth:ok", "{label}: {ok}");
        let (name, _) = client.event().await;
        assert_eq!(name, "page:snapshot", "{label}");
        client
    }

    /// Sends `{"event","data"}`.
    pub async fn send(&mut self, event: &str, data: &Value) {
        self.ws
            .send_text(json!({"event": event, "data": data}).to_string())
            .await;
    }

    /// The next frame, which must be an event: its name and data.
    pub async fn event(&mut self) -> (String, Value) {
        let text = self.ws.text().await;
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: frame is not JSON ({e}): {text}", self.ws.label()));
        let name = value["event"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: frame without event: {text}", self.ws.label()))
            .to_owned();
        (name, value["data"].clone())
    }

    /// The next frame must be the sentinel `n`.
    pub async fn sentinel(&mut self, n: u64) {
        let (name, data) = self.event().await;
        assert_eq!(
            (name.as_str(), &data["n"]),
            (SENTINEL, &json!(n)),
            "{}",
            self.ws.label()
        );
    }
}
