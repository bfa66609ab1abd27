//! The Socket.IO clients: Engine.IO v4 / Socket.IO v5 over a websocket, spoken directly.
//!
//! One task per client on the load generator's single thread: open a TCP connection
//! from its source address (`limits::source_addresses`), open
//! `/socket.io/?EIO=4&transport=websocket` on it, read the `0{…}` open packet, send
//! `40{"token":…,"page":…}`, read `40{sid}`, `auth:ok` and `page:snapshot` (the client is
//! then *ready*), answer every ping `2` with `3`, and record each bench event's sequence
//! number and delivery latency in the shared [`Recorder`].

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::model::{KINDS, Kind};

/// Microseconds since the Unix epoch (the clock of every `sentAt`).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as u64)
}

/// What one client received.
#[derive(Default)]
pub struct Inbox {
    /// Sequence numbers received, per [`Kind`].
    pub seqs: [Vec<u32>; KINDS],
    pub ready: bool,
}

/// Everything the clients observed, shared by all client tasks (one thread).
pub struct Recorder {
    pub inboxes: Vec<Inbox>,
    /// Deliveries received, per [`Kind`].
    pub delivered: [u64; KINDS],
    /// Delivery latencies (µs) of the events received while `measuring`.
    pub latencies_us: Vec<u32>,
    pub measuring: bool,
    /// When the last bench event arrived (the end of a burst's delivery window).
    pub last_delivery: Option<std::time::Instant>,
    pub ready: u32,
    /// Clients that failed to connect or authenticate.
    pub failed: u32,
    /// Clients whose connection ended before the run did.
    pub closed_early: u32,
    /// Set before the server is stopped: closes are expected from then on.
    pub stopping: bool,
    /// Events no bench scenario sends, or bench events that could not be read.
    pub unexpected: u64,
    /// The first few problems, for the report.
    pub problems: Vec<String>,
}

pub type Shared = Rc<RefCell<Recorder>>;

impl Recorder {
    pub fn new(connections: u32) -> Shared {
        Rc::new(RefCell::new(Self {
            inboxes: (0..connections).map(|_| Inbox::default()).collect(),
            delivered: [0; KINDS],
            latencies_us: Vec::new(),
            measuring: false,
            last_delivery: None,
            ready: 0,
            failed: 0,
            closed_early: 0,
            stopping: false,
            unexpected: 0,
            problems: Vec::new(),
        }))
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < 10 {
            self.problems.push(text);
        }
    }

    /// Records one `42[...]` event; returns whether this made the client ready.
    fn on_event(&mut self, connection: u32, json: &str) -> bool {
        let received_at = now_us();
        let Ok(Incoming(name, payload)) = serde_json::from_str::<Incoming<'_>>(json) else {
            self.unexpected += 1;
            self.problem(format!("client {connection}: unreadable event {json:.200}"));
            return false;
        };
        let marked = match name.as_ref() {
            "auth:ok" => return false,
            "page:snapshot" => {
                let inbox = &mut self.inboxes[connection as usize];
                if inbox.ready {
                    return false;
                }
                inbox.ready = true;
                self.ready += 1;
                return true;
            }
            "bench:admin" => payload
                .seq
                .map(|seq| (Kind::AdminBroadcast, seq, payload.sent_at)),
            "admin:action" => payload
                .details
                .and_then(|d| Some((Kind::AdminBroadcast, d.seq?, d.sent_at))),
            "system:maintenance" => payload.message.as_deref().and_then(|message| {
                let mut words = message.split_whitespace().skip(1);
                let seq = words.next()?.parse().ok()?;
                let sent_at = words.next().and_then(|w| w.parse().ok());
                Some((Kind::All, seq, sent_at))
            }),
            "bench:user" => payload
                .seq
                .map(|seq| (Kind::Telemetry, seq, payload.sent_at)),
            "module:telemetry:updated" => payload
                .telemetry
                .and_then(|t| Some((Kind::Telemetry, t.seq?, t.sent_at))),
            "user:module:added" | "admin:module:added" => {
                let kind = if name.starts_with("user:") {
                    Kind::UserModuleAdded
                } else {
                    Kind::AdminModuleAdded
                };
                payload
                    .module
                    .and_then(|m| module_user(m.module_id.as_deref()?))
                    .map(|user| (kind, user, None))
            }
            "module:status:changed" => module_user(payload.module_id.as_deref().unwrap_or(""))
                .map(|user| (Kind::StatusChanged, user, None)),
            _ => None,
        };
        let Some((kind, seq, sent_at)) = marked else {
            self.unexpected += 1;
            self.problem(format!("client {connection}: unexpected event {json:.200}"));
            return false;
        };
        self.inboxes[connection as usize].seqs[kind.index()].push(seq);
        self.delivered[kind.index()] += 1;
        self.last_delivery = Some(std::time::Instant::now());
        if self.measuring
            && let Some(sent_at) = sent_at
        {
            let latency = received_at.saturating_sub(sent_at);
            self.latencies_us
                .push(u32::try_from(latency).unwrap_or(u32::MAX));
        }
        false
    }
}

