//! `Hub::builder()`: limits, hooks, pages, routes, persistence and transports, each set
//! by one method and held until [`HubBuilder::build`] (in `builder/build.rs`, which
//! restores persisted state and starts the transports). This module must not emit
//! anything nor start anything: setters only record. Guarded by
//! `config::tests::hub_builder_defaults_are_the_schema_defaults` (the defaults are
//! written here once) and every test that builds a hub.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{Executor, HostSink, Transport};
use crate::auth::{Authenticator, JwtSettings};
use crate::broker::{Broker, InMemory};
use crate::hooks::{AuditSink, BeforeEmit, ClientEventHandler, StatsProvider};
use crate::monitor::MonitorConfig;
use crate::persist::{Durability, PersistConfig};

mod build;

/// Limits and sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) queue_capacity: usize,
    pub(crate) queue_max_bytes: usize,
    pub(crate) max_auth_failures: u32,
    /// Authenticated connections one user (not a device) may have; 0: no limit.
    pub(crate) max_connections_per_user: usize,
    pub(crate) max_message_bytes: usize,
    /// Modules per `page:snapshot` / `page:snapshot:more`.
    pub(crate) snapshot_page_size: usize,
}

/// Configures and builds a [`Hub`](crate::Hub).
///
/// The settings that `config::HubConfig` also holds are `pub(crate)` so that
/// `HubConfig::default()` reads them from `HubBuilder::new` ([`Hub::builder`](crate::Hub::builder)), where
/// the defaults are written once (the schema sits above the hub: `config` →
/// `transport` → `hub`).
pub struct HubBuilder {
    pub(crate) limits: Limits,
    pub(crate) jwt_secret: Option<Vec<u8>>,
    pub(crate) jwt: JwtSettings,
    authenticators: Vec<Box<dyn Authenticator>>,
    client_events: Option<Box<dyn ClientEventHandler>>,
    stats: Option<Box<dyn StatsProvider>>,
    before_emit: Vec<Box<dyn BeforeEmit>>,
    audit: Vec<Box<dyn AuditSink>>,
    pub(crate) pages: Vec<String>,
    pub(crate) routes: Vec<(String, Vec<String>, Vec<String>)>,
    transports: Vec<Arc<dyn Transport>>,
    host: Option<Box<dyn HostSink>>,
    pub(crate) device_grace: Duration,
    restart_grace: Option<Duration>,
    pub(crate) persist: Option<(PathBuf, PersistConfig)>,
    monitor: Option<MonitorConfig>,
    executor: Option<Box<dyn Executor>>,
    broker: Arc<dyn Broker>,
    /// A Redis URL to join at `build` (`None`: [`Self::broker`]'s, in-memory by default).
    pub(crate) redis: Option<String>,
    /// This node's id among the cluster's (`None`: random per process).
    pub(crate) node_id: Option<String>,
}

impl HubBuilder {
    /// The default configuration (see [`Hub::builder`](crate::Hub::builder)), the only place its values are
    /// written: `HubConfig::default()` (every binding's defaults) reads them from here.
    pub(super) fn new() -> Self {
        HubBuilder {
            limits: Limits {
                queue_capacity: 65_536,
                queue_max_bytes: 2 * 1024 * 1024,
                max_auth_failures: 5,
                max_connections_per_user: 100,
                max_message_bytes: 64 * 1024,
                snapshot_page_size: 500,
            },
            jwt_secret: None,
            jwt: JwtSettings::default(),
            authenticators: Vec::new(),
            client_events: None,
            stats: None,
            before_emit: Vec::new(),
            audit: Vec::new(),
            pages: crate::registry::routing::DEFAULT_PAGES
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            routes: Vec::new(),
            transports: Vec::new(),
            host: None,
            device_grace: Duration::from_secs(5),
            restart_grace: None,
            persist: None,
            monitor: None,
            executor: None,
            broker: Arc::new(InMemory),
            redis: None,
            node_id: None,
        }
    }

    /// Turns on admin monitoring: the `admin:activity` feed, `admin:alert` /
    /// `admin:alert:cleared`, `admin:server:stats`, and (if `config` asks)
    /// `module:status:batch` for users. A thread wakes every
    /// `config.activity_window` to publish them; without this call the hub has no
    /// such thread and sends none of these events.
    pub fn monitor(mut self, config: MonitorConfig) -> Self {
        self.monitor = Some(config);
        self
    }

