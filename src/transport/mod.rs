//! Transport adapters: how connections reach the hub. Each depends on the hub through
//! its ports ([`Transport`], [`Connection`], [`HostSink`], defined in the core,
//! `hub/ports.rs`, and re-exported here), never the other way: the server
//! ([`server`], which adds [`Hub::serve`](crate::Hub::serve)), the in-process
//! connection ([`in_process`], [`Hub::connect_in_process`](crate::Hub::connect_in_process))
//! and the host-callback transport ([`host`], [`Hub::attach_host`](crate::Hub::attach_host))
//! used by the Node and Python bindings.
//!
//! These modules must never hold a library lock while writing to a socket:
//! `OutboundQueue::drain` hands the frames over and releases its lock first.

pub mod host;
pub mod in_process;
pub mod server;

pub use crate::hub::ports::{Connection, HostSink, Transport};
