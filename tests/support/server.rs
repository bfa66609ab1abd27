//! Helpers for the server-transport tests (`tests/server_*.rs`): a hub served on
//! `127.0.0.1:0`, a minimal Socket.IO v5 / Engine.IO v4 client over websocket and over
//! HTTP long-polling, a native `/ws` client, and a hand-written HTTP/1.1 client.
//!
//! Nothing here sleeps to synchronise: every read awaits a frame with a generous
//! timeout ([`WAIT`]) and panics with a label when it does not come; conditions that
//! have no frame to await (a counter, the server's connection count) are polled with
//! [`eventually`], which also fails after [`WAIT`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use microcoaster_realtime::transport::server::{ServerConfig, ServerHandle};
use microcoaster_realtime::{Hub, HubBuilder};
use serde_json::{Value, json};

use super::{SENTINEL, builder, token};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long any awaited frame or condition may take (generous: CI machines are noisy).
pub const WAIT: Duration = Duration::from_secs(5);

/// A hub served on an ephemeral port.
pub struct Server {
    /// The hub (clone of the served one).
    pub hub: Hub,
    /// The running server; dropping it shuts the server down.
    pub handle: ServerHandle,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Serves `hub` on `127.0.0.1:0` with `config`.
pub fn serve(hub: Hub, config: ServerConfig) -> Server {
    let handle = hub.serve("127.0.0.1:0", config).expect("server starts");
    let addr = handle.local_addr();
    Server { hub, handle, addr }
}

/// The test config: defaults, except that dropping the server at the end of a test
/// waits at most 1 s for polling sessions whose client stopped polling.
pub fn config() -> ServerConfig {
    ServerConfig {
        shutdown_deadline: Duration::from_secs(1),
        ..ServerConfig::default()
    }
}

/// Runs the client side of a test on its own runtime (the server has its own).
pub fn run<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
        .block_on(future)
}

/// Awaits `future` for at most [`WAIT`], panicking with `what` otherwise.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Polls `condition` until it holds, for at most [`WAIT`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends the sentinel to `user` through the normal routing path.
pub fn send_sentinel(hub: &Hub, user: &str, n: u64) {
    hub.emit_to_user(user, SENTINEL, &json!({"n": n}))
        .expect("sentinel emit");
}

/// Emits 32 KiB `bulk:data` events `{n}` to `user` one at a time, each once the
/// server's writer took the previous one (a drain records one delivery latency), until
/// the writer stalls for 1 s because the client does not read; returns how many were
/// emitted (`n` = 0, 1, …). Call it while nothing else is being delivered (it watches
/// the delivery-latency count).
pub async fn emit_until_writer_stalls(hub: &Hub, user: &str) -> u64 {
    let chunk = "x".repeat(32 * 1024);
    let mut sent = 0u64;
    loop {
        assert!(
            sent < 10_000,
            "the writer never stalled after {sent} frames"
        );
        let before = hub.metrics().delivery_latency.count;
        hub.emit_to_user(user, "bulk:data", &json!({"n": sent, "chunk": chunk}))
            .expect("bulk emit");
        sent += 1;
        let taken = tokio::time::timeout(Duration::from_secs(1), async {
            while hub.metrics().delivery_latency.count == before {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        if taken.is_err() {
            return sent;
        }
    }
}

// ----- websocket ------------------------------------------------------------------

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

// ----- native protocol ---------------------------------------------------------------

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
            .unwrap_or_else(|e| panic!("{}: frame is not JSON ({e}): {text}", self.ws.label));
        let name = value["event"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: frame without event: {text}", self.ws.label))
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
            self.ws.label
        );
    }
}

// ----- Socket.IO over websocket ---------------------------------------------------

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
                self.ws.label
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
                    panic!("{}: unexpected binary frame {bytes:?}", self.ws.label)
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
            self.ws.label
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
                other => panic!("{}: expected a ping, got {other:?}", self.ws.label),
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
                self.ws.label
            ),
            Err(close) => close.map(|(code, _)| code),
        }
    }
}

// ----- HTTP and Socket.IO over long-polling ------------------------------------------

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl HttpReply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The Engine.IO packets of a polling payload.
    pub fn packets(&self) -> Vec<String> {
        assert_eq!(self.status, 200, "poll failed: {self:?}");
        self.body.split('\x1e').map(str::to_owned).collect()
    }

    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 connection, kept alive across requests.
