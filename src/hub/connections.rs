//! Attaching and detaching connections (for every transport adapter), and
//! device presence: a device's connection makes its module online, losing it starts the
//! offline grace period. This module must not parse client messages.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::json;

use super::{Connection, HostSink, Hub, HubError, HubInner, IN_EMIT};
use crate::auth::{HandshakeContext, Identity};
use crate::call::IdArg;
use crate::ids::{ConnectionId, ModuleId, UserId};
use crate::input::InputError;
use crate::outbound::{CloseReason, OutboundQueue, QueueBounds, Wake};
use crate::protocol::WireFormat;

impl Hub {
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
        let queue = OutboundQueue::new(id, format, self.queue_bounds(), Box::new(waker));
        self.attach_queue(queue, context)
    }

    /// Attaches a connection whose outbound queue holds no frames: the hub hands them
    /// to the host sink instead (the host-callback adapter, `transport/host.rs`, builds
    /// its `waker`). [`HubError::NoHostSink`] without a sink.
    pub(crate) fn attach_host_queue(
        &self,
        context: HandshakeContext,
        waker: impl FnOnce(ConnectionId, Arc<dyn HostSink>) -> Box<dyn Wake>,
    ) -> Result<Connection, HubError> {
        let sink = self.inner.host.as_ref().ok_or(HubError::NoHostSink)?;
        let id = self.next_connection_id();
        let sink: Arc<dyn HostSink> = Arc::clone(sink) as Arc<dyn HostSink>;
        let queue = OutboundQueue::new_host(id, WireFormat::SocketIo, waker(id, sink));
        Ok(self.attach_queue(queue, context))
    }

    /// Attaches a connection read in this process: its reader waits on the queue's own
    /// condition variable (the in-process adapter, `transport/in_process.rs`).
    pub(crate) fn attach_local(&self, context: HandshakeContext) -> Connection {
        let id = self.next_connection_id();
        let queue = OutboundQueue::new_local(id, WireFormat::Native, self.queue_bounds());
        self.attach_queue(queue, context)
    }

    /// Connection `id`'s verified identity, if authenticated.
    pub(crate) fn identity_of(&self, id: ConnectionId) -> Option<Identity> {
        self.inner
            .registry
            .identity(id)
            .map(|(identity, _)| identity)
    }

    /// The bounds of a new connection's queue.
    fn queue_bounds(&self) -> QueueBounds {
        QueueBounds {
            frames: self.inner.limits.queue_capacity,
            bytes: self.inner.limits.queue_max_bytes,
        }
    }

    pub(super) fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.inner.next_connection.fetch_add(1, Ordering::Relaxed))
    }

    pub(super) fn attach_queue(
        &self,
        queue: OutboundQueue,
        context: HandshakeContext,
    ) -> Connection {
        let queue = Arc::new(queue);
        self.inner.registry.attach(Arc::clone(&queue), context);
        Connection::new(self.clone(), queue)
    }

    /// Takes a closing connection out of every audience; a device's module then starts
    /// its offline grace period (the connection is gone for presence even before the
    /// transport detaches it).
    pub(super) fn unsubscribe_closing(&self, id: ConnectionId) {
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
        self.forget_identity(id);
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
    /// (Its emit is an originated one: see [`Hub::originate`].)
    pub(super) fn device_connected(&self, module: &ModuleId, owner: &UserId) {
        self.inner.presence.connected(module, owner);
        let (module, owner) = (module.clone(), owner.clone());
        self.originate(move |hub| {
            if let Err(error) = hub.emit_module_online(module.as_str(), &json!({"userId": owner}))
            {
                tracing::warn!(%module, %error, "device connected but its module could not go online");
            }
        });
    }

    pub(super) fn device_disconnected(&self, module: ModuleId) {
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
    /// back. With an executor the check itself is the job, so a device back before the
    /// host ran it keeps its module online.
    pub(super) fn device_grace_over(inner: &Arc<HubInner>, module: &ModuleId, generation: u64) {
        let hub = Hub {
            inner: Arc::clone(inner),
        };
        let module = module.clone();
        hub.originate(move |hub| {
            if let Some(owner) = hub.inner.presence.expire(&module, generation)
                && let Err(error) =
                    hub.emit_module_offline(module.as_str(), &json!({"userId": owner}))
            {
                tracing::warn!(%module, %error, "device gone but its module could not go offline");
            }
        });
    }
}
