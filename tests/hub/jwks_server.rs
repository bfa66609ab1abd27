//! A JWKS endpoint on 127.0.0.1 for the JWKS URL tests: a real HTTP/1.1 listener (plain,
//! or TLS with a certificate generated here) that serves the document it is told to,
//! answers HTTP 500, or holds requests unanswered; it counts connections and requests
//! and reports each request on a channel, so tests await fetches instead of sleeping.

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
    connections: AtomicUsize,
    requests: AtomicUsize,
    stopped: AtomicBool,
    arrivals: Mutex<Sender<()>>,
}

/// The running endpoint; dropping it stops the listener.
pub struct JwksServer {
    addr: SocketAddr,
    scheme: &'static str,
    ca_pem: Option<String>,
    state: Arc<State>,
    arrivals: Receiver<()>,
}

impl JwksServer {
    pub fn start(mode: Mode) -> Self {
        Self::listen(mode, None)
    }

    /// Serves over TLS with a certificate for 127.0.0.1 signed by a CA generated here
    /// (its PEM: [`ca_pem`](Self::ca_pem)) that no public root vouches for.
    pub fn start_tls(mode: Mode) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        #[allow(deprecated)] // the provider the library's own TLS uses
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let mut server = Self::listen(mode, Some(Arc::new(config)));
        server.ca_pem = Some(ca.pem());
        server
    }

    /// The PEM of the CA a TLS server's certificate is signed by.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone().expect("a TLS server")
    }

    fn listen(mode: Mode, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, arrivals) = channel();
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            arrivals: Mutex::new(sender),
        });
        let shared = Arc::clone(&state);
        let scheme = if tls.is_some() { "https" } else { "http" };
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let (shared, tls) = (Arc::clone(&shared), tls.clone());
                std::thread::spawn(move || match tls {
                    None => answer(&shared, stream),
                    Some(config) => {
                        let session = rustls::ServerConnection::new(config).unwrap();
                        answer(&shared, rustls::StreamOwned::new(session, stream));
                    }
                });
            }
        });
        Self {
            addr,
            scheme,
            ca_pem: None,
            state,
            arrivals,
        }
    }

    pub fn url(&self) -> String {
        format!("{}://{}/.well-known/jwks.json", self.scheme, self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Connections accepted so far (a TLS one counts before its handshake).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
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

fn answer(state: &State, mut stream: impl Read + Write) {
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
