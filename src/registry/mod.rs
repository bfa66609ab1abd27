//! The subscription registry: who is connected, as whom, on which page, and who an
//! event reaches.
//!
//! Owns connections' identities and pages, the indexes by user, by admin page and of every authenticated connection, and audience resolution. Delivering to
//! one user walks only that user's connections, so it costs the same with 10 or 100,000
//! others connected (`benches/fanout.rs`, `fanout/one_user/*`).
//!
//! Isolation is enforced in `recipients.rs` (`Registry::for_each_recipient`), and
//! nowhere else:
//! - an unauthenticated connection is in no index, so it receives nothing but its own
//!   replies (`auth:*`, `page:snapshot`);
//! - a device is in no index either: it never receives user or admin events;
//! - a user-scoped audience walks only `by_user[user]`; admins are added only through
//!   the route's `admin_pages`, and only from the per-page admin index, so a non-admin
//!   never receives another user's event nor an `admin:*` event;
//! - a connection that qualifies twice (an admin who owns the module and whose tab is on
//!   a page both parts cover) is visited once.
//!
//! Guarded by `tests/hub/isolation_prop.rs` (random interleavings against a naive model)
//! and `tests/hub/events.rs`. This module must not encode frames or touch state.

mod census;
mod recipients;
pub mod routing;

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use parking_lot::RwLock;

use crate::auth::{AuthError, HandshakeContext, Identity, Role};
use crate::ids::ConnectionId;
use crate::ids::{SessionId, UserId};
use crate::metrics::ConnectionCounts;
use crate::outbound::OutboundQueue;
use routing::PageIndex;

#[derive(Clone)]
struct Member {
    queue: Arc<OutboundQueue>,
    page: PageIndex,
    session: Option<SessionId>,
}

struct Authed {
    identity: Identity,
    page: PageIndex,
}

struct Record {
    queue: Arc<OutboundQueue>,
    context: Arc<HandshakeContext>,
    auth: Option<Authed>,
    auth_failures: u32,
}

/// The registry's maps, looked up on every emit and every connection change: foldhash
/// instead of std's SipHash, as in the store (the user lookup of a per-user emit went
/// from 363 to 228 instructions, `scripts/bench profile`); it is seeded per process, so ids
/// chosen to collide cannot be precomputed.
type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Inner {
    records: IdMap<ConnectionId, Record>,
    /// Looked up by every per-user emit.
    by_user: IdMap<UserId, IndexMap<ConnectionId, Member>>,
    /// Admin connections, one map per page index.
    admins: Vec<IndexMap<ConnectionId, Arc<OutboundQueue>>>,
    /// Every authenticated user and admin connection.
    everyone: IndexMap<ConnectionId, Member>,
    devices: usize,
}

impl Inner {
    fn unindex(&mut self, id: ConnectionId, authed: &Authed) {
        let identity = &authed.identity;
        if identity.role == Role::Device {
            self.devices -= 1;
            return;
        }
        if let Some(map) = self.by_user.get_mut(&identity.user_id) {
            map.swap_remove(&id);
            if map.is_empty() {
                self.by_user.remove(&identity.user_id);
            }
        }
        if identity.role == Role::Admin {
            self.admins[authed.page.0 as usize].swap_remove(&id);
        }
        self.everyone.swap_remove(&id);
    }

    fn index(&mut self, id: ConnectionId, queue: &Arc<OutboundQueue>, authed: &Authed) {
        let identity = &authed.identity;
        if identity.role == Role::Device {
            self.devices += 1;
            return;
        }
        let member = Member {
            queue: Arc::clone(queue),
            page: authed.page,
            session: identity.session_id.clone(),
        };
        self.by_user
            .entry(identity.user_id.clone())
            .or_default()
            .insert(id, member.clone());
        if identity.role == Role::Admin {
            self.admins[authed.page.0 as usize].insert(id, Arc::clone(queue));
        }
        self.everyone.insert(id, member);
    }
}

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The connection is not attached (it was detached or closed).
    #[error("connection {0} is not attached")]
    UnknownConnection(ConnectionId),
    /// The operation needs an authenticated connection.
    #[error("connection {0} is not authenticated")]
    NotAuthenticated(ConnectionId),
    /// Authentication refused by the registry's rules.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// The registry. All operations take one lock briefly; resolution holds the read lock
/// while it visits recipients (pushing into queues never blocks).
pub(crate) struct Registry {
    inner: RwLock<Inner>,
    page_count: usize,
}

impl Registry {
    pub(crate) fn new(page_count: usize) -> Self {
        let inner = Inner {
            admins: vec![IndexMap::new(); page_count],
            ..Inner::default()
        };
        Self {
            inner: RwLock::new(inner),
            page_count,
        }
    }

    pub(crate) fn attach(&self, queue: Arc<OutboundQueue>, context: HandshakeContext) {
        let record = Record {
            queue: Arc::clone(&queue),
            context: Arc::new(context),
            auth: None,
            auth_failures: 0,
        };
        self.inner.write().records.insert(queue.id(), record);
    }

    /// Removes the connection entirely; returns its queue if it was attached.
    pub(crate) fn detach(&self, id: ConnectionId) -> Option<Arc<OutboundQueue>> {
        let mut inner = self.inner.write();
        let record = inner.records.remove(&id)?;
        if let Some(authed) = &record.auth {
            inner.unindex(id, authed);
        }
        Some(record.queue)
    }

