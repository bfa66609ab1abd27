//! A hand-written HTTP/1.1 client and Socket.IO over HTTP long-polling for the server
//! tests: requests with their raw answers, and a polling session.

use std::collections::VecDeque;
use std::net::SocketAddr;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::server::within;
use super::socketio::{auth, parse_event, parse_open};
use super::{SENTINEL, token};

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
