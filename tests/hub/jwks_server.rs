//! A JWKS endpoint on 127.0.0.1 for the JWKS URL tests: a real HTTP/1.1 listener that
//! serves the document it is told to, answers HTTP 500, or holds requests unanswered;
//! it counts requests and reports each arrival on a channel, so tests await fetches
//! instead of sleeping.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the endpoint answers.
#[derive(Clone)]
pub enum Mode {
    /// `200 OK` with this body.
    Serve(String),
    /// `500 Internal Server Error`.
    Fail,
    /// Reads the request and never answers (until the server drops).
    Hang,
}

struct State {
    mode: Mutex<Mode>,
    requests: AtomicUsize,
    stopped: AtomicBool,
    arrivals: Mutex<Sender<()>>,
}

/// The running endpoint; dropping it stops the listener.
pub struct JwksServer {
    addr: SocketAddr,
    state: Arc<State>,
    arrivals: Receiver<()>,
}

impl JwksServer {
    pub fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, arrivals) = channel();
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            requests: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            arrivals: Mutex::new(sender),
        });
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || answer(&shared, stream));
            }
        });
        Self {
            addr,
            state,
            arrivals,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Waits for the next request to arrive (its headers read, before the answer).
    pub fn await_request(&self, within: Duration) {
        self.arrivals
            .recv_timeout(within)
            .expect("the JWKS endpoint received no request in time");
    }

    /// Forgets the arrivals reported so far.
    pub fn drain_arrivals(&self) {
        while self.arrivals.try_recv().is_ok() {}
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag and ends.
        let _ = TcpStream::connect(self.addr);
    }
}

fn answer(state: &State, mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    if state.stopped.load(Ordering::SeqCst) {
        return;
    }
    let mode = state.mode.lock().unwrap().clone();
    state.requests.fetch_add(1, Ordering::SeqCst);
    let _ = state.arrivals.lock().unwrap().send(());
    let (status, body) = match mode {
        Mode::Serve(body) => ("200 OK", body),
        Mode::Fail => ("500 Internal Server Error", "down".to_owned()),
        Mode::Hang => {
            while !state.stopped.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}