/// The module id of user `u` (every user owns one module).
pub fn module_id(user: u32) -> String {
    format!("MC-{user}-STN")
}

fn module_user(module_id: &str) -> Option<u32> {
    module_id
        .strip_prefix("MC-")?
        .strip_suffix("-STN")?
        .parse()
        .ok()
}

#[derive(Deserialize)]
struct Incoming<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>, Payload);

#[derive(Deserialize, Default)]
#[serde(default)]
struct Payload {
    seq: Option<u32>,
    #[serde(rename = "sentAt")]
    sent_at: Option<u64>,
    details: Option<Marks>,
    telemetry: Option<Marks>,
    message: Option<String>,
    #[serde(rename = "moduleId")]
    module_id: Option<String>,
    module: Option<ModuleRef>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Marks {
    seq: Option<u32>,
    #[serde(rename = "sentAt")]
    sent_at: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ModuleRef {
    #[serde(rename = "moduleId")]
    module_id: Option<String>,
}

/// Where one client connects, and from where.
#[derive(Clone)]
pub struct Endpoint {
    /// `ws://host:port/socket.io/?EIO=4&transport=websocket`.
    pub url: String,
    /// The server's address (the URL's host and port, resolved).
    pub server: SocketAddr,
    /// The local address to connect from (`None`: the system chooses).
    pub source: Option<IpAddr>,
}

impl Endpoint {
    /// A TCP connection to the server from the source address, without Nagle.
    async fn open(&self) -> std::io::Result<TcpStream> {
        let socket = match self.server {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(source) = self.source {
            // Port 0: an ephemeral port of this address's own range.
            socket.bind(SocketAddr::new(source, 0))?;
        }
        let stream = socket.connect(self.server).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Runs one client until its connection ends; `permit` (the connect concurrency slot)
/// is released once it is ready or has failed.
pub async fn run(
    connection: u32,
    endpoint: Endpoint,
    auth: String,
    recorder: Shared,
    permit: OwnedSemaphorePermit,
) {
    let mut permit = Some(permit);
    let outcome = session(connection, &endpoint, &auth, &recorder, &mut permit).await;
    let mut recorder = recorder.borrow_mut();
    let ready = recorder.inboxes[connection as usize].ready;
    match outcome {
        Err(error) if !ready => {
            recorder.failed += 1;
            recorder.problem(format!("client {connection}: {error}"));
        }
        _ if recorder.stopping => {}
        outcome => {
            recorder.closed_early += 1;
            let why = outcome
                .err()
                .unwrap_or_else(|| "closed by the server".into());
            recorder.problem(format!("client {connection} lost its connection: {why}"));
        }
    }
}

async fn session(
    connection: u32,
    endpoint: &Endpoint,
    auth: &str,
    recorder: &Shared,
    permit: &mut Option<OwnedSemaphorePermit>,
) -> Result<(), String> {
    // Small buffers: tungstenite allocates (and zero-fills) its read buffer eagerly.
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let stream = endpoint.open().await.map_err(|e| match endpoint.source {
        Some(source) => format!("connect from {source}: {e}"),
        None => format!("connect: {e}"),
    })?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(endpoint.url.as_str(), stream, Some(config))
            .await
            .map_err(|e| format!("websocket handshake: {e}"))?;
    while let Some(message) = ws.next().await {
        let text = match message.map_err(|e| format!("websocket: {e}"))? {
            Message::Text(text) => text,
            Message::Close(_) => return Ok(()),
            _ => continue,
        };
        let text = text.as_str();
        match text.as_bytes() {
            [b'0', ..] => ws
                .send(Message::text(format!("40{auth}")))
                .await
                .map_err(|e| format!("send connect: {e}"))?,
            [b'2', ..] => ws
                .send(Message::text(format!("3{}", &text[1..])))
                .await
                .map_err(|e| format!("send pong: {e}"))?,
            [b'4', b'2', ..] => {
                if recorder.borrow_mut().on_event(connection, &text[2..]) {
                    permit.take();
                }
            }
            [b'4', b'0', ..] => {}
            [b'4', b'4', ..] => return Err(format!("connect refused: {text:.200}")),
            [b'4', b'1', ..] => return Err("disconnected by the server (41)".into()),
            [b'1', ..] => return Ok(()),
            _ => {
                let mut recorder = recorder.borrow_mut();
                recorder.unexpected += 1;
                recorder.problem(format!(
                    "client {connection}: unexpected packet {text:.200}"
                ));
            }
        }
    }
    Ok(())
}
