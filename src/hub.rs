//! The Hub: the facade hosts call, with the seed's `emit_*` API, wiring the parts below.
//!
//! Data flows one way (DESIGN §2): **host → `emit_*` → store (changed?) → [`Event`] →
//! before-emit hooks → persistence (state saves, audit) → registry resolution →
//! connection queues**; inbound:
//! **transport → [`Hub::on_client_message`] → authentication / page / client-event hook**.
//!
//! Invariants kept here:
//! - **One order**: every state change and its delivery happen under one emit lock (the
//!   store's mutex), so all connections see events in the same order and a new
//!   connection's `auth:ok` / `page:snapshot` never interleave with an event.
//!   Lock order is store → registry → queue, everywhere.
//! - **Nothing before authentication**: only `client:authenticate` is accepted from an
//!   unauthenticated connection (`tests/bad_input.rs::unknown_event_before_authenticate_is_refused`).
//! - **Unchanged emits send nothing** and return [`EmitOutcome::Unchanged`].
//! - **Re-entrancy**: an `emit_*` from inside a before-emit hook returns
//!   [`HubError::Reentrant`] instead of deadlocking.
//! - **Persistence is optional and off the hot path** ([`HubBuilder::persist`]): without
//!   it the hub is memory only and does no persistence work at all; with it, `build`
//!   restores the store and the live sessions, every changed record is saved (enqueued
//!   under the emit lock, so saves keep the store's order), every emit, authentication,
//!   close and bad input is audited, and [`Hub::shutdown`] / dropping the last `Hub`
//!   saves the whole store and closes the database. An unchanged emit does no state
//!   save (only its audit row).
//!
//! This module must not encode frames (that is `protocol/`) nor decide isolation (that
//! is `registry/`).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::auth::{
    AuthChain, AuthDecision, AuthError, AuthRequest, Authenticator, DeviceKeys, HandshakeContext,
    Identity, JwtAuthenticator, Role, SessionTable,
};
use crate::devices::Presence;
use crate::event::{self, Audience, Event, now_ms, object};
use crate::hooks::{
    AuditKind, AuditOutcome, AuditRecord, AuditSink, BeforeEmit, ClientEvent, ClientEventHandler,
    StatsProvider, Verdict, guarded,
};
use crate::ids::{IdError, ModuleId, SessionId, UserId};
use crate::input::{self, InputError, ModuleFields};
use crate::metrics::{BadInputKind, Metrics, MetricsSnapshot};
use crate::persist::{
    AuditFilter, AuditLog, AuditRow, Durability, PersistConfig, PersistError, Persistence,
};
use crate::protocol::native::{self, FrameError};
use crate::protocol::{OutboundEvent, WireFormat};
use crate::registry::routing::{PageIndex, Routing, RoutingError};
use crate::registry::{Registry, RegistryError};
use crate::store::{Store, StoreError};
use crate::transport::in_process::InProcessConnection;
use crate::transport::queue::{CloseReason, ConnectionId, OutboundQueue, Pushed, Wake};
use crate::transport::{Connection, Transport};

/// What an emit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EmitOutcome {
    /// Nothing changed; nothing was sent.
    Unchanged,
    /// The change was sent; `connections` frames were queued (summed over the events of
    /// the call, e.g. `user:module:added` plus `admin:module:added`). Zero is possible:
    /// nobody concerned is connected, or a before-emit hook dropped the event.
    Delivered {
        /// Frames queued.
        connections: usize,
    },
}

/// Why an emit was refused. Nothing was changed or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// An argument is malformed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The state refused the change.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `emit_to_user` / `emit_to_admins` with a name in a reserved prefix.
    #[error(
        "event name {0:?} uses a reserved prefix (auth:, page:, system:, admin:, user:, module:)"
    )]
    ReservedEvent(String),
    /// An event name that is empty, too long or has control characters.
    #[error("invalid event name: {0}")]
    InvalidEventName(String),
    /// `emit_stats_update` without a stats provider.
    #[error("no stats provider is configured; use emit_stats_update_with(stats)")]
    NoStatsProvider,
    /// The stats provider failed (or panicked).
    #[error("stats provider failed: {0}")]
    StatsProvider(String),
    /// `emit_user_logged_out` named a session that is logged in as another user.
    #[error("session belongs to user {owner}, not to the user logged out")]
    SessionMismatch {
        /// The session's user.
        owner: UserId,
    },
    /// `emit_*` called from inside a before-emit hook.
    #[error("emit called from inside a before-emit hook")]
    Reentrant,
}

impl From<IdError> for HubError {
    fn from(error: IdError) -> Self {
        Self::Input(InputError::Id(error))
    }
}

impl HubError {
    /// A stable machine-readable code (used by the HTTP API and bindings).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Input(_) => "invalid_argument",
            Self::Store(StoreError::UnknownModule(_)) => "unknown_module",
            Self::Store(StoreError::MissingOwner(_)) => "missing_owner",
            Self::Store(StoreError::OwnerMismatch { .. }) => "owner_mismatch",
            Self::ReservedEvent(_) => "reserved_event",
            Self::InvalidEventName(_) => "invalid_event_name",
            Self::NoStatsProvider => "no_stats_provider",
            Self::StatsProvider(_) => "stats_provider_failed",
            Self::SessionMismatch { .. } => "session_mismatch",
            Self::Reentrant => "reentrant_emit",
        }
    }
}

/// The event a device sends its telemetry as (`{"event":"telemetry","data":{…}}`).
pub const DEVICE_TELEMETRY: &str = "telemetry";

/// Why an inbound client message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// The raw frame was malformed (size, UTF-8, JSON, shape).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Authentication failed; the connection was sent `auth:error`.
    #[error(transparent)]
    Auth(AuthError),
    /// `client:page` with a bad payload or an unknown page.
    #[error("invalid client:page: {0}")]
    InvalidPage(String),
    /// The connection is closed or detached.
    #[error("connection {0} is closed")]
    Closed(ConnectionId),
    /// The hub was called re-entrantly from a hook.
    #[error("hub called re-entrantly from a hook")]
    Reentrant,
    /// A device's telemetry was refused (e.g. not a valid value).
    #[error("device message refused: {0}")]
    Device(String),
}

impl InboundError {
    /// The ack body a client that asked for one gets: `{code, message}` for refusals.
    pub fn ack_body(&self) -> Value {
        let code = match self {
            Self::Frame(error) => error.kind(),
            Self::Auth(error) => error.code(),
            Self::InvalidPage(_) => "invalid_page",
            Self::Closed(_) => "closed",
            Self::Reentrant => "reentrant",
            Self::Device(_) => "device_refused",
        };
        json!({"code": code, "message": self.to_string()})
    }
}

/// What the hub answers to an inbound message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// The ack body for a client that asked for one (`auth:ok`'s body after
    /// `client:authenticate`); `None` when the message has no answer.
    pub ack: Option<Value>,
}

/// Why a hub could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The page list or a route is invalid.
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// A transport failed to start.
    #[error("transport {name} failed to start: {message}")]
    Transport {
        /// The transport.
        name: String,
        /// Its error.
        message: String,
    },
    /// The database could not be opened or its saved state could not be read
    /// ([`HubBuilder::persist`]).
    #[error("persistence: {0}")]
    Persist(#[from] PersistError),
}

