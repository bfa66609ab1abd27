//! Delivery of decided events: before-emit hooks, registry resolution, pushes into
//! connection queues, slow-consumer closes, and the audit trail of each emit. Runs under
//! the emit lock; must not decide change nor touch sockets.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::Hub;
use crate::event::{Audience, Event, now_ms};
use crate::hooks::{AuditKind, AuditOutcome, AuditRecord, Verdict, guarded};
use crate::ids::{ConnectionId, UserId};
use crate::metrics::SlowConsumerReason;
use crate::monitor::Observed;
use crate::outbound::{CloseReason, HostSink, OutboundEvent, OutboundQueue, Pushed};

impl Hub {
    // ----- delivery -------------------------------------------------------------

    /// Runs the before-emit hooks, then resolves and queues one event. Must be called
    /// with the emit lock held. Returns the number of connections reached.
    pub(super) fn publish(&self, mut event: Event) -> usize {
        if !self.passes_before_emit(&mut event) {
            return 0;
        }
        let inner = &*self.inner;
        if let Some(monitor) = &inner.monitor
            && monitor.observe(&event, || inner.registry.admins_on(monitor.admin_page) > 0)
                == Observed::AdminsOnly
        {
            event.audience = Audience::Admins;
        }
        let route = inner.routing.route_for(&event.name, &event.audience);
        let offset = self.next_event_offset(&event);
        self.record_event(&event, offset);
        let offset = (offset, self.history_mark());
        let (frame, audience) = queued_form(event, offset, &inner.metrics);
        let mut tally = Tally::default();
        let has_host = inner.host.is_some();
        inner.registry.for_each_recipient(
            &audience,
            route,
            // Inlined into the registry's loops: no call per recipient.
            #[inline(always)]
            |queue| tally.push(queue, &frame, has_host),
        );
        if inner.shared {
            self.keep_for_takeovers(&frame, &audience, route);
        }
        let Tally {
            mut reached,
            conflated,
            overflowed,
            hosted,
        } = tally;
        if let (false, Some(sink)) = (hosted.is_empty(), &inner.host) {
            reached += hosted.len();
            guarded(&inner.metrics, "host_sink", || sink.frame(&hosted, &frame));
        }
        inner.metrics.frames_delivered.add(reached as u64);
        if conflated > 0 {
            inner.metrics.frames_conflated.add(conflated);
        }
        for (id, reason) in overflowed {
            self.slow_consumer(id, reason);
        }
        reached
    }

    /// Runs the before-emit hooks in order; `false` (counted) once one drops the event
    /// or panics. A hook may edit the payload for the hooks after it.
    fn passes_before_emit(&self, event: &mut Event) -> bool {
        let inner = &*self.inner;
        for filter in &inner.before_emit {
            let verdict = guarded(&inner.metrics, "before_emit", || {
                filter.before_emit(&event.name, &event.audience, &mut event.payload)
            });
            if verdict != Some(Verdict::Keep) {
                inner.metrics.events_dropped_by_hook.increment();
                return false;
            }
        }
        true
    }

    /// The offset of an event about to be published, when offsets are on: the event
    /// history's next offset with persistence (the event is appended to it, so the
    /// stored and the sent offset agree), else the hub's own counter. Under the emit
    /// lock, so offsets follow the one delivery order.
    fn next_event_offset(&self, event: &Event) -> Option<u64> {
        let inner = &*self.inner;
        if !inner.event_offsets.load(Ordering::Relaxed) {
            return None;
        }
        let offset = match &inner.persist {
            Some(persist) => {
                persist.append_event(now_ms(), &event.name, &event.audience, &event.payload)
            }
            None => inner.next_offset.fetch_add(1, Ordering::Relaxed),
        };
        inner.handoffs.last_offset.store(offset, Ordering::Relaxed);
        Some(offset)
    }

    /// Turns event offsets on (a server with connection-state recovery starts): from
    /// now on every published event carries its offset on the wire.
    pub(crate) fn enable_event_offsets(&self) {
        self.inner.event_offsets.store(true, Ordering::SeqCst);
    }

    /// A push found the connection's queue past a bound (the queue closed itself).
    pub(super) fn slow_consumer(&self, id: ConnectionId, reason: SlowConsumerReason) {
        self.inner.metrics.slow_consumer_closed(reason);
        let why = match reason {
            SlowConsumerReason::Frames => "its queue held too many frames",
            _ => "its queue held too many bytes",
        };
        self.close_slow(id, why);
    }

