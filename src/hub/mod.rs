//! The Hub: the facade hosts call, with the seed's `emit_*` API, wiring the parts below.
//!
//! Data flows one way (DESIGN §2): **host → `emit_*` → store (changed?) → [`Event`](crate::event::Event) →
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
//!   unauthenticated connection (`tests/hub/bad_input.rs::unknown_event_before_authenticate_is_refused`).
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
//! One concept per file: `builder.rs` (configuration) and `builder/build.rs` (restore
//! and start at build), `emit.rs` (the seed's `emit_*` methods, each a constructor of a
//! [`crate::call::HostCall`]), `run.rs` (the one skeleton every host call runs through),
//! `calls/` (each call's own parts: check, claim, apply, steps), `deliver.rs` (hooks,
//! resolution, queues, audit), `inbound.rs` (client messages and authentication),
//! `connections.rs` (attach, detach, device presence), `errors.rs` (outcomes and
//! errors), `cluster.rs` (the shared broker: claims, publication, other nodes' calls),
//! `handoff.rs` (connection-state recovery across nodes), `restart.rs` (modules restored
//! online that wait for their device), `executor.rs` (where the emits the library
//! originates run), `ports.rs` (the `Transport`, `Connection` and `HostSink` ports every
//! transport adapter uses); this file holds the shared state, the emit lock and the
//! lifecycle.
//!
//! This module must not encode frames (that is `protocol/`) nor decide isolation (that
//! is `registry/`).

mod audit_view;
mod authenticate;
mod builder;
mod calls;
mod cluster;
mod connections;
mod deliver;
mod emit;
mod errors;
mod executor;
mod handoff;
mod inbound;
mod monitoring;
pub mod ports;
mod restart;
mod run;
mod snapshot;

pub use crate::call::IdArg;
pub use crate::event::DEVICE_TELEMETRY;
pub use builder::HubBuilder;
use builder::Limits;
pub use errors::{BuildError, EmitOutcome, HubError, InboundError, Reply};
pub(crate) use executor::API_PATIENCE;
pub use executor::{Executor, Job};
pub(crate) use handoff::{SurrenderFn, Surrendered, parse_marked_offset};

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use crate::auth::AuthChain;
use crate::broker::Broker;
use crate::devices::Presence;
use crate::hooks::{AuditSink, BeforeEmit, ClientEventHandler, StatsProvider};
use crate::ids::ConnectionId;
use crate::ids::UserId;
use crate::metrics::{BadInputKind, Metrics};
use crate::monitor::Monitor;
use crate::outbound::{CloseReason, HostDelivery};
use crate::persist::{AuditFilter, AuditLog, AuditRow, PersistError, Persistence};
use crate::registry::Registry;
use crate::registry::routing::Routing;
use crate::snapshot::MetricsSnapshot;
use crate::store::Store;
pub use ports::{Connection, HostSink, Transport};

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
    /// The host-callback transport's sink, when the host owns sockets.
    host: Option<Arc<HostDelivery>>,
    presence: Presence,
    /// The database, when built with `persist`.
    persist: Option<Persistence>,
    /// Set once the final snapshot was saved and the database closed.
    persist_closed: AtomicBool,
    /// Whether published events get an offset (a server with connection-state recovery
    /// turned it on); read on every publish, under the emit lock.
    event_offsets: AtomicBool,
    /// Modules restored online that wait for their device after a restart.
    restored: restart::RestoredOnline,
    /// The next offset when persistence is off (with persistence the event history's
    /// counter is used, so offsets keep growing across restarts).
    next_offset: AtomicU64,
    /// Admin monitoring, when built with `monitor`.
    monitor: Option<Monitor>,
    /// Where the emits the library originates run, when the host gave one.
    executor: Option<Box<dyn Executor>>,
    /// How change decisions and events are shared with other nodes ([`InMemory`] by
    /// default).
    broker: Arc<dyn Broker>,
    /// `broker.is_shared()`, read once per emit without a virtual call.
    shared: bool,
    /// Cross-node recovery: takeovers asked for and the surrender callback.
    handoffs: handoff::Handoffs,
    /// The newest shared sequence number applied here per state key (shared broker;
    /// locked only under the emit lock, see [`Hub::superseded`]).
    applied_seqs: parking_lot::Mutex<std::collections::HashMap<String, u64>>,
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

/// The shared state key an emit's claim changed and its sequence number, set by the
/// claim (before the emit lock) and moved into the [`EmitGuard`].
pub(crate) type Claimed = Option<(String, u64)>;

/// Holds the emit lock and marks this thread as inside it.
struct EmitGuard<'a> {
    store: MutexGuard<'a, Store>,
    /// The shared state key this emit changed and its sequence number (shared broker).
    claimed: Option<(String, u64)>,
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

impl Hub {
    /// Starts configuring a hub.
    pub fn builder() -> HubBuilder {
        HubBuilder::new()
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

    /// What an emit is audited about, computed only when an audit sink will read it,
    /// so a hub without one does no extra parsing or allocation on the emit path.
    fn audited<T>(&self, compute: impl FnOnce() -> Option<T>) -> Option<T> {
        if self.inner.audit.is_empty() {
            None
        } else {
            compute()
        }
    }

    /// Refuses an emit from inside another (a before-emit hook or a sink emitting).
    fn not_reentrant(&self) -> Result<(), HubError> {
        if IN_EMIT.with(Cell::get) {
            return Err(HubError::Reentrant);
        }
        Ok(())
    }

    fn lock(&self) -> Result<EmitGuard<'_>, HubError> {
        self.not_reentrant()?;
        let store = self.inner.store.lock();
        IN_EMIT.with(|flag| flag.set(true));
        Ok(EmitGuard {
            store,
            claimed: None,
        })
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
        MetricsSnapshot::assemble(
            &self.inner.metrics,
            self.inner.registry.counts(),
            self.inner.persist.as_ref().map(Persistence::metrics),
            self.inner.broker.stats(),
            self.inner
                .auth
                .jwt
                .as_ref()
                .and_then(|jwt| jwt.jwks_stats()),
        )
    }

    /// Stops delivering host frames from the delivery thread and waits for a frame
    /// being delivered (the C ABI calls it before the host frees what its callbacks
    /// use; see `outbound/host.rs`).
    pub(crate) fn stop_host_delivery(&self) {
        if let Some(host) = &self.inner.host {
            host.stop(true);
        }
    }

    /// Every counter in the Prometheus text exposition format (what the server's
    /// `GET /metrics` answers; a host with its own HTTP server can serve this).
    pub fn prometheus_text(&self) -> String {
        crate::monitor::prometheus::encode(self.metrics())
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
        self.inner.broker.stop();
        if self.inner.persist.is_some() {
            match self.lock() {
                Ok(guard) => self.inner.close_persistence(Some(&guard.store)),
                Err(_) => self.inner.close_persistence(None),
            }
        }
    }
}
