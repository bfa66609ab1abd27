//! The hub and its core, in process (no sockets): events and isolation, authentication,
//! bad input, hooks, devices, the executor, queues and encode-once, the host-callback
//! transport, the fuzz corpora replayed through the codecs, and the layering of `src/`.

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod bad_input;
mod devices;
mod encode_once;
mod events;
mod executor;
mod fuzz_corpora;
mod hooks;
mod host_transport;
mod isolation_prop;
mod jwks_server;
mod jwks_url;
mod jwt_keys;
mod layers;
mod queue_policy;
mod snapshot;