    /// Persists to the SQLite database at `path` (created if needed) with this
    /// durability: `build` restores the saved state (change detection and logged-in
    /// sessions continue across a restart), every state change is saved and every emit,
    /// authentication attempt, close and bad input is audited ([`Hub::audit`](crate::Hub::audit)).
    ///
    /// In [`Durability::Batched`] and [`Durability::Off`] an emit never waits for the
    /// disk. In [`Durability::Sync`] every emit (and every audited authentication,
    /// close or bad input) returns only after its audit row, and every save before it,
    /// is committed and fsynced. Without `persist` the hub keeps everything in memory.
    pub fn persist(self, path: impl AsRef<Path>, durability: Durability) -> Self {
        self.persist_with(path, PersistConfig::new(durability))
    }

    /// [`persist`](Self::persist) with every setting (queue bound, batching, retention).
    pub fn persist_with(mut self, path: impl AsRef<Path>, config: PersistConfig) -> Self {
        self.persist = Some((path.as_ref().to_path_buf(), config));
        self
    }

    /// Shares change detection, events, sessions and the connection view with the hubs
    /// of other processes through `broker` (e.g. `broker::RedisBroker`); the default,
    /// [`InMemory`], keeps this hub alone. See [`crate::broker`] for the consistency model.
    pub fn broker(mut self, broker: impl Broker + 'static) -> Self {
        self.broker = Arc::new(broker);
        self
    }