    /// A transport's write to `queue`'s socket made no progress within its time bound:
    /// the connection is closed as a slow consumer (its queued frames dropped), counted
    /// with reason `stalled`. A transport without a hub connection counts through
    /// [`Hub::count_write_stall`].
    pub(crate) fn close_stalled(&self, queue: &OutboundQueue) {
        if queue.close(CloseReason::SlowConsumer) {
            self.count_write_stall();
            self.close_slow(queue.id(), "a write to its socket stalled");
        }
    }

    /// Counts a stalled write closed by the transport itself (a socket with no hub
    /// connection).
    pub(crate) fn count_write_stall(&self) {
        self.inner
            .metrics
            .slow_consumer_closed(SlowConsumerReason::Stalled);
    }

    /// Counts a batch of frames a transport wrote to its socket (one flush).
    pub(crate) fn count_socket_write(&self) {
        self.inner.metrics.socket_writes.increment();
    }

    /// What every slow-consumer close does once its queue is closed: alert, unsubscribe,
    /// log and audit.
    fn close_slow(&self, id: ConnectionId, why: &'static str) {
        if let Some(monitor) = &self.inner.monitor {
            monitor.slow_consumer_closed();
        }
        let user = self.user_of(id);
        self.unsubscribe_closing(id);
        tracing::warn!(connection = %id, "closed a slow consumer: {why}");
        self.audit_close(id, CloseReason::SlowConsumer, user);
    }

    /// Sends one frame straight to one connection (replies: `auth:*`, `page:snapshot`).
    pub(super) fn send_direct(
        &self,
        queue: &Arc<OutboundQueue>,
        name: &'static str,
        payload: Value,
    ) {
        let frame = OutboundEvent::new(name.into(), payload, None, Arc::clone(&self.inner.metrics));
        if let (true, Some(sink)) = (queue.is_host(), &self.inner.host) {
            if queue.closed().is_none() {
                self.inner.metrics.frames_delivered.increment();
                guarded(&self.inner.metrics, "host_sink", || {
                    sink.frame(&[queue.id()], &frame);
                });
            }
            return;
        }
        match queue.push(&frame) {
            Pushed::Queued | Pushed::Conflated => self.inner.metrics.frames_delivered.increment(),
            Pushed::Overflowed(reason) => self.slow_consumer(queue.id(), reason),
            Pushed::Closed => {}
        }
    }

    pub(super) fn record_audit(&self, record: AuditRecord) {
        for sink in &self.inner.audit {
            guarded(&self.inner.metrics, "audit_sink", || sink.record(&record));
        }
    }

    /// The user a connection is authenticated as; read it before unsubscribing.
    pub(super) fn user_of(&self, id: ConnectionId) -> Option<UserId> {
        self.inner
            .registry
            .identity(id)
            .map(|(identity, _)| identity.user_id)
    }

    /// Audits a close; `user` is passed in because a closing connection has already
    /// been taken out of the registry's indexes.
    pub(super) fn audit_close(&self, id: ConnectionId, reason: CloseReason, user: Option<UserId>) {
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
}

/// What one publish did to its recipients' queues, counted as it goes.
#[derive(Default)]
struct Tally {
    reached: usize,
    conflated: u64,
    overflowed: Vec<(ConnectionId, SlowConsumerReason)>,
    /// Host-owned sockets (`transport::host`), handed the frame in one call at the end.
    hosted: Vec<ConnectionId>,
}

impl Tally {
    /// Pushes `frame` to one recipient's queue (or notes a host-owned socket). Inlined,
    /// with the queue's push, into the registry's loop over recipients: a broadcast
    /// makes no call of its own per recipient.
    #[inline(always)]
    fn push(&mut self, queue: &OutboundQueue, frame: &Arc<OutboundEvent>, has_host: bool) {
        if has_host && queue.is_host() {
            if queue.closed().is_none() {
                self.hosted.push(queue.id());
            }
            return;
        }
        match queue.push(frame) {
            Pushed::Queued => self.reached += 1,
            Pushed::Conflated => {
                self.reached += 1;
                self.conflated += 1;
            }
            Pushed::Overflowed(reason) => self.overflowed.push((queue.id(), reason)),
            Pushed::Closed => {}
        }
    }
}

/// The frame every recipient of `event` shares (with its offset, recovery on), and its
/// audience, which stays with the hub for routing.
fn queued_form(
    event: Event,
    offset: (Option<u64>, Option<u64>),
    metrics: &Arc<crate::metrics::Metrics>,
) -> (Arc<OutboundEvent>, Audience) {
    let frame = OutboundEvent::with_offset(
        event.name,
        event.payload,
        event.conflation_key,
        offset,
        event.attachments,
        Arc::clone(metrics),
    );
    (frame, event.audience)
}
