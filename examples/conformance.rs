//! The server the official Socket.IO v5 and Engine.IO v4 conformance suites expect,
//! built on the library's public API and its one transport.
//!
//! ```text
//! cargo run --release --example conformance -- --addr 127.0.0.1:3000
//! ```
//!
//! Configured as the "Test suite" sections of the two protocol documents say: ping
//! interval 300 ms, ping timeout 200 ms, `maxPayload` 1,000,000, connect timeout
//! 1,000 ms. Socket.IO at `/socket.io/` serves the namespaces `/` and `/custom` with
//! [`Echo`]: on connect it emits `auth` with the handshake's `auth` object, it answers
//! `message` with `message-back` (the same arguments, binary attachments included) and
//! acks `message-with-ack` with its arguments. Engine.IO at `/engine.io/` echoes every
//! text and binary message. `scripts/conformance` runs both suites against it.

use std::time::Duration;

use clap::Parser;
use microcoaster_realtime::Hub;
use microcoaster_realtime::transport::server::{
    Ack, EngineEndpoint, EngineMessage, EngineService, EngineSocket, Namespace, NamespaceSocket,
    Namespaces, Payload, ServerConfig,
};
use serde_json::Value;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Serves the official Socket.IO / Engine.IO conformance contract")]
struct Args {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
}

/// The Socket.IO suite's namespace behaviour.
struct Echo;

impl Namespace for Echo {
    fn on_connect(&self, socket: &NamespaceSocket, auth: &Value) {
        let _ = socket.emit("auth", &Payload::new(vec![auth.clone()]));
    }

    fn on_event(&self, socket: &NamespaceSocket, event: &str, payload: Payload, ack: Option<Ack>) {
        match (event, ack) {
            ("message", _) => {
                let _ = socket.emit("message-back", &payload);
            }
            ("message-with-ack", Some(ack)) => {
                let _ = ack.send(&payload);
            }
            _ => {}
        }
    }
}

/// The Engine.IO suite's behaviour: every message back to its sender.
struct Mirror;

impl EngineService for Mirror {
    fn on_message(&self, socket: &EngineSocket, message: EngineMessage) {
        let _ = socket.send(message);
    }
}

fn main() {
    let args = Args::parse();
    let hub = match Hub::builder().build() {
        Ok(hub) => hub,
        Err(error) => {
            eprintln!("cannot build the hub: {error}");
            std::process::exit(1);
        }
    };
    let config = ServerConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        max_message_bytes: 1_000_000,
        connect_timeout: Duration::from_millis(1_000),
        namespaces: Namespaces::new().with("/", Echo).with("/custom", Echo),
        engine_io: Some(EngineEndpoint::new("/engine.io/", Mirror)),
        ..ServerConfig::default()
    };
    let server = match hub.serve(&args.addr, config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    println!(
        "conformance server listening on http://{}",
        server.local_addr()
    );
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .expect("signal handlers can be installed");
    let _ = signals.forever().next();
    server.shutdown();
}
