//! A websocket client for the server tests: open, send, and strict reads that await a
//! frame for at most [`WAIT`](super::WAIT) and name what they expected.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::server::within;

/// What a websocket read produced.
#[derive(Debug)]
pub enum WsRead {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// The connection ended: the close frame if the server sent one.
    Closed(Option<CloseFrame>),
}

/// A plain websocket client.
pub struct Ws {
    inner: WebSocketStream<TcpStream>,
    label: String,
}

impl Ws {
    /// Opens a websocket to `path_and_query`; the error carries a refused HTTP answer.
    pub async fn open(
        addr: SocketAddr,
        path_and_query: &str,
        label: &str,
    ) -> Result<Self, tungstenite::Error> {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        let url = format!("ws://{addr}{path_and_query}");
        let (inner, _) = within(
            &format!("{label}: websocket handshake"),
            tokio_tungstenite::client_async(url, stream),
        )
        .await?;
        Ok(Self {
            inner,
            label: label.to_owned(),
        })
    }

    /// The HTTP status a refused websocket handshake got.
    pub async fn refused_status(addr: SocketAddr, path_and_query: &str) -> u16 {
        match Self::open(addr, path_and_query, "refused").await {
            Ok(_) => panic!("websocket to {path_and_query} was accepted"),
            Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(other) => panic!("websocket to {path_and_query} failed oddly: {other}"),
        }
    }

    /// This client's label (for messages).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.inner
            .send(Message::Text(text.into()))
            .await
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.label));
    }

    /// Sends a text frame, tolerating a server that already closed.
    pub async fn try_send_text(&mut self, text: impl Into<String>) -> bool {
        let text: String = text.into();
        self.inner.send(Message::Text(text.into())).await.is_ok()
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.inner
            .send(Message::Binary(bytes.into()))
            .await
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.label));
    }

    /// Closes the websocket from the client side.
    pub async fn close(&mut self) {
        let _ = self.inner.close(None).await;
    }

    /// The next data frame or the end of the connection (websocket pings are answered
    /// by tungstenite and skipped).
    pub async fn read(&mut self) -> WsRead {
        let label = format!("{}: next websocket frame", self.label);
        within(&label, async {
            loop {
                match self.inner.next().await {
                    Some(Ok(Message::Text(text))) => return WsRead::Text(text.to_string()),
                    Some(Ok(Message::Binary(bytes))) => return WsRead::Binary(bytes.to_vec()),
                    Some(Ok(Message::Close(frame))) => return WsRead::Closed(frame),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return WsRead::Closed(None),
                }
            }
        })
        .await
    }

    /// The next frame, which must be text.
    pub async fn text(&mut self) -> String {
        match self.read().await {
            WsRead::Text(text) => text,
            other => panic!("{}: expected a text frame, got {other:?}", self.label),
        }
    }

    /// The next frame must be the server's close; returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        match self.read().await {
            WsRead::Closed(Some(frame)) => (u16::from(frame.code), frame.reason.to_string()),
            other => panic!(
                "{}: expected a close frame from the server, got {other:?}",
                self.label
            ),
        }
    }
}
