//! [`HubBuilder::build`]: turns the recorded settings into a running [`Hub`] — joins
//! the broker, restores the store and the sessions from the database, assembles the
//! shared state, then starts the broker link, the restart check, the monitor and the
//! transports, in that order. It must not emit anything (a restored module waits for
//! its device, `restart.rs`). Guarded by
//! `persist_hub::restart_keeps_state_sessions_and_a_complete_audit_log`,
//! `persist_hub::a_logged_out_session_stays_refused_after_a_restart_even_as_a_jwt_sid`
//! and `executor::the_restart_check_goes_through_the_executor`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use parking_lot::Mutex;

use super::HubBuilder;
use crate::auth::{AuthChain, DeviceKeys, JwtAuthenticator, JwtKey, JwtSettings, SessionTable};
use crate::devices::Presence;
use crate::hub::{BuildError, Hub, HubInner, Transport, cluster, restart};
use crate::metrics::Metrics;
use crate::monitor::Monitor;
use crate::outbound::HostDelivery;
use crate::persist::{PersistConfig, Persistence};
use crate::registry::Registry;
use crate::registry::routing::{Routing, RoutingError};
use crate::store::Store;

impl HubBuilder {
    /// Builds the hub and starts its transports.
    pub fn build(mut self) -> Result<Hub, BuildError> {
        let routing = self.routing()?;
        if let Some(url) = self.redis.take() {
            self.broker =
                crate::broker::join(&url, self.node_id.as_deref()).map_err(BuildError::Broker)?;
        }
        let admin_page = routing
            .page("admin")
            .ok_or(RoutingError::MissingPage("admin"))?;
        let mut audit = self.audit;
        let mut store = Store::default();
        let sessions = SessionTable::default();
        let persist = match self.persist {
            None => None,
            Some((path, config)) => {
                let (persistence, restored) = restore(&path, config, &sessions)?;
                store = restored;
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
                    jwt: jwt_authenticator(self.jwt, self.jwt_secret.as_deref()),
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
                host: self.host.map(|sink| Arc::new(HostDelivery::new(sink))),
                persist,
                persist_closed: AtomicBool::new(false),
                event_offsets: AtomicBool::new(false),
                next_offset: AtomicU64::new(1),
                restored: restart::RestoredOnline::default(),
                monitor: self.monitor.map(|config| Monitor::new(config, admin_page)),
                executor: self.executor,
                shared: self.broker.is_shared(),
                broker: self.broker,
                handoffs: Default::default(),
                applied_seqs: Default::default(),
            }),
        };
        start(&hub, self.restart_grace, self.transports)?;
        Ok(hub)
    }

    /// The pages and the per-event routes set on the builder.
    fn routing(&self) -> Result<Routing, BuildError> {
        let pages: Vec<&str> = self.pages.iter().map(String::as_str).collect();
        let mut routing = Routing::with_pages(&pages)?;
        for (event, user_pages, admin_pages) in &self.routes {
            let user: Vec<&str> = user_pages.iter().map(String::as_str).collect();
            let admin: Vec<&str> = admin_pages.iter().map(String::as_str).collect();
            routing.set_route(event, &user, &admin)?;
        }
        Ok(routing)
    }
}

/// Opens the database at `path` and restores what it saved: the store (returned) and
/// the live and revoked sessions (into `sessions`).
fn restore(
    path: &Path,
    config: PersistConfig,
    sessions: &SessionTable,
) -> Result<(Persistence, Store), BuildError> {
    let persistence = Persistence::open_with(path, config)?;
    let saved = persistence.load_state()?;
    let store = saved.to_store();
    for session in saved.revoked_sessions {
        sessions.restore_revoked(session);
    }
    for session in saved.sessions {
        sessions.log_in(session.session_id, session.user_id, session.role);
    }
    tracing::info!(
        path = %path.display(),
        modules = store.module_count(),
        sessions = sessions.len(),
        "state restored"
    );
    Ok((persistence, store))
}

/// Starts what runs beside the built hub: the broker link (when shared), the restart
/// check (when restored from a database), the monitor, then the transports.
fn start(
    hub: &Hub,
    restart_grace: Option<Duration>,
    transports: Vec<Arc<dyn Transport>>,
) -> Result<(), BuildError> {
    if hub.inner.shared {
        hub.inner
            .broker
            .start(Arc::new(cluster::NodeLink(Arc::downgrade(&hub.inner))));
    }
    if let Some(grace) = restart_grace
        && hub.inner.persist.is_some()
    {
        hub.start_restart_check(grace);
    }
    hub.start_monitor();
    start_transports(hub, transports)
}

/// Starts each transport with the built hub, in the order they were added.
fn start_transports(hub: &Hub, transports: Vec<Arc<dyn Transport>>) -> Result<(), BuildError> {
    for transport in transports {
        transport
            .start(hub.clone())
            .map_err(|message| BuildError::Transport {
                name: transport.name().to_owned(),
                message,
            })?;
        hub.inner.transports.lock().push(transport);
    }
    Ok(())
}

/// The built-in JWT authenticator, if any key is configured.
fn jwt_authenticator(mut settings: JwtSettings, secret: Option<&[u8]>) -> Option<JwtAuthenticator> {
    settings
        .keys
        .extend(secret.and_then(|secret| JwtKey::hs256(secret).ok()));
    (!settings.keys.is_empty() || settings.jwks_url.is_some())
        .then(|| JwtAuthenticator::with_settings(settings))
}
