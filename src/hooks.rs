//! Plugin hooks (DESIGN §6), beside the [`Authenticator`](crate::auth::Authenticator):
//! the client-event handler, the stats provider, the before-emit filter and the audit
//! sink. Each is a trait that closures also satisfy.
//!
//! Invariant: a panic inside a hook is caught, counted in `Metrics::hook_panics` and
//! logged; the hub keeps serving (`tests/hub/hooks.rs::panicking_hooks_are_counted_and_the_hub_keeps_serving`).
//! Hooks must not call `emit_*` from inside `before_emit` (it runs under the emit
//! lock; such a call returns `HubError::Reentrant` instead of deadlocking). This module
//! must not decide routing.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde_json::Value;

use crate::auth::Identity;
use crate::event::Audience;
use crate::ids::ConnectionId;
use crate::ids::{ModuleId, UserId};
use crate::metrics::Metrics;

/// A client event the library does not handle itself, with the sender's verified
/// identity.
#[derive(Debug, Clone)]
pub struct ClientEvent {
    /// The connection it came from.
    pub connection: ConnectionId,
    /// Who sent it (verified).
    pub identity: Identity,
    /// The page the sender is on.
    pub page: String,
    /// The event name.
    pub event: String,
    /// Its data (binary values as placeholders `{"_placeholder":true,"num":N}`).
    pub data: Value,
    /// The binary values `data`'s placeholders stand for, in order (a Socket.IO binary
    /// event; empty otherwise).
    pub attachments: Vec<bytes::Bytes>,
}

/// A client-event handler's answer to the event's ack: `data` (binary values as
/// placeholders `{"_placeholder":true,"num":N}`) and the values they stand for. A
/// Socket.IO client that asked for an ack gets `data` as the ack's argument (a binary
/// ack when there are attachments); a client that did not ask gets nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AckAnswer {
    /// The ack's argument.
    pub data: Value,
    /// The binary values `data`'s placeholders stand for, in order.
    pub attachments: Vec<bytes::Bytes>,
}

impl AckAnswer {
    /// An answer without binary values.
    pub fn json(data: Value) -> Self {
        Self {
            data,
            attachments: Vec::new(),
        }
    }
}

/// Receives forwarded client events. Runs on the thread that delivered the message
/// (a transport thread, or the caller of the in-process transport), with no lock held;
/// it may call `emit_*`.
pub trait ClientEventHandler: Send + Sync + 'static {
    /// Handles one event.
    fn on_client_event(&self, event: &ClientEvent);

    /// Handles one event and answers its ack (the hub calls this one). The default
    /// handles it with [`ClientEventHandler::on_client_event`] and answers nothing: a
    /// client that asked for an ack gets `null`. Answering handlers are written with
    /// [`Answering`].
    fn answer(&self, event: &ClientEvent) -> Option<AckAnswer> {
        self.on_client_event(event);
        None
    }
}

impl<F: Fn(&ClientEvent) + Send + Sync + 'static> ClientEventHandler for F {
    fn on_client_event(&self, event: &ClientEvent) {
        self(event)
    }
}

/// A client-event handler that answers acks: `Answering(|event| Some(AckAnswer::json(…)))`.
/// Python's and Node's hooks answer the same way (their return value), and C's with
/// `mcrt_builder_set_answering_client_event_handler` and `mcrt_answer_set`.
pub struct Answering<F>(pub F);

impl<F> ClientEventHandler for Answering<F>
where
    F: Fn(&ClientEvent) -> Option<AckAnswer> + Send + Sync + 'static,
{
    fn on_client_event(&self, event: &ClientEvent) {
        (self.0)(event);
    }

    fn answer(&self, event: &ClientEvent) -> Option<AckAnswer> {
        (self.0)(event)
    }
}

/// Computes the global stats for `emit_stats_update` (the host's database). Runs on the
/// thread that called `emit_stats_update`, before the emit lock is taken.
pub trait StatsProvider: Send + Sync + 'static {
    /// Current stats, a JSON object; `Err` explains why none could be computed.
    fn stats(&self) -> Result<Value, String>;
}

impl<F: Fn() -> Result<Value, String> + Send + Sync + 'static> StatsProvider for F {
    fn stats(&self) -> Result<Value, String> {
        self()
    }
}

/// What a before-emit filter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the event (with the payload as the filter left it).
    Keep,
    /// Send nothing; the state change still stands and the emit reports 0 connections.
    Drop,
}

/// Sees every event before it is routed: may rewrite its payload or drop it, never
/// change its audience (isolation is the registry's). Runs on the emitting thread (the
/// host's, or for emits the library originates a library thread, unless
/// [`HubBuilder::executor`](crate::HubBuilder::executor) puts them on the host's), under
/// the emit lock: keep it quick and do not call `emit_*` from it.
pub trait BeforeEmit: Send + Sync + 'static {
    /// Decides on one event.
    fn before_emit(&self, name: &str, audience: &Audience, payload: &mut Value) -> Verdict;
}

impl<F: Fn(&str, &Audience, &mut Value) -> Verdict + Send + Sync + 'static> BeforeEmit for F {
    fn before_emit(&self, name: &str, audience: &Audience, payload: &mut Value) -> Verdict {
        self(name, audience, payload)
    }
}

/// What an audited action led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AuditOutcome {
    /// An emit that changed nothing.
    Unchanged,
    /// An emit that reached this many connections.
    Delivered {
        /// Connections reached.
        connections: usize,
    },
    /// Something accepted that delivers nothing by itself (an authentication).
    Accepted,
    /// Refused, with the error code.
    Refused {
        /// Machine-readable code.
        code: String,
    },
}

/// Kind of audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A host `emit_*` call.
    Emit,
    /// An authentication attempt.
    Auth,
    /// A connection closed by the hub (slow consumer, logout, auth failures).
    Close,
    /// Bad input from a client.
    BadInput,
}

/// One entry of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// When (ms since the epoch).
    pub timestamp: u64,
    /// What kind of action.
    pub kind: AuditKind,
    /// The call or action, e.g. `module_online`, `authenticate`, `slow_consumer`.
    pub action: String,
    /// The user concerned, when known.
    pub user_id: Option<UserId>,
    /// The module concerned, when known.
    pub module_id: Option<ModuleId>,
    /// The connection concerned, when any.
    pub connection: Option<ConnectionId>,
    /// What happened.
    pub outcome: AuditOutcome,
    /// The call's arguments or the failure's details.
    pub detail: Value,
}

/// Receives every audit record. Runs on the thread that caused the record: after the
/// emit lock is released for emits and authentications, under it for closes the emit
/// itself caused (logout, slow consumer). It must not call `emit_*`; it may block
/// briefly but slows that caller (the persistence layer batches on its own thread).
pub trait AuditSink: Send + Sync + 'static {
    /// Records one entry.
    fn record(&self, record: &AuditRecord);
}

impl<F: Fn(&AuditRecord) + Send + Sync + 'static> AuditSink for F {
    fn record(&self, record: &AuditRecord) {
        self(record)
    }
}

/// Runs a hook, catching a panic: counted, logged, and `None` returned.
pub(crate) fn guarded<R>(
    metrics: &Metrics,
    hook: &'static str,
    call: impl FnOnce() -> R,
) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(value) => Some(value),
        Err(panic) => {
            metrics.hook_panics.increment();
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_owned());
            tracing::error!(hook, %message, "hook panicked; the hub keeps serving");
            None
        }
    }
}
