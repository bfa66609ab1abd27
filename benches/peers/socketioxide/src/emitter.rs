//! The host thread of the in-process emit mode: commands from stdin (the shared rules in
//! `examples/bench_server/command.rs`), each event one `io.to(room).emit(…)` made from
//! outside the runtime, as a host application's thread would.

#[path = "../../../../examples/bench_server/command.rs"]
mod command;

pub use command::now_us;
use command::{Command, Kind, pace, serve_commands};
use serde_json::json;
use socketioxide::SocketIo;
use tokio::runtime::Handle;

/// Starts the emitter thread.
pub fn start(io: SocketIo, runtime: Handle) {
    std::thread::Builder::new()
        .name("emitter".into())
        .spawn(move || serve_commands(|command| run(&io, &runtime, command)))
        .expect("the emitter thread starts");
}

fn run(io: &SocketIo, runtime: &Handle, command: &Command) {
    // The local adapter's broadcast completes without waiting; `block_on` only drives
    // the future socketioxide returns for adapters that may (Redis, MongoDB).
    pace(command, |seq| {
        let sent_at = now_us();
        let sent = match command.kind {
            Kind::User => {
                let room = format!("user:u{}", seq % command.users.max(1));
                let data = json!({"seq": seq, "sentAt": sent_at, "timestamp": sent_at / 1000});
                runtime.block_on(io.to(room).emit("bench:user", &data))
            }
            Kind::Admin => {
                let data = json!({"seq": seq, "sentAt": sent_at, "timestamp": sent_at / 1000});
                runtime.block_on(io.to("admin").emit("bench:admin", &data))
            }
            Kind::All => {
                let data = json!({"enabled": seq % 2 == 0,
                    "message": format!("bench {seq} {sent_at}"), "adminId": "admin-0",
                    "timestamp": sent_at / 1000});
                runtime.block_on(io.emit("system:maintenance", &data))
            }
            Kind::Login => Ok(()),
        };
        sent.is_ok()
    });
}
