//! Connection-state recovery across nodes (shared broker): a node asked to resume a
//! parked connection that another node holds requests it through the broker's channel;
//! the holder surrenders the connection's identity and page and the frames it missed;
//! the asking node authenticates its new connection with that identity and routes to it
//! exactly the events the holder could not have given it. Owns the request and answer
//! messages and the buffer that makes the handover exact.
//!
//! Exactness rests on the broker's one channel: every node sees every published message
//! in the channel's order, and a node publishes under the emit lock, so its own
//! deliveries and publications share one order. Between sending its request `R`
//! (under the emit lock) and handling the holder's answer `M` (under the emit lock),
//! the asking node keeps aside, for the connection it will authenticate, every event it
//! delivers that the holder cannot have given: its own emits after `R`, and emits of
//! nodes other than the holder that it receives after its own `R` came back through the
//! channel. Those reached the holder after it handled `R`, when the parked connection
//! was already gone; everything earlier is in the holder's answer. The holder's own
//! emits published before `M` are in its answer; those after `M` reach the new
//! connection live.
//!
//! Must not touch sockets or the parked table (the transport's surrender callback does)
//! nor decide who receives an event (the registry does, on each node).

mod frames;
mod history;
mod revive;
use frames::WireFrame;
pub(crate) use revive::parse_marked_offset;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::Hub;
use crate::auth::{HandshakeContext, Identity, Role};
use crate::broker::Message;
use crate::event::{self, Audience};
use crate::ids::{ConnectionId, SessionId, UserId};
use crate::outbound::OutboundEvent;
use crate::registry::routing::{PageIndex, Route};

/// What a transport gives up when another node takes its parked connection over.
pub(crate) struct Surrendered {
    /// The parked connection (its identity and page are read from the registry).
    pub(crate) connection: ConnectionId,
    /// Frames the client missed, in order.
    pub(crate) frames: Vec<Arc<OutboundEvent>>,
    /// Keeps the parked connection attached until the answer is published; dropped
    /// (detached) after the emit lock is released.
    pub(crate) hold: Box<dyn std::any::Any + Send>,
}

/// The transport's callback that surrenders parked connection `pid` to a client whose
/// last offset is `offset`, or says why not (a stable refusal code).
pub(crate) type SurrenderFn = dyn Fn(&str, u64) -> Result<Surrendered, &'static str> + Send + Sync;

/// A takeover this node asked for, waiting for the holder's answer.
struct Pending {
    connection: ConnectionId,
    /// This node's last offset when the request was sent: the replay carries it, so the
    /// client's offset stays below every frame queued here for it afterwards.
    base: u64,
    /// This node's own request came back through the channel: other nodes' emits
    /// received from now on reached the holder after its drain (the holder's own are
    /// dropped when its answer names it).
    request_seen: bool,
    /// Frames kept aside, with the node that emitted them (`None`: this node).
    kept: Vec<Kept>,
    answer: crossbeam_channel::Sender<Result<Vec<Arc<OutboundEvent>>, String>>,
}

/// A frame kept aside for a pending takeover.
struct Kept {
    frame: Arc<OutboundEvent>,
    audience: Audience,
    route: Route,
    origin: Option<String>,
}

/// The hub's cross-node recovery state. Read and written under the emit lock.
#[derive(Default)]
pub(super) struct Handoffs {
    surrender: Mutex<Option<Box<SurrenderFn>>>,
    pending: Mutex<HashMap<String, Pending>>,
    /// `pending.len()`, read on every publish without a lock.
    active: AtomicUsize,
    /// The origin of the remote emit being delivered, `None` for this node's own.
    remote: Mutex<Option<String>>,
    /// The last offset assigned to a published event.
    pub(super) last_offset: AtomicU64,
    /// The event history is kept in the shared broker (`history.rs`).
    history: std::sync::atomic::AtomicBool,
    /// The steps of the changed call running here, recorded for the history.
    recording: Mutex<Option<Vec<crate::broker::Recorded>>>,
    /// The highest history position of another node's message applied here.
    watermark: AtomicU64,
    /// The pid of each connection a transport may recover (history on).
    pids: Mutex<HashMap<ConnectionId, String>>,
}