    /// Binds a connection to a verified identity and page. Re-authenticating as the same
    /// user (for instance with a fresh token or another session) is allowed; as another
    /// user it is refused with [`AuthError::IdentityChange`]. A connection that would be
    /// its user's `max_per_user + 1`th (0: no limit; devices are not counted) is refused
    /// with [`AuthError::TooManyConnections`], under the same lock as the count.
    pub(crate) fn authenticate(
        &self,
        id: ConnectionId,
        identity: Identity,
        page: PageIndex,
        max_per_user: usize,
    ) -> Result<Arc<OutboundQueue>, RegistryError> {
        debug_assert!((page.0 as usize) < self.page_count);
        let mut inner = self.inner.write();
        let record = inner
            .records
            .get_mut(&id)
            .ok_or(RegistryError::UnknownConnection(id))?;
        if let Some(current) = &record.auth
            && (current.identity.user_id != identity.user_id
                || current.identity.module_id != identity.module_id
                || (current.identity.role == Role::Device) != (identity.role == Role::Device))
        {
            return Err(AuthError::IdentityChange.into());
        }
        let newcomer = record.auth.is_none() && identity.role != Role::Device;
        if newcomer
            && max_per_user > 0
            && inner
                .by_user
                .get(&identity.user_id)
                .is_some_and(|open| open.len() >= max_per_user)
        {
            return Err(AuthError::TooManyConnections.into());
        }
        let record = inner
            .records
            .get_mut(&id)
            .ok_or(RegistryError::UnknownConnection(id))?;
        let previous = record.auth.take();
        let queue = Arc::clone(&record.queue);
        let authed = Authed { identity, page };
        if let Some(previous) = previous {
            inner.unindex(id, &previous);
        }
        inner.index(id, &queue, &authed);
        if let Some(record) = inner.records.get_mut(&id) {
            record.auth = Some(authed);
            record.auth_failures = 0;
        }
        Ok(queue)
    }

    /// Moves an authenticated connection to another page.
    pub(crate) fn set_page(
        &self,
        id: ConnectionId,
        page: PageIndex,
    ) -> Result<Identity, RegistryError> {
        let mut inner = self.inner.write();
        let record = inner
            .records
            .get_mut(&id)
            .ok_or(RegistryError::UnknownConnection(id))?;
        let authed = record
            .auth
            .take()
            .ok_or(RegistryError::NotAuthenticated(id))?;
        let queue = Arc::clone(&record.queue);
        inner.unindex(id, &authed);
        let authed = Authed {
            identity: authed.identity,
            page,
        };
        inner.index(id, &queue, &authed);
        let identity = authed.identity.clone();
        if let Some(record) = inner.records.get_mut(&id) {
            record.auth = Some(authed);
        }
        Ok(identity)
    }

    /// Counts a failed authentication on the connection; returns the running count.
    pub(crate) fn record_auth_failure(&self, id: ConnectionId) -> u32 {
        let mut inner = self.inner.write();
        match inner.records.get_mut(&id) {
            Some(record) => {
                record.auth_failures += 1;
                record.auth_failures
            }
            None => 0,
        }
    }

    /// Whether any connection of `user` is authenticated with `session` (a logout of a
    /// session that is neither live nor connected changes nothing).
    pub(crate) fn has_session(&self, user: &UserId, session: &SessionId) -> bool {
        let inner = self.inner.read();
        inner.by_user.get(user).is_some_and(|members| {
            members
                .values()
                .any(|member| member.session.as_ref() == Some(session))
        })
    }

    /// Takes every connection of `user` authenticated with `session` out of all
    /// audiences (they are about to be closed) and returns their queues.
    pub(crate) fn end_session(
        &self,
        user: &UserId,
        session: &SessionId,
    ) -> Vec<Arc<OutboundQueue>> {
        let mut inner = self.inner.write();
        let Some(members) = inner.by_user.get(user) else {
            return Vec::new();
        };
        let ids: Vec<ConnectionId> = members
            .iter()
            .filter(|(_, member)| member.session.as_ref() == Some(session))
            .map(|(id, _)| *id)
            .collect();
        let mut queues = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(record) = inner.records.get_mut(&id) else {
                continue;
            };
            let queue = Arc::clone(&record.queue);
            if let Some(authed) = record.auth.take() {
                inner.unindex(id, &authed);
            }
            queues.push(queue);
        }
        queues
    }

    /// Takes a connection out of all audiences without detaching it (it is closing).
    pub(crate) fn unsubscribe(&self, id: ConnectionId) {
        let mut inner = self.inner.write();
        if let Some(record) = inner.records.get_mut(&id)
            && let Some(authed) = record.auth.take()
        {
            inner.unindex(id, &authed);
        }
    }

    /// The connection's identity and page, if authenticated.
    pub(crate) fn identity(&self, id: ConnectionId) -> Option<(Identity, PageIndex)> {
        let inner = self.inner.read();
        let authed = inner.records.get(&id)?.auth.as_ref()?;
        Some((authed.identity.clone(), authed.page))
    }

    /// The connection's queue and handshake context, if attached.
    pub(crate) fn connection(
        &self,
        id: ConnectionId,
    ) -> Option<(Arc<OutboundQueue>, Arc<HandshakeContext>)> {
        let inner = self.inner.read();
        let record = inner.records.get(&id)?;
        Some((Arc::clone(&record.queue), Arc::clone(&record.context)))
    }

    /// Every attached connection's queue (for shutdown).
    pub(crate) fn all_queues(&self) -> Vec<Arc<OutboundQueue>> {
        let inner = self.inner.read();
        inner
            .records
            .values()
            .map(|r| Arc::clone(&r.queue))
            .collect()
    }

    pub(crate) fn counts(&self) -> ConnectionCounts {
        let inner = self.inner.read();
        let admins: usize = inner.admins.iter().map(IndexMap::len).sum();
        let authenticated = inner.everyone.len() + inner.devices;
        ConnectionCounts {
            unauthenticated: inner.records.len() - authenticated,
            users: inner.everyone.len() - admins,
            admins,
            devices: inner.devices,
        }
    }
}