/// Limits and sizes.
#[derive(Debug, Clone)]
struct Limits {
    queue_capacity: usize,
    max_auth_failures: u32,
    max_message_bytes: usize,
}

/// Configures and builds a [`Hub`].
pub struct HubBuilder {
    limits: Limits,
    jwt_secret: Option<Vec<u8>>,
    authenticators: Vec<Box<dyn Authenticator>>,
    client_events: Option<Box<dyn ClientEventHandler>>,
    stats: Option<Box<dyn StatsProvider>>,
    before_emit: Vec<Box<dyn BeforeEmit>>,
    audit: Vec<Box<dyn AuditSink>>,
    pages: Vec<String>,
    routes: Vec<(String, Vec<String>, Vec<String>)>,
    transports: Vec<Arc<dyn Transport>>,
    device_grace: Duration,
    persist: Option<(PathBuf, PersistConfig)>,
}

impl HubBuilder {
    /// Persists to the SQLite database at `path` (created if needed) with this
    /// durability: `build` restores the saved state (change detection and logged-in
    /// sessions continue across a restart), every state change is saved and every emit,
    /// authentication attempt, close and bad input is audited ([`Hub::audit`]).
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

    /// Verifies `token`s as JWT HS256 signed with `secret`.
    pub fn jwt_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.jwt_secret = Some(secret.as_ref().to_vec());
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
    /// (default 1,024; telemetry for one module is conflated and takes one slot).
    pub fn queue_capacity(mut self, frames: usize) -> Self {
        self.limits.queue_capacity = frames.max(1);
        self
    }

    /// Failed authentications allowed per connection before it is closed (default 5).
    pub fn max_auth_failures(mut self, attempts: u32) -> Self {
        self.limits.max_auth_failures = attempts.max(1);
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

    /// Adds a transport, started by `build`.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transports.push(Arc::new(transport));
        self
    }

    /// Builds the hub and starts its transports.
    pub fn build(self) -> Result<Hub, BuildError> {
        let pages: Vec<&str> = self.pages.iter().map(String::as_str).collect();
        let mut routing = Routing::with_pages(&pages)?;
        for (event, user_pages, admin_pages) in &self.routes {
            let user: Vec<&str> = user_pages.iter().map(String::as_str).collect();
            let admin: Vec<&str> = admin_pages.iter().map(String::as_str).collect();
            routing.set_route(event, &user, &admin)?;
        }
        let mut audit = self.audit;
        let mut store = Store::default();
        let sessions = SessionTable::default();
        let persist = match self.persist {
            None => None,
            Some((path, config)) => {
                let persistence = Persistence::open_with(&path, config)?;
                let saved = persistence.load_state()?;
                store = saved.to_store();
                for session in saved.sessions {
                    sessions.log_in(session.session_id, session.user_id, session.role);
                }
                tracing::info!(
                    path = %path.display(),
                    modules = store.module_count(),
                    sessions = sessions.len(),
                    "state restored"
                );
                // First, so a `Sync` emit returns once its row is durable whatever the
                // host's own sinks do.
                audit.insert(0, Box::new(persistence.audit_sink()));
                Some(persistence)
            }
        };
        let hub = Hub {
            inner: Arc::new(HubInner {
                registry: Registry::new(routing.page_count()),
                routing,
                limits: self.limits,
                store: Mutex::new(store),
                auth: AuthChain {
                    custom: self.authenticators,
                    jwt: self.jwt_secret.as_deref().map(JwtAuthenticator::new),
                    sessions,
                    devices: DeviceKeys::default(),
                },
                presence: Presence::new(self.device_grace),
                metrics: Arc::new(Metrics::default()),
                client_events: self.client_events,
                stats: self.stats,
                before_emit: self.before_emit,
                audit,
                next_connection: AtomicU64::new(1),
                transports: Mutex::new(Vec::new()),
                persist,
                persist_closed: AtomicBool::new(false),
            }),
        };
        for transport in self.transports {
            transport
                .start(hub.clone())
                .map_err(|message| BuildError::Transport {
                    name: transport.name().to_owned(),
                    message,
                })?;
            hub.inner.transports.lock().push(transport);
        }
        Ok(hub)
    }
}

struct HubInner {
    limits: Limits,
    routing: Routing,
    /// The emit lock: state and the order of every delivery.
    store: Mutex<Store>,
    registry: Registry,
    auth: AuthChain,
    metrics: Arc<Metrics>,
    client_events: Option<Box<dyn ClientEventHandler>>,
    stats: Option<Box<dyn StatsProvider>>,
    before_emit: Vec<Box<dyn BeforeEmit>>,
    audit: Vec<Box<dyn AuditSink>>,
    next_connection: AtomicU64,
    transports: Mutex<Vec<Arc<dyn Transport>>>,
    presence: Presence,
    /// The database, when built with `persist`.
    persist: Option<Persistence>,
    /// Set once the final snapshot was saved and the database closed.
    persist_closed: AtomicBool,
}

impl HubInner {
    /// Saves the whole store (exact even if a save was dropped on a full queue) and
    /// closes the database, once.
    fn close_persistence(&self, store: Option<&Store>) {
        let Some(persist) = &self.persist else {
            return;
        };
        if self.persist_closed.swap(true, Ordering::SeqCst) {
            return;
        }
        match store {
            Some(store) => {
                if let Err(error) = persist.save_store(store) {
                    tracing::error!(%error, "the final state snapshot was not saved");
                }
            }
            None => tracing::warn!(
                "shutdown from inside an emit hook: the final state snapshot was not saved"
            ),
        }
        if let Err(error) = persist.clone().close() {
            tracing::error!(%error, "closing the database failed");
        }
    }
}

impl Drop for HubInner {
    fn drop(&mut self) {
        if self.persist.is_some() {
            let store = std::mem::take(self.store.get_mut());
            self.close_persistence(Some(&store));
        }
    }
}

thread_local! {
    static IN_EMIT: Cell<bool> = const { Cell::new(false) };
}

/// Holds the emit lock and marks this thread as inside it.
struct EmitGuard<'a> {
    store: MutexGuard<'a, Store>,
}

impl Drop for EmitGuard<'_> {
    fn drop(&mut self) {
        IN_EMIT.with(|flag| flag.set(false));
    }
}

/// The real-time hub. Cheap to clone (an `Arc`); every method may be called from any
/// thread.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.inner.registry.counts())
            .finish_non_exhaustive()
    }
}

/// Events produced by one emit call, and who to audit it about.
struct Emission {
    call: &'static str,
    user: Option<UserId>,
    module: Option<ModuleId>,
}

impl Hub {
    /// Starts configuring a hub.
    pub fn builder() -> HubBuilder {
        HubBuilder {
            limits: Limits {
                queue_capacity: 1024,
                max_auth_failures: 5,
                max_message_bytes: 64 * 1024,
            },
            jwt_secret: None,
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
            device_grace: Duration::from_secs(5),
            persist: None,
        }
    }

    /// Runs one state save when persistence is configured (only on changed emits, under
    /// the emit lock so saves reach the writer in the store's order). A failure is
    /// counted in the persistence metrics and logged there; live delivery goes on.
    fn save(&self, write: impl FnOnce(&Persistence) -> Result<(), PersistError>) {
        if let Some(persist) = &self.inner.persist {
            let _ = write(persist);
        }
    }

