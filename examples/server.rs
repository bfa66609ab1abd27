//! The main job: a standalone MicroCoaster real-time server.
//!
//! The websocket/Socket.IO transport is the next milestone; until it lands this
//! example says so and exits with a non-zero status, so nobody mistakes it for a
//! running server.

fn main() {
    eprintln!(
        "microcoaster-realtime {}: server transport not built yet; \
         embed the library with Hub::builder() (see README) until it lands",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
