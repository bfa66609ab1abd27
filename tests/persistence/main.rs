//! Persistence on real SQLite files: the store, audit and history; a persisted hub across
//! restarts; a child process killed under load or out of disk.

#[path = "../support/mod.rs"]
mod support;

mod audit_view;
mod persist;
mod persist_crash;
mod persist_hub;
