//! A Rust host whose client-event hook answers acks, binary values included: the pattern
//! for a server that answers its clients' requests itself (Python's and Node's hooks do
//! the same with their return value).
//!
//! ```text
//! cargo run --release --example echo_hook -- --addr 127.0.0.1:3000 --login 123:sess-ada
//! ```
//!
//! Each `--login USER:SESSION` logs a user in (as the seed's login route would), so a
//! browser connects with `auth: {userId, sessionId, page}`. An `echo` event is answered
//! with `{"echo": <its data>}` (the data's binary values sent back as binary) and also
//! sent back to its user as an `echo:back` event; other events are not answered.
//! `tests/clients/node/binary.test.js` drives it with the official socket.io-client.

use std::sync::{Arc, OnceLock};

use clap::Parser;
use microcoaster_realtime::transport::server::ServerConfig;
use microcoaster_realtime::{AckAnswer, Answering, ClientEvent, Hub};
use serde_json::json;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Answers `echo` events' acks from a Rust client-event hook")]
struct Args {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    /// A login to register, `USER:SESSION` (repeatable).
    #[arg(long)]
    login: Vec<String>,
}

/// The hook: `echo` answered with its data and sent back to its user as `echo:back`.
/// The hub is set after it is built (the hook is part of it).
fn echo(hub: &OnceLock<Hub>, event: &ClientEvent) -> Option<AckAnswer> {
    if event.event != "echo" {
        return None;
    }
    if let Some(hub) = hub.get()
        && let Err(error) = hub.emit_binary_to_user(
            &event.identity.user_id,
            "echo:back",
            &event.data,
            event.attachments.clone(),
        )
    {
        eprintln!("echo:back refused: {error}");
    }
    Some(AckAnswer {
        data: json!({ "echo": event.data }),
        attachments: event.attachments.clone(),
    })
}

fn main() {
    let args = Args::parse();
    // The hook holds the hub and the hub holds the hook: a cycle, fine for a process
    // that lives until it is stopped.
    let slot: Arc<OnceLock<Hub>> = Arc::new(OnceLock::new());
    let hook_slot = Arc::clone(&slot);
    let built = Hub::builder()
        .on_client_event(Answering(move |event: &ClientEvent| {
            echo(&hook_slot, event)
        }))
        .build();
    let hub = match built {
        Ok(hub) => slot.get_or_init(|| hub).clone(),
        Err(error) => {
            eprintln!("cannot build the hub: {error}");
            std::process::exit(1);
        }
    };
    for login in &args.login {
        let Some((user, session)) = login.split_once(':') else {
            eprintln!("--login takes USER:SESSION, got {login:?}");
            std::process::exit(2);
        };
        if let Err(error) = hub.emit_user_logged_in(&json!({ "id": user }), session) {
            eprintln!("--login {login}: {error}");
            std::process::exit(2);
        }
    }
    let server = match hub.serve(&args.addr, ServerConfig::default()) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    println!("echo hook listening on http://{}", server.local_addr());
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .expect("signal handlers can be installed");
    let _ = signals.forever().next();
    server.shutdown();
}
