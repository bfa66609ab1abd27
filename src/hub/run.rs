//! The one skeleton every host call runs through ([`Hub::run`]): check the arguments →
//! take the emit lock → claim the change (shared broker) → apply it to the store and
//! save → run its [`Step`]s (deliver events, end sessions) → publish the call to the
//! other nodes → count → audit → outcome. Each call contributes only its own parts, as
//! an [`Apply`] implementation in `calls/`; another node's call is mirrored by the same
//! `apply` without building events ([`Mode::Mirror`]), and its steps come from the
//! broker.
//!
//! Invariants kept here: an unchanged call sends nothing and saves nothing; every
//! changed call's steps run under the emit lock, in the store's order; a refused call
//! is counted (`emits_failed`, `bad_input{kind="host_argument"}`) and audited with its
//! name and arguments. This module must not know any call by name: the compiler lists
//! the calls in [`dispatch`]. Guarded by `tests/hub/events.rs`, `tests/hub/hooks.rs` (audit
//! records) and `tests/cluster/broker_redis.rs`.

use std::borrow::Cow;

use serde_json::Value;

use super::cluster::Shared;
use super::{Claimed, EmitGuard, EmitOutcome, Hub, HubError, calls};
use crate::broker::Message;
use crate::call::{HostCall, Stats, Step};
use crate::hooks::{AuditKind, AuditOutcome, AuditRecord, guarded};
use crate::ids::{ModuleId, UserId};
use crate::metrics::BadInputKind;
use crate::outbound::CloseReason;
use crate::store::Store;

/// How a call's change is applied to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The local store decides whether anything changed.
    Local,
    /// The shared broker said changed: apply and report changed even if the local
    /// mirror already had the value.
    Forced,
    /// Another node's call: apply to the local mirror; its steps come from the broker.
    Mirror,
}

/// What the audit names besides the call: the user and the module it is about.
pub(super) type Audited = (Option<UserId>, Option<ModuleId>);

/// One call's own parts of the skeleton.
pub(super) trait Apply {
    /// The arguments once checked (and whatever `claim` / `apply` learn for `steps`).
    type Args;
    /// Checks the arguments, before the emit lock.
    fn check(&self, hub: &Hub) -> Result<Self::Args, HubError>;
    /// Claims the change with the shared broker (before the emit lock, setting
    /// `claimed` when it changed); calls that do not detect change keep the default.
    fn claim(
        &self,
        _args: &mut Self::Args,
        _hub: &Hub,
        _claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        Ok(Shared::Local)
    }
    /// Applies the change to the store and saves it; `false` when nothing changed
    /// (read only in [`Mode::Local`]).
    fn apply(
        &self,
        args: &mut Self::Args,
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError>;
    /// The events and effects of the applied change.
    fn steps(&self, args: Self::Args, store: &Store) -> Vec<Step>;
    /// Who the audit record is about (computed only when an audit sink reads it).
    fn audited(&self) -> Audited {
        (None, None)
    }
}

/// A piece of work done with whichever [`Apply`] a call has.
pub(super) trait Visit {
    type Out;
    fn visit<C: Apply>(self, call: &C) -> Self::Out;
}

/// The one place that maps each call to its [`Apply`]. Inlined into [`Hub::run`]: one
/// call through fewer frames (`store/unchanged` under callgrind: 2,285 → 2,271
/// instructions per emit).
#[inline]
pub(super) fn dispatch<V: Visit>(call: &HostCall<'_>, visit: V) -> V::Out {
    use calls::{Added, LogIn, LogOut, Registered, Removed, Status};
    match call {
        HostCall::ModuleOnline(body) => visit.visit(&Status { body, online: true }),
        HostCall::ModuleOffline(body) => visit.visit(&Status {
            body,
            online: false,
        }),
        HostCall::ModuleAdded(module) => visit.visit(&Added(module)),
        HostCall::ModuleRemoved(module) => visit.visit(&Removed(module)),
        HostCall::TelemetryUpdate(body) => visit.visit(body),
        HostCall::UserLoggedIn(body) => visit.visit(&LogIn(body)),
        HostCall::UserLoggedOut(body) => visit.visit(&LogOut(body)),
        HostCall::UserProfileUpdated(body) => visit.visit(body),
        HostCall::UserRegistered(user) => visit.visit(&Registered(user)),
        HostCall::StatsUpdate(body) => visit.visit(body),
        HostCall::AdminAction(body) => visit.visit(body),
        HostCall::MaintenanceMode(body) => visit.visit(body),
        HostCall::ToUser(body) => visit.visit(body),
        HostCall::ToAdmins(body) => visit.visit(body),
        HostCall::ToEveryone(body) => visit.visit(body),
    }
}

type Executed<'h> = Result<(Option<Vec<Step>>, EmitGuard<'h>), HubError>;

/// Runs a local call: up to its steps, then [`Hub::finish`].
struct Execute<'h, 'c> {
    hub: &'h Hub,
    call: &'c HostCall<'c>,
}

