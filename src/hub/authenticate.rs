//! `client:authenticate`: runs the authenticator chain (host authenticators first, their
//! panics caught, then the built-in ones), checks the page, and either accepts — under
//! the emit lock, `auth:ok` then `page:snapshot`, a device's module going online, the
//! audit record — or refuses with `auth:error`, closing the connection after repeated
//! failures.
//!
//! Invariants: an identity comes only from a verified credential, and the client's
//! claims are only compared with it
//! (`tests/hub/auth.rs::user_token_claiming_admin_is_refused_and_gets_no_admin_event`);
//! a connection is closed after `max_auth_failures` refusals
//! (`tests/hub/auth.rs::connection_is_closed_after_max_auth_failures`). This module
//! must not touch sockets: replies go through the connection's queue.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Hub, InboundError, Reply};
use crate::auth::{AuthDecision, AuthError, AuthRequest, HandshakeContext, Identity};
use crate::event::{self, now_ms};
use crate::hooks::{AuditKind, AuditOutcome, AuditRecord, guarded};
use crate::ids::ConnectionId;
use crate::metrics::BadInputKind;
use crate::outbound::{CloseReason, OutboundQueue};
use crate::registry::RegistryError;
use crate::registry::routing::PageIndex;
use crate::store::Store;

impl Hub {
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
        let (identity, page) = self
            .verify(data, &context)
            .map_err(|error| self.refuse_unverified(id, &queue, error, notify_failure))?;
        let guard = self.lock().map_err(|_| InboundError::Reentrant)?;
        let was_device = self
            .inner
            .registry
            .identity(id)
            .is_some_and(|(previous, _)| previous.module_id.is_some());
        if let Err(error) = self.admit(&guard.store, id, &identity, page) {
            drop(guard);
            return Err(match error {
                RegistryError::Auth(AuthError::TooManyConnections) => {
                    self.refuse_over_user_limit(&queue, &identity, notify_failure)
                }
                RegistryError::Auth(error) => self.refuse(&queue, error, notify_failure),
                _ => InboundError::Closed(id),
            });
        }
        self.record_identity(id);
        let ok = self.announce_authenticated(id, &identity, page);
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
        self.audit_authenticated(id, &identity, &context);
        Ok(Reply {
            ack: Some(ok),
            ..Reply::default()
        })
    }

    /// Registers the verified `identity` on connection `id`, under the emit lock (`store`
    /// is its guard's): refused if the device's module belongs to another user, or if the
    /// user is over the connection limit.
    fn admit(
        &self,
        store: &Store,
        id: ConnectionId,
        identity: &Identity,
        page: PageIndex,
    ) -> Result<(), RegistryError> {
        if let Some(module) = &identity.module_id
            && store
                .module(module.as_str())
                .is_some_and(|record| record.owner != identity.user_id)
        {
            return Err(RegistryError::Auth(AuthError::DeviceOwnerMismatch));
        }
        self.inner
            .registry
            .authenticate(
                id,
                identity.clone(),
                page,
                self.inner.limits.max_connections_per_user,
            )
            .map(drop)
    }

    /// Refuses a payload that did not verify, counting a malformed one as bad input.
    fn refuse_unverified(
        &self,
        id: ConnectionId,
        queue: &Arc<OutboundQueue>,
        error: AuthError,
        notify_failure: bool,
    ) -> InboundError {
        if let AuthError::InvalidPayload(message) = &error {
            self.bad_input(id, BadInputKind::WrongShape, message);
        }
        self.refuse(queue, error, notify_failure)
    }

    /// Refuses a connection past its user's `max_connections_per_user` (counted as bad
    /// input), then closes it: the client is told why and does not retry on it.
    fn refuse_over_user_limit(
        &self,
        queue: &Arc<OutboundQueue>,
        identity: &Identity,
        notify_failure: bool,
    ) -> InboundError {
        self.inner
            .metrics
            .bad_input(BadInputKind::ConnectionsPerUser);
        tracing::info!(connection = %queue.id(), user = %identity.user_id, "too many connections for this user");
        let error = self.refuse(queue, AuthError::TooManyConnections, notify_failure);
        self.unsubscribe_closing(queue.id());
        if queue.close(CloseReason::TooManyConnections) {
            self.audit_close(queue.id(), CloseReason::TooManyConnections, None);
        }
        error
    }

    /// Counts and logs a successful authentication; returns the `auth:ok` payload.
    fn announce_authenticated(
        &self,
        id: ConnectionId,
        identity: &Identity,
        page: PageIndex,
    ) -> Value {
        self.inner.metrics.auth_successes.increment();
        // Ids only at info (no profile, token or session id): see the crate docs.
        tracing::info!(
            connection = %id,
            user = %identity.user_id,
            role = identity.role.as_str(),
            page = self.inner.routing.page_name(page),
            "authenticated"
        );
        let mut ok = json!({
            "userId": identity.user_id,
            "role": identity.role.as_str(),
            "sessionId": identity.session_id,
            "page": self.inner.routing.page_name(page),
        });
        if let Some(module) = &identity.module_id {
            ok["moduleId"] = json!(module);
        }
        ok
    }

    /// Audits an accepted authentication (when an audit sink is installed).
    fn audit_authenticated(
        &self,
        id: ConnectionId,
        identity: &Identity,
        context: &HandshakeContext,
    ) {
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
    }

    /// Runs the authenticator chain (host ones first, panics caught) and checks the page.
    pub(super) fn verify(
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
    pub(super) fn refuse(
        &self,
        queue: &Arc<OutboundQueue>,
        error: AuthError,
        notify: bool,
    ) -> InboundError {
        let metrics = &self.inner.metrics;
        metrics.auth_failures.increment();
        metrics.token_refused(error.code());
        tracing::info!(connection = %queue.id(), code = error.code(), "authentication refused");
        if let Some(monitor) = &self.inner.monitor {
            let address = self
                .inner
                .registry
                .connection(queue.id())
                .and_then(|(_, context)| context.remote_addr)
                .map(|address| address.ip());
            monitor.auth_failed(address);
        }
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
}