/// A random request id (hex).
fn request_id() -> String {
    let mut bytes = [0u8; 12];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hub {
    /// Installs the callback that surrenders this node's parked connections to other
    /// nodes (a server with recovery on, once started).
    pub(crate) fn set_surrender(&self, surrender: Box<SurrenderFn>) {
        *self.inner.handoffs.surrender.lock() = Some(surrender);
    }

    /// Whether parked connections of other nodes can be asked for (a shared broker).
    pub(crate) fn has_cluster(&self) -> bool {
        self.inner.shared
    }

    /// The handshake context of connection `id`, if attached.
    pub(crate) fn context_of(&self, id: ConnectionId) -> Option<HandshakeContext> {
        self.inner
            .registry
            .connection(id)
            .map(|(_, context)| (*context).clone())
    }

    /// Asks the cluster for parked connection `pid` on behalf of this node's
    /// connection `connection` (unauthenticated), whose client saw every event up to
    /// `offset`; waits up to `patience`. On success the connection is authenticated
    /// with the parked identity and page, the frames the client missed are returned
    /// (stamped with this node's last offset before the request, so the client's offset
    /// stays below every frame queued here afterwards), and its queue already holds
    /// what was kept aside. Else the refusal code.
    pub(crate) fn request_takeover(
        &self,
        pid: &str,
        offset: u64,
        connection: ConnectionId,
        patience: Duration,
    ) -> Result<Vec<Arc<OutboundEvent>>, String> {
        if !self.inner.shared {
            return Err("unknown_pid".into());
        }
        let (answer, answered) = crossbeam_channel::bounded(1);
        let request = request_id();
        {
            let _guard = self.lock().map_err(|e| e.to_string())?;
            let handoffs = &self.inner.handoffs;
            handoffs.pending.lock().insert(
                request.clone(),
                Pending {
                    connection,
                    base: handoffs.last_offset.load(Ordering::SeqCst),
                    request_seen: false,
                    kept: Vec::new(),
                    answer,
                },
            );
            handoffs.active.fetch_add(1, Ordering::SeqCst);
            let args = json!({"request": request, "pid": pid, "offset": offset});
            self.publish_to_cluster(Message::RecoveryRequest(args), None);
        }
        if let Ok(result) = answered.recv_timeout(patience) {
            return result;
        }
        if let Ok(_guard) = self.lock()
            && self
                .inner
                .handoffs
                .pending
                .lock()
                .remove(&request)
                .is_some()
        {
            self.inner.handoffs.active.fetch_sub(1, Ordering::SeqCst);
        }
        // The answer may have been handled between the timeout and the removal.
        answered
            .try_recv()
            .unwrap_or_else(|_| Err("no_answer".into()))
    }

    /// Keeps a delivered frame aside for every pending takeover the holder cannot have
    /// given it to (see the module docs). Under the emit lock, after delivery.
    pub(super) fn keep_for_takeovers(
        &self,
        frame: &Arc<OutboundEvent>,
        audience: &Audience,
        route: Route,
    ) {
        let handoffs = &self.inner.handoffs;
        if handoffs.active.load(Ordering::SeqCst) == 0 {
            return;
        }
        let remote = handoffs.remote.lock().clone();
        for pending in handoffs.pending.lock().values_mut() {
            if remote.is_none() || pending.request_seen {
                pending.kept.push(Kept {
                    frame: Arc::clone(frame),
                    audience: audience.clone(),
                    route,
                    origin: remote.clone(),
                });
            }
        }
    }

    /// Marks the remote emit being delivered (`None` once done). Under the emit lock.
    pub(super) fn set_remote_origin(&self, origin: Option<&str>) {
        if self.inner.handoffs.active.load(Ordering::SeqCst) > 0 || origin.is_none() {
            *self.inner.handoffs.remote.lock() = origin.map(str::to_owned);
        }
    }

    /// Another node asks for a parked connection; only its holder answers.
    pub(super) fn on_request(&self, asker: &str, args: &Value) {
        let text = |name: &str| args.get(name).and_then(Value::as_str);
        let (Some(request), Some(pid)) = (text("request"), text("pid")) else {
            return;
        };
        let Ok(guard) = self.lock() else { return };
        let origin = self.inner.broker.origin();
        if asker == origin {
            if let Some(pending) = self.inner.handoffs.pending.lock().get_mut(request) {
                pending.request_seen = true;
            }
            return;
        }
        let offset = args.get("offset").and_then(Value::as_u64).unwrap_or(0);
        // Every node hears the request; only the one that parked `pid` answers.
        let surrendered = match &*self.inner.handoffs.surrender.lock() {
            Some(surrender) => surrender(pid, offset),
            None => return,
        };
        if surrendered.as_ref().err() == Some(&"unknown_pid") {
            return;
        }
        let mut hold = None;
        let mut answer = json!({"request": request, "to": asker});
        match surrendered.and_then(|s| {
            let (identity, page) = self
                .inner
                .registry
                .identity(s.connection)
                .ok_or("session_closed")?;
            hold = Some(s.hold);
            Ok((identity, page, s.frames))
        }) {
            Ok((identity, page, frames)) => {
                answer["identity"] = json!({
                    "user": identity.user_id,
                    "role": identity.role,
                    "session": identity.session_id,
                });
                answer["page"] = json!(self.inner.routing.page_name(page));
                answer["frames"] = frames.iter().map(|f| WireFrame::of(f).to_json()).collect();
            }
            Err(code) => answer["refused"] = json!(code),
        }
        self.publish_to_cluster(Message::RecoveryAnswer(answer), None);
        drop(guard);
        drop(hold);
    }

    /// The holder's answer to this node's request.
    pub(super) fn on_answer(&self, holder: &str, args: &Value) {
        let Some(request) = args.get("request").and_then(Value::as_str) else {
            return;
        };
        let Ok(_guard) = self.lock() else { return };
        if args.get("to").and_then(Value::as_str) != Some(self.inner.broker.origin()) {
            return;
        }
        let handoffs = &self.inner.handoffs;
        let Some(pending) = handoffs.pending.lock().remove(request) else {
            return;
        };
        handoffs.active.fetch_sub(1, Ordering::SeqCst);
        let result = self.adopt(&pending, holder, args);
        let _ = pending.answer.send(result);
    }

    /// Authenticates the asking connection with the surrendered identity and page,
    /// queues what was kept aside for it, and builds the replay.
    fn adopt(
        &self,
        pending: &Pending,
        holder: &str,
        args: &Value,
    ) -> Result<Vec<Arc<OutboundEvent>>, String> {
        if let Some(code) = args.get("refused").and_then(Value::as_str) {
            return Err(code.to_owned());
        }
        let (identity, page) = self.surrendered_identity(args)?;
        let frames = args["frames"].as_array().ok_or_else(malformed)?;
        // The session was logged out after the holder's drain: its sockets are closed on
        // every node, so this one is not adopted either.
        let ended = pending.kept.iter().any(|kept| {
            kept.frame.name() == event::USER_SESSION_ENDED
                && matches!(&kept.audience, Audience::Session { session: ended, .. }
                    if Some(ended) == identity.session_id.as_ref())
        });
        if ended {
            return Err("session_closed".into());
        }
        let (queue, _) = self
            .inner
            .registry
            .connection(pending.connection)
            .ok_or("session_closed")?;
        // Nothing reaches an unauthenticated connection but replies it has not asked
        // for yet; start it clean.
        let _ = queue.drain();
        self.inner
            .registry
            .authenticate(
                pending.connection,
                identity,
                page,
                self.inner.limits.max_connections_per_user,
            )
            .map_err(|e| e.to_string())?;
        self.record_identity(pending.connection);
        let replay = self.replay_frames(frames, pending.base)?;
        self.deliver_kept(pending, holder);
        Ok(replay)
    }

    /// The identity and page the holder surrendered (a device never is).
    fn surrendered_identity(&self, args: &Value) -> Result<(Identity, PageIndex), String> {
        let identity = &args["identity"];
        let user = identity["user"].as_str().ok_or_else(malformed)?;
        let user = UserId::new(user).map_err(|_| malformed())?;
        let role = identity["role"]
            .as_str()
            .and_then(Role::parse)
            .filter(|role| *role != Role::Device)
            .ok_or_else(malformed)?;
        let session = match identity["session"].as_str() {
            Some(session) => Some(SessionId::new(session).map_err(|_| malformed())?),
            None => None,
        };
        let page = args["page"]
            .as_str()
            .and_then(|name| self.inner.routing.page(name))
            .ok_or_else(malformed)?;
        Ok((Identity::user(user, role, session), page))
    }

    /// The holder's missed frames, as events with offsets from `base`.
    fn replay_frames(
        &self,
        frames: &[Value],
        base: u64,
    ) -> Result<Vec<Arc<OutboundEvent>>, String> {
        frames
            .iter()
            .map(|frame| {
                let frame = WireFrame::from_json(frame).map_err(|_| malformed())?;
                Ok(OutboundEvent::with_offset(
                    Arc::from(frame.name),
                    frame.payload,
                    None,
                    (Some(base), self.history_mark()),
                    frame.attachments,
                    Arc::clone(&self.inner.metrics),
                ))
            })
            .collect()
    }

    /// Queues for the adopted connection what was kept aside while it waited, except
    /// the holder's own emits (already in the replay).
    fn deliver_kept(&self, pending: &Pending, holder: &str) {
        for kept in pending
            .kept
            .iter()
            .filter(|k| k.origin.as_deref() != Some(holder))
        {
            self.inner
                .registry
                .for_each_recipient(&kept.audience, kept.route, |recipient| {
                    if recipient.id() == pending.connection {
                        let _ = recipient.push(&kept.frame);
                    }
                });
        }
    }
}

/// The error of a holder's answer that does not parse.
fn malformed() -> String {
    "malformed_answer".to_owned()
}
