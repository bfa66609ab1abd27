//! The one support module of the integration tests, included by each test crate
//! (`tests/hub`, `tests/server`, `tests/persistence`, `tests/cluster`) as `mod support`:
//! the hub's test secret and builder, tokens (`jwt`), authenticated in-process tabs and
//! the nothing-then-sentinel check (`tabs`), strict frame readers (`frames`), a served
//! hub (`server`) with minimal websocket, Socket.IO, native and HTTP clients
//! (`websocket`, `socketio`, `native`, `polling`), and temporary
//! directories. Everything is re-exported here, so a test writes `support::login` or
//! `support::SioWs` without knowing which file holds it.
//!
//! It must not hold test logic: a helper that asserts says what it checks in its doc.
#![allow(dead_code, unused_imports)] // each test crate uses a different subset

pub mod jwt;

mod frames;
mod native;
mod polling;
mod server;
mod socketio;
mod tabs;
mod websocket;

pub use frames::*;
pub use native::*;
pub use polling::*;
pub use server::*;
pub use socketio::*;
pub use tabs::*;
pub use websocket::*;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use microcoaster_realtime::{Hub, HubBuilder};

/// The HS256 secret every test hub verifies tokens with.
pub const JWT_SECRET: &[u8] = b"integration-tests-secret-not-for-production";

/// Name of the host event used as a sentinel.
pub const SENTINEL: &str = "test:sentinel";

/// A builder with the test JWT secret, for tests that add hooks (stats provider, …).
pub fn builder() -> HubBuilder {
    Hub::builder().jwt_secret(JWT_SECRET)
}

/// A hub with the test JWT secret and nothing else configured.
pub fn hub() -> Hub {
    builder()
        .build()
        .expect("a hub with default settings builds")
}

/// A valid HS256 token for `user` with `role` (`"user"` or `"admin"`) and, if given,
/// login session `sid`; expires in an hour.
pub fn token(user: &str, role: &str, sid: Option<&str>) -> String {
    jwt::user_token(JWT_SECRET, user, role, sid)
}

/// A fresh directory under the system temp dir (`mcrt-<tag>-<pid>-<n>`), removed on drop;
/// the databases of persistence tests live here.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates an empty directory named after `tag`.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcrt-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir created");
        Self(dir)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The database path inside it.
    pub fn db(&self) -> PathBuf {
        self.0.join("realtime.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