impl Visit for Execute<'_, '_> {
    type Out = Result<EmitOutcome, HubError>;
    fn visit<C: Apply>(self, call: &C) -> Self::Out {
        let hub = self.hub;
        let result = (|| {
            let mut args = call.check(hub)?;
            // The claim runs before the emit lock so that concurrent emitters' claims
            // share one round trip (`broker/redis/batch.rs`); order per state key is
            // restored under the lock (`Hub::superseded`).
            hub.not_reentrant()?;
            let mut claimed = None;
            let shared = call.claim(&mut args, hub, &mut claimed)?;
            let mut guard = hub.lock()?;
            let mode = match shared {
                Shared::Unchanged => return Ok((None, guard)),
                Shared::Local => Mode::Local,
                Shared::Changed => Mode::Forced,
            };
            if let Some((key, seq)) = &claimed
                && hub.superseded(key, *seq)
            {
                return Ok((None, guard));
            }
            guard.claimed = claimed;
            if !call.apply(&mut args, hub, &mut guard.store, mode)? {
                return Ok((None, guard));
            }
            let steps = call.steps(args, &guard.store);
            Ok((Some(steps), guard))
        })();
        match result {
            // The most frequent outcome, answered here: nothing to send, count or
            // audit, so the result is not moved through `finish`.
            Ok((None, guard)) if hub.inner.audit.is_empty() => {
                drop(guard);
                hub.inner.metrics.emits_unchanged.increment();
                Ok(EmitOutcome::Unchanged)
            }
            result => hub.finish(self.call, hub.audited(|| Some(call.audited())), result),
        }
    }
}

/// Applies another node's call to the local store mirror.
pub(super) struct Mirror<'h, 's> {
    pub(super) hub: &'h Hub,
    pub(super) store: &'s mut Store,
}

impl Visit for Mirror<'_, '_> {
    type Out = Result<(), HubError>;
    fn visit<C: Apply>(self, call: &C) -> Self::Out {
        let mut args = call.check(self.hub)?;
        call.apply(&mut args, self.hub, self.store, Mode::Mirror)
            .map(drop)
    }
}

impl Hub {
    /// Runs one host call: the typed form of every `emit_*` method (they build a
    /// [`HostCall`] and call this), of the HTTP API's requests and of the bindings'
    /// calls. Returns what it did, or why it was refused (nothing changed, nothing
    /// sent).
    pub fn run(&self, call: HostCall<'_>) -> Result<EmitOutcome, HubError> {
        self.run_ref(&call)
    }

    /// [`Hub::run`] by reference (see `emit.rs`, which skips the drop of calls made of
    /// borrowed arguments only).
    pub(super) fn run_ref(&self, call: &HostCall<'_>) -> Result<EmitOutcome, HubError> {
        // Checked by reference: rebuilding the call only for the provider keeps the
        // other calls from being moved (copied) once more on the way in.
        if matches!(call, HostCall::StatsUpdate(Stats { stats: None })) {
            let stats = match self.provided_stats() {
                Ok(stats) => stats,
                Err(error) => {
                    self.inner.metrics.emits_failed.increment();
                    return Err(error);
                }
            };
            return self.run_checked(&HostCall::StatsUpdate(Stats {
                stats: Some(Cow::Owned(stats)),
            }));
        }
        self.run_checked(call)
    }

    /// [`Hub::run`] once the call's arguments are all there.
    #[inline]
    fn run_checked(&self, call: &HostCall<'_>) -> Result<EmitOutcome, HubError> {
        dispatch(call, Execute { hub: self, call })
    }

    /// The stats provider's current stats.
    fn provided_stats(&self) -> Result<Value, HubError> {
        let provider = self.inner.stats.as_ref().ok_or(HubError::NoStatsProvider)?;
        guarded(&self.inner.metrics, "stats_provider", || provider.stats())
            .ok_or_else(|| HubError::StatsProvider("the stats provider panicked".into()))?
            .map_err(HubError::StatsProvider)
    }

    /// Runs a changed call's steps under its lock (and sends the call to the other
    /// nodes), then counts and audits.
    fn finish(
        &self,
        call: &HostCall<'_>,
        audited: Option<Audited>,
        result: Executed<'_>,
    ) -> Result<EmitOutcome, HubError> {
        let metrics = &self.inner.metrics;
        let outcome = match result {
            Ok((None, guard)) => {
                drop(guard);
                metrics.emits_unchanged.increment();
                Ok(EmitOutcome::Unchanged)
            }
            Ok((Some(steps), mut guard)) => {
                let copies = self.inner.shared.then(|| steps.clone());
                if copies.is_some() {
                    self.start_recording();
                }
                let connections = self.run_steps(steps);
                if let Some(steps) = copies {
                    let message = Message::Emit {
                        call: call.clone().into_owned(),
                        steps,
                    };
                    self.publish_to_cluster(message, guard.claimed.take());
                }
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
        if let Some(audited) = audited {
            self.audit_call(call, audited, &outcome);
        }
        outcome
    }

    /// Records the audit row of a call and its outcome.
    fn audit_call(
        &self,
        call: &HostCall<'_>,
        (user_id, module_id): Audited,
        outcome: &Result<EmitOutcome, HubError>,
    ) {
        let outcome = match outcome {
            Ok(EmitOutcome::Unchanged) => AuditOutcome::Unchanged,
            Ok(EmitOutcome::Delivered { connections }) => AuditOutcome::Delivered {
                connections: *connections,
            },
            Err(error) => AuditOutcome::Refused {
                code: error.code().to_owned(),
            },
        };
        self.record_audit(AuditRecord {
            timestamp: crate::event::now_ms(),
            kind: AuditKind::Emit,
            action: call.name().as_str().to_owned(),
            user_id,
            module_id,
            connection: None,
            outcome,
            detail: call.args(),
        });
    }

    /// Runs decided steps in order (under the emit lock); returns the connections the
    /// events reached.
    pub(super) fn run_steps(&self, steps: Vec<Step>) -> usize {
        let mut reached = 0;
        for step in steps {
            match step {
                Step::Event(event) => reached += self.publish(event),
                Step::EndSession { user, session } => {
                    self.record_session_end(&user, &session);
                    for queue in self.inner.registry.end_session(&user, &session) {
                        if queue.close(CloseReason::LoggedOut) {
                            self.audit_close(
                                queue.id(),
                                CloseReason::LoggedOut,
                                Some(user.clone()),
                            );
                        }
                    }
                }
            }
        }
        reached
    }
}