pub struct HttpConn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl HttpConn {
    /// Connects.
    pub async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        Self {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        }
    }

    /// Sends one request and reads its answer (for at most [`WAIT`]).
    pub async fn request(&mut self, method: &str, target: &str, body: Option<&str>) -> HttpReply {
        let what = format!("{method} {target}");
        within(&what, self.exchange(method, target, body)).await
    }

    async fn exchange(&mut self, method: &str, target: &str, body: Option<&str>) -> HttpReply {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(body) = body {
            head.push_str("Content-Type: text/plain;charset=UTF-8\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.expect("write head");
        if let Some(body) = body {
            stream.write_all(body.as_bytes()).await.expect("write body");
        }
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?} for {method} {target}"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.expect("header line");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no content-length in {headers:?}"));
        let mut bytes = vec![0; length];
        self.stream.read_exact(&mut bytes).await.expect("body");
        HttpReply {
            status,
            headers,
            body: String::from_utf8(bytes).expect("UTF-8 body"),
        }
    }
}

/// One request on a fresh connection.
pub async fn http(addr: SocketAddr, method: &str, target: &str, body: Option<&str>) -> HttpReply {
    HttpConn::open(addr)
        .await
        .request(method, target, body)
        .await
}

/// A Socket.IO client over an Engine.IO long-polling session. GETs use one kept-alive
/// connection (as browsers do); POSTs use their own.
pub struct SioPolling {
    addr: SocketAddr,
    /// The Engine.IO session id.
    pub sid: String,
    /// The handshake (`0` packet).
    pub open: Value,
    gets: HttpConn,
    buffer: VecDeque<String>,
    label: String,
    /// Whether reads answer server pings with `3` (default true).
    pub answer_pings: bool,
    /// Pings received.
    pub pings: usize,
}

impl SioPolling {
    /// The polling URL of session `sid`.
    pub fn target(sid: &str) -> String {
        format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
    }

    /// The handshake GET.
    pub async fn open(addr: SocketAddr, label: &str) -> Self {
        let mut gets = HttpConn::open(addr).await;
        let reply = gets
            .request("GET", "/socket.io/?EIO=4&transport=polling", None)
            .await;
        assert_eq!(reply.status, 200, "{label}: handshake {reply:?}");
        let open = parse_open(&reply.body);
        Self {
            addr,
            sid: open["sid"].as_str().expect("sid").to_owned(),
            open,
            gets,
            buffer: VecDeque::new(),
            label: label.to_owned(),
            answer_pings: true,
            pings: 0,
        }
    }

    /// Opens, POSTs `40{auth}` and consumes `40`, `auth:ok` and `page:snapshot`.
    pub async fn login(addr: SocketAddr, label: &str, token: &str, page: &str) -> Self {
        let mut client = Self::open(addr, label).await;
        client.post(&[&format!("40{}", auth(token, page))]).await;
        let reply = client.packet().await;
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

    /// POSTs `packets` as one payload; the answer must be `200 ok`.
    pub async fn post(&self, packets: &[&str]) {
        let reply = self.post_raw(&packets.join("\x1e")).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "ok"),
            "{}",
            self.label
        );
    }

    /// POSTs a raw body.
    pub async fn post_raw(&self, body: &str) -> HttpReply {
        http(self.addr, "POST", &Self::target(&self.sid), Some(body)).await
    }

    /// One GET on the kept-alive connection.
    pub async fn poll(&mut self) -> HttpReply {
        let target = Self::target(&self.sid);
        self.gets.request("GET", &target, None).await
    }

    /// The next packet other than a ping (polling as needed; pings are answered when
    /// `answer_pings`).
    pub async fn packet(&mut self) -> String {
        loop {
            while let Some(packet) = self.buffer.pop_front() {
                if packet == "2" {
                    self.pings += 1;
                    if self.answer_pings {
                        self.post(&["3"]).await;
                    }
                    continue;
                }
                return packet;
            }
            let reply = self.poll().await;
            assert_eq!(reply.status, 200, "{}: poll {reply:?}", self.label);
            self.buffer.extend(reply.packets());
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
            self.label
        );
    }

    /// The session is over: the next poll answers the close `1` (then the session is
    /// unknown), or the session was already forgotten (`400`, code 1).
    pub async fn gone(&mut self) {
        if let Some(packet) = self.buffer.pop_front() {
            assert_eq!(packet, "1", "{}: expected the close packet", self.label);
        } else {
            let reply = self.poll().await;
            if reply.status == 400 {
                assert_eq!(reply.json()["code"], json!(1), "{}: {reply:?}", self.label);
                return;
            }
            assert_eq!(reply.packets(), vec!["1".to_owned()], "{}", self.label);
        }
        let reply = self.poll().await;
        assert_eq!(
            (reply.status, &reply.json()["code"]),
            (400, &json!(1)),
            "{}: the session must be forgotten",
            self.label
        );
    }

    /// The next packet must be the Engine.IO close `1`, after which the session is gone.
    pub async fn closed(&mut self) {
        let packet = self.packet().await;
        assert_eq!(packet, "1", "{}: expected the close packet", self.label);
        let reply = self.poll().await;
        assert_eq!(
            (reply.status, &reply.json()["code"]),
            (400, &json!(1)),
            "{}: the session must be forgotten",
            self.label
        );
    }
}
