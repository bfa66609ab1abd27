//! The clients → hub path: raw native frames, `client:page`, device telemetry, and
//! forwarding other events to the client-event hook; `client:authenticate` itself is
//! `authenticate.rs`. Invariant: before authentication only `client:authenticate` is
//! accepted
//! (`tests/hub/bad_input.rs::unknown_event_before_authenticate_is_refused`).

use serde_json::{Value, json};

use super::{Hub, InboundError, Reply};
use crate::auth::{AuthError, Role};
use crate::event::{self, DEVICE_TELEMETRY, now_ms};
use crate::hooks::{AckAnswer, AuditKind, AuditOutcome, AuditRecord, ClientEvent, guarded};
use crate::ids::{ConnectionId, ModuleId};
use crate::metrics::BadInputKind;
use crate::protocol::native::{self, FrameError};

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
        self.on_client_message_with(id, event_name, data, Vec::new())
    }

    /// [`Hub::on_client_message`] for an event with binary values (`data` keeps their
    /// placeholders); the values reach the client-event hook only.
    pub fn on_client_message_with(
        &self,
        id: ConnectionId,
        event_name: &str,
        data: &Value,
        attachments: Vec<bytes::Bytes>,
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
        if event_name == event::CLIENT_SNAPSHOT && identity.role != Role::Device {
            return self.snapshot_more(id, &identity, page, data);
        }
        if event_name == event::CLIENT_AUDIT {
            return self.audit_view(id, &identity, data);
        }
        if let (Some(module), DEVICE_TELEMETRY) = (&identity.module_id, event_name) {
            return self.device_telemetry(module, data);
        }
        let event = ClientEvent {
            connection: id,
            identity,
            page: self.inner.routing.page_name(page).to_owned(),
            event: event_name.to_owned(),
            data: data.clone(),
            attachments,
        };
        let answer = self.forward_client_event(&event).unwrap_or_default();
        Ok(Reply {
            ack: Some(answer.data).filter(|data| !data.is_null() || !answer.attachments.is_empty()),
            attachments: answer.attachments,
        })
    }

    /// Hands an event the library does not handle to the client-event hook (counted as
    /// forwarded) and returns its answer to the ack, or counts it dropped when there is
    /// none.
    fn forward_client_event(&self, event: &ClientEvent) -> Option<AckAnswer> {
        match &self.inner.client_events {
            Some(handler) => {
                self.inner.metrics.client_events_forwarded.increment();
                guarded(&self.inner.metrics, "client_event", || {
                    handler.answer(event)
                })
                .flatten()
            }
            None => {
                self.inner.metrics.client_events_dropped.increment();
                None
            }
        }
    }

    /// A device's telemetry frame is its module's telemetry, nothing else. Off the host's
    /// thread with an executor, it is queued for the host and the ack says so (the
    /// outcome is not known yet).
    fn device_telemetry(&self, module: &ModuleId, data: &Value) -> Result<Reply, InboundError> {
        if !self.emits_here() {
            let (module, data) = (module.clone(), data.clone());
            self.originate(move |hub| {
                if let Err(error) = hub.emit_telemetry_update(module.as_str(), &data) {
                    tracing::debug!(%module, %error, "device telemetry refused");
                }
            });
            return Ok(Reply {
                ack: Some(json!({"outcome": "queued"})),
                ..Reply::default()
            });
        }
        let outcome = self
            .emit_telemetry_update(module.as_str(), data)
            .map_err(|error| InboundError::Device(error.to_string()))?;
        Ok(Reply {
            ack: serde_json::to_value(outcome).ok(),
            ..Reply::default()
        })
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
        self.record_identity(id);
        let (queue, _) = self
            .inner
            .registry
            .connection(id)
            .ok_or(InboundError::Closed(id))?;
        self.send_snapshot(&guard.store, &queue, &identity, page);
        Ok(Reply::default())
    }
}
