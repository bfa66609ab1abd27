//! Drives the HTTP API (`POST /api/v1/emit/<call>`, DESIGN §9) over a few keep-alive
//! HTTP/1.1 connections with pipelined requests, paced to a target rate.
//!
//! Every millisecond the pacer writes the requests that are due as one batch per
//! connection, up to a cap of requests in flight (so a saturated server slows the
//! pacer down instead of building an unbounded backlog); one reader task per connection
//! parses the answers in order.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// What the answers said.
#[derive(Debug, Default)]
pub struct Answers {
    pub ok: u64,
    /// Non-200 answers, unreadable answers, or a closed connection.
    pub failures: u64,
    pub first_failure: Option<String>,
    /// `{"outcome":"unchanged","connections":0}` answers.
    pub unchanged: u64,
    /// Sum of the `connections` the server says each emit reached.
    pub reported_connections: u64,
}

/// How many requests to send, and how fast.
pub struct Pace {
    /// Requests per second.
    pub rate: f64,
    /// Stop after this long …
    pub duration: Option<Duration>,
    /// … or after this many requests.
    pub count: Option<u64>,
    pub max_in_flight: usize,
    /// Send every request on the first connection, so the server handles them in order
    /// (pipelined requests on one connection are answered in order).
    pub ordered: bool,
}

pub struct Emitter {
    addr: String,
    connections: Vec<ApiConnection>,
    head: String,
    pub answers: Rc<RefCell<Answers>>,
}

/// One keep-alive connection: its write half and what its reader knows.
struct ApiConnection {
    writer: OwnedWriteHalf,
    state: Rc<RefCell<ConnectionState>>,
}

#[derive(Default)]
struct ConnectionState {
    in_flight: usize,
    /// The server closed it (e.g. an idle keep-alive timeout): reconnect before use.
    closed: bool,
}

impl Emitter {
    pub async fn connect(addr: &str, connections: usize, api_key: &str) -> io::Result<Self> {
        let answers = Rc::new(RefCell::new(Answers::default()));
        let mut emitter = Self {
            addr: addr.to_owned(),
            connections: Vec::new(),
            head: format!(
                "HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {api_key}\r\ncontent-type: application/json\r\ncontent-length: "
            ),
            answers,
        };
        for _ in 0..connections.max(1) {
            let connection = emitter.open().await?;
            emitter.connections.push(connection);
        }
        Ok(emitter)
    }

    async fn open(&self) -> io::Result<ApiConnection> {
        let stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let state = Rc::new(RefCell::new(ConnectionState::default()));
        tokio::task::spawn_local(read_answers(
            reader,
            Rc::clone(&state),
            Rc::clone(&self.answers),
        ));
        Ok(ApiConnection { writer, state })
    }

    /// Replaces the connections the server closed.
    async fn reopen_closed(&mut self) -> io::Result<()> {
        for index in 0..self.connections.len() {
            if self.connections[index].state.borrow().closed {
                self.connections[index] = self.open().await?;
            }
        }
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.connections
            .iter()
            .map(|c| c.state.borrow().in_flight)
            .sum()
    }

    fn push(&self, buffer: &mut Vec<u8>, call: &str, body: &str) {
        use std::io::Write as _;
        let _ = write!(
            buffer,
            "POST /api/v1/emit/{call} {}{}\r\n\r\n{body}",
            self.head,
            body.len()
        );
    }

    /// Sends requests built by `request(n)` (`n` = 0, 1, …) at `pace`, then waits for
    /// every answer. Returns how many were sent.
    pub async fn run(
        &mut self,
        pace: &Pace,
        mut request: impl FnMut(u64) -> (&'static str, String),
    ) -> io::Result<u64> {
        self.reopen_closed().await?;
        let start = Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); self.connections.len()];
        let mut sent = 0u64;
        loop {
            ticker.tick().await;
            let elapsed = start.elapsed();
            if pace.duration.is_some_and(|limit| elapsed >= limit)
                || pace.count.is_some_and(|count| sent >= count)
            {
                break;
            }
            let mut due = (elapsed.as_secs_f64() * pace.rate).ceil().min(1e15) as u64;
            if let Some(count) = pace.count {
                due = due.min(count);
            }
            let free = pace.max_in_flight.saturating_sub(self.in_flight()) as u64;
            let now = due.saturating_sub(sent).min(free);
            for _ in 0..now {
                let (call, body) = request(sent);
                let slot = if pace.ordered {
                    0
                } else {
                    (sent % buffers.len() as u64) as usize
                };
                self.push(&mut buffers[slot], call, &body);
                self.connections[slot].state.borrow_mut().in_flight += 1;
                sent += 1;
            }
            for (connection, buffer) in self.connections.iter_mut().zip(&mut buffers) {
                if !buffer.is_empty() {
                    connection.writer.write_all(buffer).await?;
                    buffer.clear();
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(sent)
    }
}

async fn read_answers(
    mut reader: OwnedReadHalf,
    state: Rc<RefCell<ConnectionState>>,
    answers: Rc<RefCell<Answers>>,
) {
    let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = match reader.read(&mut chunk).await {
            Ok(0) => Err("the server closed the API connection".to_owned()),
            Ok(read) => Ok(read),
            Err(error) => Err(format!("API connection: {error}")),
        };
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                let mut state = state.borrow_mut();
                state.closed = true;
                if state.in_flight > 0 {
                    let mut answers = answers.borrow_mut();
                    answers.failures += state.in_flight as u64;
                    answers.first_failure.get_or_insert(error);
                    state.in_flight = 0;
                }
                return;
            }
        };
        buffer.extend_from_slice(&chunk[..read]);
        let mut consumed = 0;
        let mut answers = answers.borrow_mut();
        let mut state = state.borrow_mut();
        loop {
            match parse_answer(&buffer[consumed..]) {
                Ok(None) => break,
                Ok(Some((length, status, body))) => {
                    consumed += length;
                    state.in_flight = state.in_flight.saturating_sub(1);
                    let body = String::from_utf8_lossy(body);
                    if status != 200 {
                        answers.failures += 1;
                        answers
                            .first_failure
                            .get_or_insert_with(|| format!("HTTP {status}: {body:.300}"));
                    } else if body.contains("\"unchanged\"") {
                        answers.ok += 1;
                        answers.unchanged += 1;
                    } else {
                        answers.ok += 1;
                        answers.reported_connections += reported_connections(&body);
                    }
                }
                Err(error) => {
                    answers.failures += state.in_flight as u64;
                    answers.first_failure.get_or_insert(error);
                    state.in_flight = 0;
                    state.closed = true;
                    return;
                }
            }
        }
        buffer.drain(..consumed);
    }
}

fn reported_connections(body: &str) -> u64 {
    body.split_once("\"connections\":")
        .map(|(_, rest)| {
            rest.bytes()
                .take_while(u8::is_ascii_digit)
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))
        })
        .unwrap_or(0)
}

type Answer<'a> = (usize, u16, &'a [u8]);

/// One complete answer at the start of `bytes`: (its length, status, body).
fn parse_answer(bytes: &[u8]) -> Result<Option<Answer<'_>>, String> {
    let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..head_end]).map_err(|e| format!("answer: {e}"))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:.200}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked answers are not supported".into());
        }
    }
    let length = length.ok_or_else(|| format!("no content-length in {head:.200}"))?;
    let total = head_end + 4 + length;
    if bytes.len() < total {
        return Ok(None);
    }
    Ok(Some((total, status, &bytes[head_end + 4..total])))
}
