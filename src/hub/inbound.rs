//! The clients → hub path: raw native frames, `client:authenticate` (the authenticator
//! chain, then `auth:ok` and `page:snapshot` under the emit lock), `client:page`, device
//! telemetry, and forwarding other events to the client-event hook. Invariant: before
//! authentication only `client:authenticate` is accepted
//! (`tests/hub/bad_input.rs::unknown_event_before_authenticate_is_refused`).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{Hub, InboundError, Reply};
use crate::auth::{AuthDecision, AuthError, AuthRequest, HandshakeContext, Identity, Role};
use crate::event::{self, DEVICE_TELEMETRY, now_ms};
use crate::hooks::{AuditKind, AuditOutcome, AuditRecord, ClientEvent, guarded};
use crate::ids::ConnectionId;
use crate::metrics::BadInputKind;
use crate::outbound::{CloseReason, OutboundQueue};
use crate::protocol::native::{self, FrameError};
use crate::registry::RegistryError;
use crate::registry::routing::PageIndex;
use crate::store::Store;

impl Hub {
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

    pub(super) fn bad_input(&self, id: ConnectionId, kind: BadInputKind, message: &str) {
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
            // A device's telemetry frame is its module's telemetry, nothing else. Off
            // the host's thread with an executor, it is queued for the host and the ack
            // says so (the outcome is not known yet).
            if !self.emits_here() {
                let (module, data) = (module.clone(), data.clone());
                self.originate(move |hub| {
                    if let Err(error) = hub.emit_telemetry_update(module.as_str(), &data) {
                        tracing::debug!(%module, %error, "device telemetry refused");
                    }
                });
                return Ok(Reply {
                    ack: Some(json!({"outcome": "queued"})),
                });
            }
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
        Ok(Reply { ack: Some(ok) })
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

    pub(super) fn change_page(
        &self,
        id: ConnectionId,
        data: &Value,
    ) -> Result<Reply, InboundError> {
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
    pub(super) fn send_snapshot(
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
}
