//! Guides that do not fit on one item: doc-only modules, like a book's chapters, so
//! that the crate root stays a five-minute read. This module holds no code.
//!
//! - [`wire`]: the protocols the server speaks (Socket.IO, the native JSON protocol,
//!   connection-state recovery, the HTTP API) and its limits.
//! - [`decisions`]: what the library does where DESIGN.md is silent, and why.

pub mod decisions;
pub mod wire;
