//! Attach mode (host-callback transport): pending the core's `transport::host`.

/// Host-owned connections of one hub.
#[derive(Default)]
pub struct HostRegistry;