    /// Joins the cluster of hubs sharing the Redis at `url` (`redis://host:port`): `build`
    /// connects (and fails with [`BuildError::Broker`](crate::BuildError::Broker) if Redis does not answer) and
    /// uses a `broker::RedisBroker`, replacing [`Self::broker`]'s. The one schema's
    /// `redis` key (every binding) sets it.
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis = Some(url.into());
        self
    }

    /// This node's id in the cluster (published messages, heartbeats, admin entries);
    /// without it a shared broker picks a random one. The schema's `nodeId` key.
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.node_id = Some(id.into());
        self
    }

    /// Verifies `token`s as JWT HS256 signed with `secret`.
    pub fn jwt_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.jwt_secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Verifies `token`s with `settings`: several HS256 secrets (rotation), RS256 / ES256 /
    /// EdDSA public keys ([`JwtKey::from_pem`](crate::auth::JwtKey::from_pem), chosen by `kid` with
    /// [`JwtKey::with_kid`](crate::auth::JwtKey::with_kid)), JWKS keys chosen by `kid` ([`JwtKey::from_jwks`](crate::auth::JwtKey::from_jwks), or fetched
    /// from an `http(s)://` URL and refreshed: [`JwksUrl`](crate::auth::JwksUrl)), optional
    /// issuer and audience, clock leeway. A [`jwt_secret`](Self::jwt_secret) is one more
    /// HS256 key next to these. With a JWKS URL, `build` fetches it once (at most its
    /// timeout; a failure is logged, counted in [`MetricsSnapshot::jwks`](crate::MetricsSnapshot::jwks)
    /// and retried later, the hub still starts).
    ///
    /// ```
    /// use microcoaster_realtime::{Hub, auth::{JwtKey, JwtSettings}};
    /// let settings = JwtSettings {
    ///     keys: vec![JwtKey::hs256("new secret")?, JwtKey::hs256("old secret")?],
    ///     issuer: Some("https://id.example".into()),
    ///     leeway_secs: 30,
    ///     ..JwtSettings::default()
    /// };
    /// let hub = Hub::builder().jwt(settings).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn jwt(mut self, settings: JwtSettings) -> Self {
        self.jwt = settings;
        self
    }

    /// Adds a host authenticator, tried (in the order added) before the built-in ones.
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticators.push(Box::new(authenticator));
        self
    }

    /// Receives client events the library does not handle.
    pub fn on_client_event(mut self, handler: impl ClientEventHandler) -> Self {
        self.client_events = Some(Box::new(handler));
        self
    }

    /// Computes stats for `emit_stats_update`.
    pub fn stats_provider(mut self, provider: impl StatsProvider) -> Self {
        self.stats = Some(Box::new(provider));
        self
    }

    /// Adds a before-emit filter (run in the order added).
    pub fn before_emit(mut self, filter: impl BeforeEmit) -> Self {
        self.before_emit.push(Box::new(filter));
        self
    }

    /// Adds an audit sink.
    pub fn audit_sink(mut self, sink: impl AuditSink) -> Self {
        self.audit.push(Box::new(sink));
        self
    }

    /// Replaces the page list (must contain `modules` and `admin`; at most 64).
    pub fn pages<S: AsRef<str>>(mut self, pages: &[S]) -> Self {
        self.pages = pages.iter().map(|p| p.as_ref().to_owned()).collect();
        self
    }

    /// Routes `event` to users on `user_pages` and admins on `admin_pages`.
    pub fn route(mut self, event: &str, user_pages: &[&str], admin_pages: &[&str]) -> Self {
        self.routes.push((
            event.to_owned(),
            user_pages.iter().map(|p| (*p).to_owned()).collect(),
            admin_pages.iter().map(|p| (*p).to_owned()).collect(),
        ));
        self
    }

    /// Frames a connection may have waiting before it is closed as a slow consumer
    /// (default 65,536; telemetry for one module is conflated and takes one slot),
    /// counted as `slow_consumer_closes{reason="frames"}`. It is the bound of
    /// in-process connections; for a transport's connections it is only a secondary
    /// safety (against a flood of tiny frames): the byte bound
    /// ([`HubBuilder::queue_max_bytes`]) applies first.
    pub fn queue_capacity(mut self, frames: usize) -> Self {
        self.limits.queue_capacity = frames.max(1);
        self
    }

    /// Bytes of encoded frames a transport's connection may have waiting (not yet
    /// taken by its writer) before it is closed as a slow consumer (default 2 MiB),
    /// counted as `slow_consumer_closes{reason="bytes"}`. A reader that keeps up with a
    /// burst never holds much, however long the burst; one that stopped reading reaches
    /// it and is closed, which bounds the server's memory per connection: about this
    /// bound in the queue plus the batch its writer holds, each queued event keeping its
    /// payload beside its encoding (events sent to many share both). Conflated
    /// telemetry counts once. In-process connections are bounded by frames only.
    ///
    /// The default, of the order of Centrifugo's 1 MiB, holds a whole burst of 20,000
    /// small events (about 57 bytes each on the wire) even when the writers get no CPU
    /// until the emitting thread is done.
    pub fn queue_max_bytes(mut self, bytes: usize) -> Self {
        self.limits.queue_max_bytes = bytes.max(1);
        self
    }

    /// Failed authentications allowed per connection before it is closed (default 5).
    pub fn max_auth_failures(mut self, attempts: u32) -> Self {
        self.limits.max_auth_failures = attempts.max(1);
        self
    }

    /// Authenticated connections one user may have at once (default 100; 0: no limit).
    /// Past it, authenticating one more as that user is refused with `auth:error`
    /// `too_many_connections` and that connection is closed; counted as
    /// `bad_input{kind="connections_per_user"}`. Devices are not counted (one module,
    /// one connection). Re-authenticating a connection as its same user keeps its slot.
    pub fn max_connections_per_user(mut self, connections: usize) -> Self {
        self.limits.max_connections_per_user = connections;
        self
    }

    /// Modules per `page:snapshot` (and per `page:snapshot:more`, the reply to
    /// `client:snapshot {cursor}`), default 500, at least 1. An admin on `admin` pages
    /// through every module of the system; everyone else through their own.
    pub fn snapshot_page_size(mut self, modules: usize) -> Self {
        self.limits.snapshot_page_size = modules.max(1);
        self
    }

    /// Largest inbound frame accepted, in bytes (default 64 KiB).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_message_bytes = bytes;
        self
    }

    /// How long a module stays online after its device's last connection went away
    /// (default 5 s); a reconnect within it emits nothing. Zero takes it offline at once.
    pub fn device_offline_grace(mut self, grace: Duration) -> Self {
        self.device_grace = grace;
        self
    }

    /// Installs the host-callback transport's sink: the host owns some sockets,
    /// attaches them with [`Hub::attach_host`](crate::Hub::attach_host) and receives their frames through `sink`,
    /// one call per event with every recipient (see [`crate::transport::host`]), on the
    /// host thread that caused them or, for frames caused on library threads, on the
    /// hub's delivery thread ([`crate::outbound::HostSink`] states the contract). A
    /// second call replaces the first.
    pub fn host_sink(mut self, sink: impl HostSink) -> Self {
        self.host = Some(Box::new(sink));
        self
    }

    /// With persistence: modules the restored state has online wait this long after
    /// `build` for a sign of life (their device reconnecting, or any
    /// `emit_module_online`/`emit_module_offline` for them); the others are taken
    /// offline with `emit_module_offline` (owners and admins get
    /// `module:status:changed`). Off by default: a host that drives presence itself
    /// re-announces its modules instead. Without persistence it does nothing.
    pub fn offline_after_restart(mut self, grace: Duration) -> Self {
        self.restart_grace = Some(grace);
        self
    }

    /// Runs every emit the library originates itself (device grace timer, restart
    /// check, monitor ticks, device connections and telemetry and the HTTP API on
    /// server threads) through `executor`, on the host's thread, instead of in place on
    /// the library thread (see [`Executor`]). A host whose before-emit filter must run
    /// on its own single thread (Node) sets it; without it nothing changes.
    pub fn executor(mut self, executor: impl Executor) -> Self {
        self.executor = Some(Box::new(executor));
        self
    }

    /// Adds a transport, started by `build`.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transports.push(Arc::new(transport));
        self
    }
}