    /// Saves one user's registration flag and profile fields as the store has them.
    fn save_user(&self, store: &Store, user: &UserId) {
        if let Some(persist) = &self.inner.persist
            && let Some((registered, profile)) = store.user(user)
        {
            let _ = persist.save_user(user, registered, profile);
        }
    }

    /// The module an emit is audited about; only built (an allocation) when an audit
    /// sink will read it, so the unchanged fast path allocates nothing for it.
    fn audited_module(&self, module_id: &str) -> Option<ModuleId> {
        if self.inner.audit.is_empty() {
            None
        } else {
            ModuleId::new(module_id).ok()
        }
    }

    fn lock(&self) -> Result<EmitGuard<'_>, HubError> {
        if IN_EMIT.with(Cell::get) {
            return Err(HubError::Reentrant);
        }
        let store = self.inner.store.lock();
        IN_EMIT.with(|flag| flag.set(true));
        Ok(EmitGuard { store })
    }

    // ----- host → clients --------------------------------------------------------

    /// A module came online (seed: `emitModuleOnline(id, info)`); `info` is
    /// `{userId, name?, type?, …}` (`userId` required the first time a module is seen).
    /// Sends `module:status:changed` unless it was already online.
    pub fn emit_module_online(
        &self,
        module_id: &str,
        info: &Value,
    ) -> Result<EmitOutcome, HubError> {
        self.module_status("module_online", module_id, info, true)
    }

    /// A module went offline (seed: `emitModuleOffline(id, info)`). Sends
    /// `module:status:changed` unless it was already offline (a module never seen is
    /// recorded as offline and nothing is sent).
    pub fn emit_module_offline(
        &self,
        module_id: &str,
        info: &Value,
    ) -> Result<EmitOutcome, HubError> {
        self.module_status("module_offline", module_id, info, false)
    }

    fn module_status(
        &self,
        call: &'static str,
        module_id: &str,
        info: &Value,
        online: bool,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            ModuleId::validate(module_id)?;
            let fields = ModuleFields::parse("info", info)?;
            let mut guard = self.lock()?;
            if guard
                .store
                .is_unchanged_online(module_id, fields.owner.as_ref(), online)
            {
                return Ok((None, guard));
            }
            let module = ModuleId::new(module_id)?;
            let now = now_ms();
            let Some(record) = guard.store.set_online(&module, &fields, online, now)? else {
                return Ok((None, guard));
            };
            self.save(|db| db.save_module(record));
            let mut payload = record.extra.clone();
            payload.insert("moduleId".into(), json!(record.id));
            payload.insert("online".into(), json!(online));
            payload.insert("userId".into(), json!(record.owner));
            payload.insert("name".into(), json!(record.name));
            payload.insert("type".into(), json!(record.kind));
            payload.insert("lastChange".into(), json!(record.last_change));
            payload.insert("timestamp".into(), json!(now));
            let event = Event::new(
                event::MODULE_STATUS_CHANGED,
                Value::Object(payload),
                Audience::User {
                    user: record.owner.clone(),
                    except_session: None,
                },
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call,
                user: None,
                module: self.audited_module(module_id),
            },
            || json!({"moduleId": module_id, "info": info}),
            result,
        )
    }

    /// A module was added (seed: `emitModuleAdded(module)`); `module` has `id` or
    /// `moduleId`, `userId`, and any other fields. Sends `user:module:added` to the owner
    /// and `admin:module:added` to admins, unless it was already added.
    pub fn emit_module_added(&self, module: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, fields) = input::module_object(module)?;
            let online = match input::object("module", module)?.get("online") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(online)) => Some(*online),
                Some(other) => {
                    return Err(HubError::Input(InputError::WrongType {
                        field: "online",
                        expected: "a boolean",
                        found: crate::ids::json_type(other),
                    }));
                }
            };
            let mut guard = self.lock()?;
            let now = now_ms();
            let Some(record) = guard.store.add_module(&id, &fields, online, now)? else {
                return Ok((None, guard));
            };
            self.save(|db| db.save_module(record));
            let view = record.to_json();
            let owner = record.owner.clone();
            let events = vec![
                Event::new(
                    event::USER_MODULE_ADDED,
                    object(vec![("module", view.clone())], now),
                    Audience::User {
                        user: owner,
                        except_session: None,
                    },
                ),
                Event::new(
                    event::ADMIN_MODULE_ADDED,
                    object(vec![("module", view)], now),
                    Audience::Admins,
                ),
            ];
            Ok((Some(events), guard))
        })();
        self.finish(
            Emission {
                call: "module_added",
                user: None,
                module: input::module_object(module).ok().map(|(id, _)| id),
            },
            || module.clone(),
            result,
        )
    }

    /// A module was removed (seed: `emitModuleRemoved(module)`). Sends
    /// `user:module:removed` to the owner and `admin:module:removed` to admins, unless
    /// the module is unknown.
    pub fn emit_module_removed(&self, module: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, fields) = input::module_object(module)?;
            let mut guard = self.lock()?;
            let Some(record) = guard.store.remove_module(&id, fields.owner.as_ref())? else {
                return Ok((None, guard));
            };
            self.save(|db| db.remove_module(&id));
            let now = now_ms();
            let mut view = record.to_json();
            if let Value::Object(map) = &mut view {
                map.insert("online".into(), json!(false));
            }
            let events = vec![
                Event::new(
                    event::USER_MODULE_REMOVED,
                    object(vec![("module", view.clone())], now),
                    Audience::User {
                        user: record.owner,
                        except_session: None,
                    },
                ),
                Event::new(
                    event::ADMIN_MODULE_REMOVED,
                    object(vec![("module", view)], now),
                    Audience::Admins,
                ),
            ];
            Ok((Some(events), guard))
        })();
        self.finish(
            Emission {
                call: "module_removed",
                user: None,
                module: input::module_object(module).ok().map(|(id, _)| id),
            },
            || module.clone(),
            result,
        )
    }

    /// New telemetry for a known module (seed: `emitTelemetryUpdate(id, t)`). Sends
    /// `module:telemetry:updated` to the owner unless equal to the last value; a slow
    /// connection keeps only the latest telemetry per module.
    pub fn emit_telemetry_update(
        &self,
        module_id: &str,
        telemetry: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            ModuleId::validate(module_id)?;
            let mut guard = self.lock()?;
            let now = now_ms();
            let Some(record) = guard.store.set_telemetry(module_id, telemetry, now)? else {
                return Ok((None, guard));
            };
            self.save(|db| db.save_module(record));
            let mut event = Event::new(
                event::MODULE_TELEMETRY_UPDATED,
                object(
                    vec![
                        ("moduleId", json!(record.id)),
                        ("telemetry", telemetry.clone()),
                    ],
                    now,
                ),
                Audience::User {
                    user: record.owner.clone(),
                    except_session: None,
                },
            );
            event.conflation_key = Some(record.id.clone());
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "telemetry_update",
                user: None,
                module: self.audited_module(module_id),
            },
            || json!({"moduleId": module_id, "telemetry": telemetry}),
            result,
        )
    }

    /// A user logged in with `session_id` (seed: `emitUserLoggedIn(user, sid)`); `user`
    /// has `id`/`userId`, `role`/`userType` (default `user`) and profile fields. Registers
    /// the session for the session authenticator, then sends `user:session:started` to
    /// the user's other sessions and `admin:user:logged_in` to admins. The same session
    /// logging in twice is `Unchanged`.
    pub fn emit_user_logged_in(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let session = SessionId::new(session_id)?;
            let mut guard = self.lock()?;
            guard.store.remember_profile(&id, &profile);
            if !self
                .inner
                .auth
                .sessions
                .log_in(session.clone(), id.clone(), role)
            {
                return Ok((None, guard));
            }
            self.save(|db| db.save_session(&session, &id, role));
            self.save_user(&guard.store, &id);
            let now = now_ms();
            let events = vec![
                Event::new(
                    event::USER_SESSION_STARTED,
                    object(vec![("userId", json!(id))], now),
                    Audience::User {
                        user: id.clone(),
                        except_session: Some(session),
                    },
                ),
                Event::new(
                    event::ADMIN_USER_LOGGED_IN,
                    object(vec![("user", user_view(&id, role, &profile))], now),
                    Audience::Admins,
                ),
            ];
            Ok((Some(events), guard))
        })();
        self.finish(
            Emission {
                call: "user_logged_in",
                user: input::user_object(user).ok().map(|(id, _, _)| id),
                module: None,
            },
            || json!({"user": user}),
            result,
        )
    }

    /// A session logged out (seed: `emitUserLoggedOut(user, sid)`). Sends
    /// `user:session:ended` to that session's connections, then closes them (reason
    /// `logged_out`), and `admin:user:logged_out` to admins. The session id is refused
    /// by both built-in authenticators afterwards. A session that is neither logged in
    /// nor connected is `Unchanged`.
    pub fn emit_user_logged_out(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let session = SessionId::new(session_id)?;
            let guard = self.lock()?;
            let was_live = self
                .inner
                .auth
                .sessions
                .log_out(&session, &id)
                .map_err(|owner| HubError::SessionMismatch { owner })?;
            if was_live {
                self.save(|db| db.remove_session(&session));
            }
            let now = now_ms();
            let ended = Event::new(
                event::USER_SESSION_ENDED,
                object(vec![("userId", json!(id))], now),
                Audience::Session {
                    user: id.clone(),
                    session: session.clone(),
                },
            );
            let reached = self.publish(ended);
            let closing = self.inner.registry.end_session(&id, &session);
            for queue in &closing {
                if queue.close(CloseReason::LoggedOut) {
                    self.audit_close(queue.id(), CloseReason::LoggedOut, Some(id.clone()));
                }
            }
            if !was_live && closing.is_empty() {
                return Ok((None, guard));
            }
            let admins = Event::new(
                event::ADMIN_USER_LOGGED_OUT,
                object(vec![("user", user_view(&id, role, &profile))], now),
                Audience::Admins,
            );
            let reached = reached + self.publish(admins);
            Ok((Some(reached), guard))
        })();
        let result = result.map(|(reached, guard)| (reached.map(Published::Done), guard));
        self.finish_published(
            Emission {
                call: "user_logged_out",
                user: input::user_object(user).ok().map(|(id, _, _)| id),
                module: None,
            },
            || json!({"user": user}),
            result,
        )
    }

    /// A profile changed (seed: `emitUserProfileUpdated(old, new)`). Sends
    /// `user:profile:updated {userId, changes}` to the user's connections with only the
    /// fields that differ from the stored profile (or from `old` the first time);
    /// `Unchanged` when none differs.
    pub fn emit_user_profile_updated(
        &self,
        old: &Value,
        new: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let new_map = input::object("new", new)?;
            let old_map = input::object("old", old)?;
            let id = input::user_id(new_map).or_else(|_| input::user_id(old_map))?;
            let old_profile = input::profile_fields(old_map);
            let new_profile = input::profile_fields(new_map);
            let mut guard = self.lock()?;
            let changes = guard.store.update_profile(&id, &old_profile, &new_profile);
            if changes.is_empty() {
                return Ok((None, guard));
            }
            self.save_user(&guard.store, &id);
            let now = now_ms();
            let event = Event::new(
                event::USER_PROFILE_UPDATED,
                object(
                    vec![("userId", json!(id)), ("changes", Value::Object(changes))],
                    now,
                ),
                Audience::User {
                    user: id,
                    except_session: None,
                },
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "user_profile_updated",
                user: None,
                module: None,
            },
            || json!({"old": old, "new": new}),
            result,
        )
    }

    /// A new account (seed: `emitUserRegistered(user)`). Sends `admin:user:registered
    /// {user}` to admins unless that user was already registered.
    pub fn emit_user_registered(&self, user: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let mut guard = self.lock()?;
            if !guard.store.register_user(&id, &profile) {
                return Ok((None, guard));
            }
            self.save_user(&guard.store, &id);
            let event = Event::new(
                event::ADMIN_USER_REGISTERED,
                object(vec![("user", user_view(&id, role, &profile))], now_ms()),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "user_registered",
                user: input::user_object(user).ok().map(|(id, _, _)| id),
                module: None,
            },
            || user.clone(),
            result,
        )
    }

    /// Asks the stats provider for current stats (seed: `emitStatsUpdate()`) and sends
    /// `admin:stats:updated {stats}` to admins if they differ from the last sent.
    pub fn emit_stats_update(&self) -> Result<EmitOutcome, HubError> {
        let provider = self.inner.stats.as_ref().ok_or(HubError::NoStatsProvider);
        let stats = provider.and_then(|provider| {
            guarded(&self.inner.metrics, "stats_provider", || provider.stats())
                .ok_or_else(|| HubError::StatsProvider("the stats provider panicked".into()))?
                .map_err(HubError::StatsProvider)
        });
        match stats {
            Ok(stats) => self.emit_stats_update_with(&stats),
            Err(error) => {
                self.inner.metrics.emits_failed.increment();
                Err(error)
            }
        }
    }

    /// Sends `admin:stats:updated {stats}` with the given stats (an object) if they
    /// differ from the last sent.
    pub fn emit_stats_update_with(&self, stats: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            input::object("stats", stats)?;
            let mut guard = self.lock()?;
            if !guard.store.set_stats(stats) {
                return Ok((None, guard));
            }
            self.save(|db| db.save_stats(stats));
            let event = Event::new(
                event::ADMIN_STATS_UPDATED,
                object(vec![("stats", stats.clone())], now_ms()),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "stats_update",
                user: None,
                module: None,
            },
            || json!({"stats": stats}),
            result,
        )
    }

    /// An administrator acted (seed: `emitAdminAction(adminId, action, details)`).
    /// Always sends `admin:action {adminId, action, details}` to admins.
    pub fn emit_admin_action(
        &self,
        admin_id: impl Into<IdArg>,
        action: &str,
        details: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let admin_id = admin_id.into();
        let result = (|| {
            let admin = admin_id.to_user_id()?;
            check_event_name(action).map_err(|_| {
                HubError::Input(InputError::WrongType {
                    field: "action",
                    expected: "a non-empty name without control characters",
                    found: "string",
                })
            })?;
            let guard = self.lock()?;
            let event = Event::new(
                event::ADMIN_ACTION,
                object(
                    vec![
                        ("adminId", json!(admin)),
                        ("action", json!(action)),
                        ("details", details.clone()),
                    ],
                    now_ms(),
                ),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "admin_action",
                user: admin_id.to_user_id().ok(),
                module: None,
            },
            || json!({"adminId": admin_id.to_json(), "action": action, "details": details}),
            result,
        )
    }

    /// Switches maintenance mode (seed: `emitMaintenanceMode(on, msg, adminId)`). Sends
    /// `system:maintenance {enabled, message, adminId}` to every authenticated
    /// connection, unless already in that state with that message. While on, newly
    /// authenticated connections receive it too.
    pub fn emit_maintenance_mode(
        &self,
        enabled: bool,
        message: &str,
        admin_id: impl Into<IdArg>,
    ) -> Result<EmitOutcome, HubError> {
        let admin_id = admin_id.into();
        let result = (|| {
            let admin = admin_id.to_user_id()?;
            let mut guard = self.lock()?;
            if !guard.store.set_maintenance(enabled, message) {
                return Ok((None, guard));
            }
            self.save(|db| db.save_maintenance(guard.store.maintenance()));
            let event = Event::new(
                event::SYSTEM_MAINTENANCE,
                object(
                    vec![
                        ("enabled", json!(enabled)),
                        ("message", json!(message)),
                        ("adminId", json!(admin)),
                    ],
                    now_ms(),
                ),
                Audience::Everyone,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "maintenance_mode",
                user: admin_id.to_user_id().ok(),
                module: None,
            },
            || json!({"enabled": enabled, "message": message, "adminId": admin_id.to_json()}),
            result,
        )
    }

    /// Sends a host event to every connection of one user (seed: `emitToUser`), for
    /// anything the twelve calls don't cover. Names in a reserved prefix are refused;
    /// object data gets `timestamp`.
    pub fn emit_to_user(
        &self,
        user_id: impl Into<IdArg>,
        event_name: &str,
        data: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let user_id = user_id.into();
        let result = (|| {
            let user = user_id.to_user_id()?;
            check_host_event(event_name)?;
            let guard = self.lock()?;
            let event = Event::new(
                event_name,
                event::with_timestamp(data.clone(), now_ms()),
                Audience::User {
                    user,
                    except_session: None,
                },
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "to_user",
                user: user_id.to_user_id().ok(),
                module: None,
            },
            || json!({"userId": user_id.to_json(), "event": event_name, "data": data}),
            result,
        )
    }

    /// Sends a host event to admin connections (seed: `emitToAdmins`), on every page
    /// unless a route says otherwise.
    pub fn emit_to_admins(&self, event_name: &str, data: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            check_host_event(event_name)?;
            let guard = self.lock()?;
            let event = Event::new(
                event_name,
                event::with_timestamp(data.clone(), now_ms()),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "to_admins",
                user: None,
                module: None,
            },
            || json!({"event": event_name, "data": data}),
            result,
        )
    }

    // ----- delivery -------------------------------------------------------------

    /// Runs the before-emit hooks, then resolves and queues one event. Must be called
    /// with the emit lock held. Returns the number of connections reached.
    fn publish(&self, mut event: Event) -> usize {
        let inner = &*self.inner;
        for filter in &inner.before_emit {
            let verdict = guarded(&inner.metrics, "before_emit", || {
                filter.before_emit(&event.name, &event.audience, &mut event.payload)
            });
            if verdict != Some(Verdict::Keep) {
                inner.metrics.events_dropped_by_hook.increment();
                return 0;
            }
        }
        let route = inner.routing.route_for(&event.name, &event.audience);
        let frame = OutboundEvent::new(
            event.name,
            event.payload,
            event.conflation_key,
            Arc::clone(&inner.metrics),
        );
        let mut reached = 0usize;
        let mut conflated = 0u64;
        let mut overflowed: Vec<ConnectionId> = Vec::new();
        inner
            .registry
            .for_each_recipient(&event.audience, route, |queue| match queue.push(&frame) {
                Pushed::Queued => reached += 1,
                Pushed::Conflated => {
                    reached += 1;
                    conflated += 1;
                }
                Pushed::Overflowed => overflowed.push(queue.id()),
                Pushed::Closed => {}
            });
        inner.metrics.frames_delivered.add(reached as u64);
        if conflated > 0 {
            inner.metrics.frames_conflated.add(conflated);
        }
        for id in overflowed {
            self.slow_consumer(id);
        }
        reached
    }

    fn slow_consumer(&self, id: ConnectionId) {
        self.inner.metrics.queue_overflows.increment();
        let user = self.user_of(id);
        self.unsubscribe_closing(id);
        tracing::warn!(connection = %id, "closed a slow consumer: its queue overflowed");
        self.audit_close(id, CloseReason::SlowConsumer, user);
    }

    /// Sends one frame straight to one connection (replies: `auth:*`, `page:snapshot`).
    fn send_direct(&self, queue: &Arc<OutboundQueue>, name: &'static str, payload: Value) {
        let frame = OutboundEvent::new(name.into(), payload, None, Arc::clone(&self.inner.metrics));
        match queue.push(&frame) {
            Pushed::Queued | Pushed::Conflated => self.inner.metrics.frames_delivered.increment(),
            Pushed::Overflowed => self.slow_consumer(queue.id()),
            Pushed::Closed => {}
        }
    }

    /// Publishes the events of an emit (still under its lock), then counts and audits.
    fn finish(
        &self,
        emission: Emission,
        detail: impl FnOnce() -> Value,
        result: Result<(Option<Vec<Event>>, EmitGuard<'_>), HubError>,
    ) -> Result<EmitOutcome, HubError> {
        let result = result.map(|(events, guard)| (events.map(Published::Pending), guard));
        self.finish_published(emission, detail, result)
    }

    fn finish_published(
        &self,
        emission: Emission,
        detail: impl FnOnce() -> Value,
        result: Result<(Option<Published>, EmitGuard<'_>), HubError>,
    ) -> Result<EmitOutcome, HubError> {
        let metrics = &self.inner.metrics;
        let outcome = match result {
            Ok((None, guard)) => {
                drop(guard);
                metrics.emits_unchanged.increment();
                Ok(EmitOutcome::Unchanged)
            }
            Ok((Some(published), guard)) => {
                let connections = match published {
                    Published::Done(reached) => reached,
                    Published::Pending(events) => events.into_iter().map(|e| self.publish(e)).sum(),
                };
                drop(guard);
                metrics.emits_changed.increment();
                Ok(EmitOutcome::Delivered { connections })
            }
            Err(error) => {
                metrics.emits_failed.increment();
                if !matches!(error, HubError::Reentrant) {
                    metrics.bad_input(BadInputKind::HostArgument);
                }
                Err(error)
            }
        };
        if !self.inner.audit.is_empty() {
            let audit_outcome = match &outcome {
                Ok(EmitOutcome::Unchanged) => AuditOutcome::Unchanged,
                Ok(EmitOutcome::Delivered { connections }) => AuditOutcome::Delivered {
                    connections: *connections,
                },
                Err(error) => AuditOutcome::Refused {
                    code: error.code().to_owned(),
                },
            };
            self.record_audit(AuditRecord {
                timestamp: now_ms(),
                kind: AuditKind::Emit,
                action: emission.call.to_owned(),
                user_id: emission.user,
                module_id: emission.module,
                connection: None,
                outcome: audit_outcome,
                detail: detail(),
            });
        }
        outcome
    }

    fn record_audit(&self, record: AuditRecord) {
        for sink in &self.inner.audit {
            guarded(&self.inner.metrics, "audit_sink", || sink.record(&record));
        }
    }

    /// The user a connection is authenticated as; read it before unsubscribing.
    fn user_of(&self, id: ConnectionId) -> Option<UserId> {
        self.inner
            .registry
            .identity(id)
            .map(|(identity, _)| identity.user_id)
    }

    /// Audits a close; `user` is passed in because a closing connection has already
    /// been taken out of the registry's indexes.
    fn audit_close(&self, id: ConnectionId, reason: CloseReason, user: Option<UserId>) {
        if self.inner.audit.is_empty() {
            return;
        }
        self.record_audit(AuditRecord {
            timestamp: now_ms(),
            kind: AuditKind::Close,
            action: reason.as_str().to_owned(),
            user_id: user,
            module_id: None,
            connection: Some(id),
            outcome: AuditOutcome::Accepted,
            detail: Value::Null,
        });
    }

    // ----- connections ----------------------------------------------------------

    /// Attaches a new connection speaking `format`; the transport drains its queue when
    /// `waker` fires and drops the returned [`Connection`] when the socket closes.
    pub fn attach(
        &self,
        context: HandshakeContext,
        format: WireFormat,
        waker: impl Wake,
    ) -> Connection {
        let id = self.next_connection_id();
        let queue = OutboundQueue::new(
            id,
            format,
            self.inner.limits.queue_capacity,
            Box::new(waker),
        );
        self.attach_queue(queue, context)
    }

    /// Opens an in-process connection (no socket), for Rust embedders and tests.
    pub fn connect_in_process(&self) -> InProcessConnection {
        self.connect_in_process_with(HandshakeContext::default())
    }

    /// Opens an in-process connection with a given handshake context (headers,
    /// cookies, address) for authenticators that read it.
    pub fn connect_in_process_with(&self, context: HandshakeContext) -> InProcessConnection {
        let id = self.next_connection_id();
        let queue =
            OutboundQueue::new_local(id, WireFormat::Native, self.inner.limits.queue_capacity);
        InProcessConnection::new(self.attach_queue(queue, context))
    }

    fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.inner.next_connection.fetch_add(1, Ordering::Relaxed))
    }

    fn attach_queue(&self, queue: OutboundQueue, context: HandshakeContext) -> Connection {
        let queue = Arc::new(queue);
        self.inner.registry.attach(Arc::clone(&queue), context);
        Connection::new(self.clone(), queue)
    }

    /// Takes a closing connection out of every audience; a device's module then starts
    /// its offline grace period (the connection is gone for presence even before the
    /// transport detaches it).
    fn unsubscribe_closing(&self, id: ConnectionId) {
        let identity = self
            .inner
            .registry
            .identity(id)
            .map(|(identity, _)| identity);
        self.inner.registry.unsubscribe(id);
        if let Some(Identity {
            module_id: Some(module),
            ..
        }) = identity
        {
            self.device_disconnected(module);
        }
    }

    pub(crate) fn detach(&self, id: ConnectionId) {
        let identity = self
            .inner
            .registry
            .identity(id)
            .map(|(identity, _)| identity);
        if let Some(queue) = self.inner.registry.detach(id) {
            queue.close(CloseReason::Detached);
        }
        if let Some(Identity {
            module_id: Some(module),
            ..
        }) = identity
        {
            self.device_disconnected(module);
        }
    }

    // ----- devices ----------------------------------------------------------------

    /// Registers a device key for `module_id`, owned by `owner`: a board authenticates
    /// with `{"moduleId": …, "deviceKey": …}` (the alternative to a device JWT with role
    /// `device`, `sub` = module id and an `owner` claim). Replaces an earlier key.
    pub fn register_device_key(
        &self,
        module_id: &str,
        owner: impl Into<IdArg>,
        key: &str,
    ) -> Result<(), HubError> {
        let module = ModuleId::new(module_id)?;
        let owner = owner.into().to_user_id()?;
        if key.len() < 16 {
            return Err(HubError::Input(InputError::WrongType {
                field: "deviceKey",
                expected: "a key of at least 16 characters",
                found: "a shorter string",
            }));
        }
        self.inner
            .auth
            .devices
            .register(module, owner, key.to_owned());
        Ok(())
    }

    /// Forgets the device key of `module_id`; returns whether there was one. Connections
    /// already authenticated with it stay open.
    pub fn revoke_device_key(&self, module_id: &str) -> bool {
        ModuleId::new(module_id).is_ok_and(|module| self.inner.auth.devices.revoke(&module))
    }

    /// A device connection authenticated: its module goes online (unchanged if a quick
    /// reconnect kept it online).
    fn device_connected(&self, module: &ModuleId, owner: &UserId) {
        self.inner.presence.connected(module, owner);
        if let Err(error) = self.emit_module_online(module.as_str(), &json!({"userId": owner})) {
            tracing::warn!(%module, %error, "device connected but its module could not go online");
        }
    }

    fn device_disconnected(&self, module: ModuleId) {
        let Some(generation) = self.inner.presence.disconnected(&module) else {
            return;
        };
        // With no grace the module goes offline at once, unless this thread holds the
        // emit lock (a slow consumer closed during a delivery): the timer thread does it.
        if self.inner.presence.grace.is_zero() && !IN_EMIT.with(Cell::get) {
            Self::device_grace_over(&self.inner, &module, generation);
        } else {
            self.inner.presence.schedule(
                module,
                generation,
                Arc::downgrade(&self.inner),
                Self::device_grace_over,
            );
        }
    }

    /// Runs on the grace timer thread: takes the module offline unless its device came
    /// back.
    fn device_grace_over(inner: &Arc<HubInner>, module: &ModuleId, generation: u64) {
        let hub = Hub {
            inner: Arc::clone(inner),
        };
        if let Some(owner) = inner.presence.expire(module, generation)
            && let Err(error) = hub.emit_module_offline(module.as_str(), &json!({"userId": owner}))
        {
            tracing::warn!(%module, %error, "device gone but its module could not go offline");
        }
    }

    /// Handles a raw native-protocol frame from connection `id`.
    pub fn receive_frame(&self, id: ConnectionId, bytes: &[u8]) -> Result<Reply, InboundError> {
        match native::decode(bytes, self.inner.limits.max_message_bytes) {
            Ok(frame) => self.on_client_message(id, &frame.event, &frame.data),
            Err(error) => {
                let kind = match error {
                    FrameError::TooLarge { .. } => BadInputKind::TooLarge,
                    FrameError::InvalidUtf8(_) => BadInputKind::InvalidUtf8,
                    FrameError::InvalidJson(_) => BadInputKind::InvalidJson,
                    FrameError::WrongShape(_) => BadInputKind::WrongShape,
                };
                self.bad_input(id, kind, &error.to_string());
                Err(error.into())
            }
        }
    }

    fn bad_input(&self, id: ConnectionId, kind: BadInputKind, message: &str) {
        self.inner.metrics.bad_input(kind);
        tracing::debug!(connection = %id, ?kind, message, "bad input");
        if !self.inner.audit.is_empty() {
            self.record_audit(AuditRecord {
                timestamp: now_ms(),
                kind: AuditKind::BadInput,
                action: format!("{kind:?}"),
                user_id: None,
                module_id: None,
                connection: Some(id),
                outcome: AuditOutcome::Refused {
                    code: "bad_input".into(),
                },
                detail: json!({"message": message}),
            });
        }
    }

    /// Handles a decoded client event from connection `id`: `client:authenticate`,
    /// `client:page`, or (once authenticated) any other event, forwarded to the
    /// client-event hook with the verified identity.
    pub fn on_client_message(
        &self,
        id: ConnectionId,
        event_name: &str,
        data: &Value,
    ) -> Result<Reply, InboundError> {
        if event_name == event::CLIENT_AUTHENTICATE {
            return self.authenticate_connection(id, data, true);
        }
        let Some((identity, page)) = self.inner.registry.identity(id) else {
            let (queue, _) = self
                .inner
                .registry
                .connection(id)
                .ok_or(InboundError::Closed(id))?;
            self.bad_input(id, BadInputKind::NotAuthenticated, event_name);
            self.refuse(&queue, AuthError::NotAuthenticated, true);
            return Err(InboundError::Auth(AuthError::NotAuthenticated));
        };
        if event_name == event::CLIENT_PAGE {
            return self.change_page(id, data);
        }
        if let (Some(module), DEVICE_TELEMETRY) = (&identity.module_id, event_name) {
            // A device's telemetry frame is its module's telemetry, nothing else.
            let outcome = self
                .emit_telemetry_update(module.as_str(), data)
                .map_err(|error| InboundError::Device(error.to_string()))?;
            return Ok(Reply {
                ack: serde_json::to_value(outcome).ok(),
            });
        }
        match &self.inner.client_events {
            Some(handler) => {
                let client_event = ClientEvent {
                    connection: id,
                    identity,
                    page: self.inner.routing.page_name(page).to_owned(),
                    event: event_name.to_owned(),
                    data: data.clone(),
                };
                self.inner.metrics.client_events_forwarded.increment();
                guarded(&self.inner.metrics, "client_event", || {
                    handler.on_client_event(&client_event)
                });
            }
            None => self.inner.metrics.client_events_dropped.increment(),
        }
        Ok(Reply::default())
    }

    /// Authenticates connection `id` with `data`; on refusal `auth:error` is sent to it
    /// only when `notify_failure` (the connect-time path answers in its handshake).
    pub(crate) fn authenticate_connection(
        &self,
        id: ConnectionId,
        data: &Value,
        notify_failure: bool,
    ) -> Result<Reply, InboundError> {
        let (queue, context) = self
            .inner
            .registry
            .connection(id)
            .ok_or(InboundError::Closed(id))?;
        if queue.closed().is_some() {
            return Err(InboundError::Closed(id));
        }
        let verified = self.verify(data, &context);
        let (identity, page) = match verified {
            Ok(verified) => verified,
            Err(error) => {
                if let AuthError::InvalidPayload(message) = &error {
                    self.bad_input(id, BadInputKind::WrongShape, message);
                }
                return Err(self.refuse(&queue, error, notify_failure));
            }
        };
        let guard = self.lock().map_err(|_| InboundError::Reentrant)?;
        if let Some(module) = &identity.module_id
            && guard
                .store
                .module(module.as_str())
                .is_some_and(|record| record.owner != identity.user_id)
        {
            drop(guard);
            return Err(self.refuse(&queue, AuthError::DeviceOwnerMismatch, notify_failure));
        }
        let was_device = self
            .inner
            .registry
            .identity(id)
            .is_some_and(|(previous, _)| previous.module_id.is_some());
        if let Err(error) = self.inner.registry.authenticate(id, identity.clone(), page) {
            drop(guard);
            return match error {
                RegistryError::Auth(error) => Err(self.refuse(&queue, error, notify_failure)),
                _ => Err(InboundError::Closed(id)),
            };
        }
        self.inner.metrics.auth_successes.increment();
        let mut ok = json!({
            "userId": identity.user_id,
            "role": identity.role.as_str(),
            "sessionId": identity.session_id,
            "page": self.inner.routing.page_name(page),
        });
        if let Some(module) = &identity.module_id {
            ok["moduleId"] = json!(module);
        }
        self.send_direct(
            &queue,
            event::AUTH_OK,
            event::with_timestamp(ok.clone(), now_ms()),
        );
        self.send_snapshot(&guard.store, &queue, &identity, page);
        drop(guard);
        if let Some(module) = &identity.module_id
            && !was_device
        {
            self.device_connected(module, &identity.user_id);
        }
        if !self.inner.audit.is_empty() {
            self.record_audit(AuditRecord {
                timestamp: now_ms(),
                kind: AuditKind::Auth,
                action: "authenticate".into(),
                user_id: Some(identity.user_id.clone()),
                module_id: identity.module_id.clone(),
                connection: Some(id),
                outcome: AuditOutcome::Accepted,
                detail: json!({"role": identity.role.as_str(), "remoteAddr": context.remote_addr.map(|a| a.to_string())}),
            });
        }
        Ok(Reply { ack: Some(ok) })
    }

    /// Runs the authenticator chain (host ones first, panics caught) and checks the page.
    fn verify(
        &self,
        data: &Value,
        context: &HandshakeContext,
    ) -> Result<(Identity, PageIndex), AuthError> {
        let request = AuthRequest::parse(data)?;
        let page_name = request.page.as_deref().unwrap_or("modules");
        let page = self
            .inner
            .routing
            .page(page_name)
            .ok_or_else(|| AuthError::UnknownPage(page_name.to_owned()))?;
        for authenticator in &self.inner.auth.custom {
            match guarded(&self.inner.metrics, "authenticator", || {
                authenticator.authenticate(&request, context)
            }) {
                Some(AuthDecision::Accept(identity)) => {
                    request.check_claims(&identity)?;
                    return Ok((identity, page));
                }
                Some(AuthDecision::Refuse(error)) => return Err(error),
                Some(AuthDecision::Pass) => {}
                None => return Err(AuthError::HookFailed),
            }
        }
        Ok((self.inner.auth.builtin(&request)?, page))
    }

    /// Sends `auth:error`, counts the failure, closes the connection past the limit.
    fn refuse(&self, queue: &Arc<OutboundQueue>, error: AuthError, notify: bool) -> InboundError {
        let metrics = &self.inner.metrics;
        metrics.auth_failures.increment();
        let failures = self.inner.registry.record_auth_failure(queue.id());
        if notify {
            let body = json!({"code": error.code(), "message": error.to_string()});
            self.send_direct(
                queue,
                event::AUTH_ERROR,
                event::with_timestamp(body, now_ms()),
            );
        }
        if !self.inner.audit.is_empty() {
            self.record_audit(AuditRecord {
                timestamp: now_ms(),
                kind: AuditKind::Auth,
                action: "authenticate".into(),
                user_id: None,
                module_id: None,
                connection: Some(queue.id()),
                outcome: AuditOutcome::Refused {
                    code: error.code().to_owned(),
                },
                detail: json!({"message": error.to_string()}),
            });
        }
        if failures >= self.inner.limits.max_auth_failures {
            let user = self.user_of(queue.id());
            self.unsubscribe_closing(queue.id());
            if queue.close(CloseReason::TooManyAuthFailures) {
                self.audit_close(queue.id(), CloseReason::TooManyAuthFailures, user);
            }
        }
        InboundError::Auth(error)
    }

    fn change_page(&self, id: ConnectionId, data: &Value) -> Result<Reply, InboundError> {
        let page_name = match data {
            Value::Object(map) => map.get("page").and_then(Value::as_str),
            Value::String(page) => Some(page.as_str()),
            _ => None,
        };
        let Some(page_name) = page_name else {
            self.bad_input(id, BadInputKind::WrongShape, "client:page needs {page}");
            return Err(InboundError::InvalidPage(
                "expected {\"page\": \"<name>\"}".into(),
            ));
        };
        let Some(page) = self.inner.routing.page(page_name) else {
            self.bad_input(
                id,
                BadInputKind::WrongShape,
                "client:page names an unknown page",
            );
            return Err(InboundError::InvalidPage(format!(
                "unknown page {page_name:?}"
            )));
        };
        let guard = self.lock().map_err(|_| InboundError::Reentrant)?;
        let identity = self
            .inner
            .registry
            .set_page(id, page)
            .map_err(|_| InboundError::Closed(id))?;
        let (queue, _) = self
            .inner
            .registry
            .connection(id)
            .ok_or(InboundError::Closed(id))?;
        self.send_snapshot(&guard.store, &queue, &identity, page);
        Ok(Reply::default())
    }

    /// `page:snapshot` (and `system:maintenance` while on) for one connection; called
    /// under the emit lock so no event interleaves.
    fn send_snapshot(
        &self,
        store: &Store,
        queue: &Arc<OutboundQueue>,
        identity: &Identity,
        page: PageIndex,
    ) {
        if identity.role == Role::Device {
            return;
        }
        let page_name = self.inner.routing.page_name(page);
        let modules: Vec<Value> = store
            .modules_of(&identity.user_id)
            .map(|m| m.to_json())
            .collect();
        let mut snapshot = Map::new();
        snapshot.insert("page".into(), json!(page_name));
        snapshot.insert("modules".into(), Value::Array(modules));
        if identity.role == Role::Admin
            && page_name == "admin"
            && let Some(stats) = store.stats()
        {
            snapshot.insert("stats".into(), stats.clone());
        }
        let maintenance = store.maintenance();
        if maintenance.enabled {
            snapshot.insert(
                "maintenance".into(),
                json!({"enabled": true, "message": maintenance.message}),
            );
        }
        let now = now_ms();
        snapshot.insert("timestamp".into(), json!(now));
        self.send_direct(queue, event::PAGE_SNAPSHOT, Value::Object(snapshot));
        if maintenance.enabled {
            let body = json!({"enabled": true, "message": maintenance.message, "timestamp": now});
            self.send_direct(queue, event::SYSTEM_MAINTENANCE, body);
        }
    }

    // ----- observation and lifecycle ---------------------------------------------

    /// Whether connection `id` is authenticated.
    pub fn is_authenticated(&self, id: ConnectionId) -> bool {
        self.inner.registry.identity(id).is_some()
    }

    /// Counts bad input seen by a transport.
    pub(crate) fn count_bad_input(&self, kind: BadInputKind) {
        self.inner.metrics.bad_input(kind);
    }

    pub(crate) fn count_refused_connection(&self) {
        self.inner.metrics.connections_refused.increment();
    }

    pub(crate) fn count_auth_timeout(&self) {
        self.inner.metrics.auth_timeouts.increment();
    }

    pub(crate) fn count_ping_timeout(&self) {
        self.inner.metrics.ping_timeouts.increment();
    }

    /// A copy of every counter, with the persistence health when configured.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut snapshot = self.inner.metrics.snapshot(self.inner.registry.counts());
        snapshot.persistence = self.inner.persist.as_ref().map(Persistence::metrics);
        snapshot
    }

    /// The database, when the hub was built with [`HubBuilder::persist`].
    pub fn persistence(&self) -> Option<&Persistence> {
        self.inner.persist.as_ref()
    }

    /// The audit log; [`PersistError::NotConfigured`] without persistence.
    pub fn audit(&self) -> Result<AuditLog, PersistError> {
        self.inner
            .persist
            .clone()
            .map(AuditLog::new)
            .ok_or(PersistError::NotConfigured)
    }

    /// Audit rows matching `filter`, including every row recorded before the call
    /// (`hub.audit()?.query(filter)`).
    pub fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, PersistError> {
        self.audit()?.query(filter)
    }

    /// Stops every transport (flushing within `deadline`) and closes every remaining
    /// connection with reason `shutdown`, after the frames already queued. With
    /// persistence, then saves the whole store under the emit lock and closes the
    /// database, so a clean shutdown loses nothing; later writes are counted as dropped
    /// in the persistence metrics. Dropping the last `Hub` does the same saving.
    pub fn shutdown(&self, deadline: Duration) {
        let transports: Vec<_> = self.inner.transports.lock().drain(..).collect();
        for transport in transports {
            transport.shutdown(deadline);
        }
        for queue in self.inner.registry.all_queues() {
            self.unsubscribe_closing(queue.id());
            queue.close(CloseReason::Shutdown);
        }
        if self.inner.persist.is_some() {
            match self.lock() {
                Ok(guard) => self.inner.close_persistence(Some(&guard.store)),
                Err(_) => self.inner.close_persistence(None),
            }
        }
    }
}

