//! The server transport over real sockets on 127.0.0.1: Socket.IO (websocket, polling,
//! upgrade), the native `/ws` protocol, limits, `GET /metrics`, admin monitoring and
//! connection-state recovery, write coalescing, TLS, and the open-file limit the server
//! raises at start.

#[path = "../support/mod.rs"]
mod support;

mod binary;
mod client_limits;
mod coalescing;
mod fd_limit;
mod metrics_endpoint;
mod monitor;
mod namespaces;
mod origins;
mod recovery;
mod server_limits;
mod server_native;
mod server_socketio;
mod socketio_connect;
mod socketio_lifecycle;
#[cfg(feature = "tls")]
mod tls;
