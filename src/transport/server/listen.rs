//! Starting and stopping the server: binding, the runtime, the accept loop, and the
//! [`ServerHandle`] that shuts it down.
//!
//! Owns the server's tokio runtime (the hub stays synchronous), the order of a
//! shutdown, and raising the open-file limit before the first accept (`fd_limit.rs`).
//! It must not route requests: each accepted connection goes to [`super::route`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::{ServerConfig, Shared, fd_limit, limits, recovery, route, session};

use crate::hub::Hub;

/// hyper's smallest read buffer: a smaller `max_header_bytes` is taken as this.
const MIN_HEADER_BYTES: usize = 8192;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The runtime could not start.
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
}

/// A running server. Dropping it shuts the server down.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    open_file_limit: Option<u64>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("open_file_limit", &self.open_file_limit)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The soft open-file limit (`RLIMIT_NOFILE`) the process ran with once the server
    /// started: the hard limit when [`ServerConfig::raise_fd_limit`] raised it, and
    /// `None` where there is no such limit (not unix) or it could not be read. Each
    /// connection is one file descriptor, so connections past this (less the few the
    /// process holds otherwise) fail to be accepted.
    pub fn open_file_limit(&self) -> Option<u64> {
        self.open_file_limit
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Connections whose transport was lost and that wait for their client to resume
    /// (connection-state recovery; always 0 when it is off).
    pub fn parked_connections(&self) -> usize {
        self.shared.parked.len()
    }

    /// Stops accepting, lets every connection flush what the hub had queued for it
    /// (up to `shutdown_deadline`), closes them, and stops the runtime. Events accepted
    /// by `emit_*` before this call reach every connected client addressed.
    pub fn shutdown(&self) {
        let Some(runtime) = self.runtime.lock().take() else {
            return;
        };
        let _ = self.stop.send(true);
        self.shared.parked.clear();
        self.shared.sessions.close_all(&self.shared);
        let deadline = Instant::now() + self.shared.config.shutdown_deadline;
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        runtime.shutdown_timeout(Duration::from_millis(100));
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the server on `addr` (e.g. `127.0.0.1:3000`, or port 0 for any free port).
pub(super) fn serve(
    hub: Hub,
    addr: &str,
    config: ServerConfig,
) -> Result<ServerHandle, ServeError> {
    let bind_error = |source| ServeError::Bind {
        addr: addr.to_owned(),
        source,
    };
    let open_file_limit = fd_limit::prepare(&config);
    let (listener, local) = bind(addr).map_err(bind_error)?;
    let runtime = runtime(&config).map_err(ServeError::Runtime)?;
    let (stop, shutdown) = watch::channel(false);
    hub.set_connection_limit(config.max_connections);
    let shared = Arc::new(Shared {
        hub,
        config,
        sessions: session::Sessions::default(),
        parked: recovery::Parked::default(),
        live_pids: Mutex::new(std::collections::HashMap::new()),
        client_closed: Default::default(),
        handshakes: Default::default(),
        open_per_ip: Default::default(),
        active: AtomicUsize::new(0),
        shutdown,
    });
    let accept_shared = Arc::clone(&shared);
    let bound = runtime
        .block_on(async { tokio::net::TcpListener::from_std(listener) })
        .map_err(bind_error)?;
    start_recovery(&shared, &runtime);
    runtime.spawn(accept_loop(accept_shared, bound));
    tracing::info!(%local, "server listening");
    Ok(ServerHandle {
        addr: local,
        stop,
        shared,
        runtime: Mutex::new(Some(runtime)),
        open_file_limit,
    })
}

/// The listening socket on `addr`, non-blocking for tokio, and the address it got.
fn bind(addr: &str) -> std::io::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// The server's own multi-threaded runtime (the hub stays synchronous).
fn runtime(config: &ServerConfig) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers())
        .thread_name("mcrt-server")
        // Host sinks are called from these threads only through the delivery thread.
        .on_thread_start(crate::outbound::mark_library_thread)
        .enable_all()
        .build()
}

/// With connection-state recovery on: event offsets, the cluster's event history when
/// asked, surrendering parked sessions to other nodes, and the sweeper of expired ones.
fn start_recovery(shared: &Arc<Shared>, runtime: &tokio::runtime::Runtime) {
    let Some(recovery) = shared.config.recovery else {
        return;
    };
    shared.hub.enable_event_offsets();
    if recovery.redis_history && shared.hub.has_cluster() {
        shared.hub.keep_event_history(recovery.window);
    }
    shared
        .hub
        .set_surrender(recovery::surrender_to_cluster(shared));
    runtime.spawn(recovery::sweeper(Arc::clone(shared)));
}

/// Accepts until the runtime stops: while `shutdown()` drains, a polling client still
/// needs a new request to collect its last frames and the close packet (new sessions
/// are refused then, see `engine::route`).
async fn accept_loop(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                if let Some(pause) = accept_pause(&error) {
                    // Out of file descriptors (or memory): the pending connection stays
                    // in the backlog and the next accept would fail at once, so retrying
                    // straight away spins a worker at 100% while nothing changes. Wait
                    // for a connection to close instead.
                    tokio::time::sleep(pause).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        // The TLS handshake runs in the connection's own task: a slow or failing one
        // never holds up the accept loop or another connection.
        tokio::spawn(async move {
            #[cfg(feature = "tls")]
            if let Some(tls) = shared.config.tls.clone() {
                if let Some(stream) = super::tls::accept(&shared, &tls, stream, remote).await {
                    serve_connection(shared, stream, remote).await;
                }
                return;
            }
            serve_connection(shared, stream, remote).await;
        });
    }
}

/// How long the accept loop waits after `error` before accepting again: `None` for an
/// error of one connection (refused, reset or aborted before it was accepted), a short
/// pause for any other (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`: the next accept would
/// meet it again until a connection closes), as hyper's accept loops have long done.
fn accept_pause(error: &std::io::Error) -> Option<Duration> {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    let of_one_connection = matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    );
    (!of_one_connection).then_some(Duration::from_millis(100))
}

/// Serves HTTP/1.1 (and the websocket upgrades) on one connection, plain or TLS.
async fn serve_connection<S>(shared: Arc<Shared>, stream: S, remote: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let counted = Arc::clone(&shared);
    let config = &counted.config;
    let answered = Arc::new(AtomicBool::new(false));
    let first = Arc::clone(&answered);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        first.store(true, Ordering::Relaxed);
        async move { Ok::<_, std::convert::Infallible>(route(shared, request, remote).await) }
    });
    // Pipelined requests (a backend driving the emit API) get their answers in one
    // write instead of one syscall each.
    let served = http1::Builder::new()
        .keep_alive(true)
        .pipeline_flush(true)
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(config.max_header_bytes.max(MIN_HEADER_BYTES))
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(error) = served {
        let answered = answered.load(Ordering::Relaxed);
        limits::count_connection_error(&counted, &error, answered);
    }
}