enum Published {
    Pending(Vec<Event>),
    Done(usize),
}

/// A user id argument: text or a number (the seed uses `userId: 123`).
#[derive(Debug, Clone)]
pub enum IdArg {
    /// A textual id.
    Text(String),
    /// A numeric id, sent as its decimal string.
    Number(i64),
    /// A JSON value (string or integer).
    Json(Value),
}

impl IdArg {
    fn to_user_id(&self) -> Result<UserId, IdError> {
        match self {
            Self::Text(text) => UserId::new(text),
            Self::Number(n) => UserId::from_json(&json!(n)),
            Self::Json(value) => UserId::from_json(value),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Text(text) => json!(text),
            Self::Number(n) => json!(n),
            Self::Json(value) => value.clone(),
        }
    }
}

impl From<&str> for IdArg {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}
impl From<String> for IdArg {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}
impl From<&UserId> for IdArg {
    fn from(id: &UserId) -> Self {
        Self::Text(id.as_str().to_owned())
    }
}
impl From<i64> for IdArg {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}
impl From<i32> for IdArg {
    fn from(n: i32) -> Self {
        Self::Number(n.into())
    }
}
impl From<u32> for IdArg {
    fn from(n: u32) -> Self {
        Self::Number(n.into())
    }
}
impl From<&Value> for IdArg {
    fn from(value: &Value) -> Self {
        Self::Json(value.clone())
    }
}
impl From<Value> for IdArg {
    fn from(value: Value) -> Self {
        Self::Json(value)
    }
}

fn user_view(id: &UserId, role: Role, profile: &Map<String, Value>) -> Value {
    let mut view = profile.clone();
    view.insert("userId".into(), json!(id));
    view.insert("role".into(), json!(role.as_str()));
    Value::Object(view)
}

fn check_event_name(name: &str) -> Result<(), HubError> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(HubError::InvalidEventName(format!(
            "{name:?}: 1 to 128 bytes, no control characters"
        )));
    }
    Ok(())
}

fn check_host_event(name: &str) -> Result<(), HubError> {
    check_event_name(name)?;
    if event::is_reserved(name) || name == event::CLIENT_AUTHENTICATE || name == event::CLIENT_PAGE
    {
        return Err(HubError::ReservedEvent(name.to_owned()));
    }
    Ok(())
}
