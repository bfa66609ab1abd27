//! Connection-state recovery on `/ws`: `client:resume {pid, offset}` takes a parked
//! connection over and replays what it missed, or answers `auth:resume_failed` and
//! leaves the connection open for a normal `client:authenticate`. Whether a connection
//! may be resumed at all is decided here too (users and admins, never devices). It must
//! not decide who receives what: the replay is the parked queue's frames, as they are.
//! Guarded by `tests/server/recovery.rs` (`native_client_resumes_with_client_resume`,
//! `native_resume_refused_leaves_the_connection_open_for_authentication`).

use std::ops::ControlFlow;
use std::sync::Arc;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

use crate::event;
use crate::metrics::BadInputKind;
use crate::protocol::WireFormat;

use super::super::Shared;
use super::super::recovery::{Attachment, Resumed};
use super::{NativeSocket, Next, Sink, control};

impl NativeSocket<'_> {
    /// `client:resume`: takes the parked connection over and replays what it missed, or
    /// says why not (the connection stays open, unauthenticated).
    pub(super) async fn on_resume(&mut self, sink: &mut Sink, data: &Value) -> Next {
        let (reply, replay) = match resume(
            self.shared,
            &self.attachment,
            data,
            self.carrier,
            &self.notify,
        ) {
            Ok(Resumed {
                attachment: resumed,
                replay,
            }) => {
                let fresh = std::mem::replace(&mut self.attachment, resumed);
                drop(fresh);
                self.pid_told = true;
                let reply = json!({"pid": self.attachment.pid});
                (control(event::AUTH_RESUMED, &reply), replay)
            }
            Err((code, message)) => (
                control(
                    event::AUTH_RESUME_FAILED,
                    &json!({"code": code, "message": message}),
                ),
                Vec::new(),
            ),
        };
        let mut failed = sink.feed(reply).await.is_err();
        for frame in &replay {
            failed |= sink
                .feed(Message::Text(
                    frame.encoded_text(WireFormat::Native).clone(),
                ))
                .await
                .is_err();
        }
        if failed || sink.flush().await.is_err() {
            return ControlFlow::Break(None);
        }
        ControlFlow::Continue(())
    }
}

/// Whether the connection may be resumed later: `Some(true)` for an authenticated user
/// or admin, `Some(false)` for a device (never), `None` before authentication.
pub(super) fn resumable(attachment: &Attachment) -> Option<bool> {
    attachment
        .connection
        .identity()
        .map(|identity| identity.role != crate::auth::Role::Device)
}

/// `client:resume {pid, offset}`: takes the parked connection `pid` over, or says why
/// not (`code`, `message`). Only a connection not yet authenticated may resume.
fn resume(
    shared: &Shared,
    current: &Attachment,
    data: &Value,
    carrier: u64,
    notify: &Arc<Notify>,
) -> Result<Resumed, (&'static str, String)> {
    if current.connection.is_authenticated() {
        return Err((
            "already_authenticated",
            "resume before authenticating, on a new connection".into(),
        ));
    }
    let pid = data.get("pid").and_then(Value::as_str);
    let offset = match data.get("offset") {
        None | Some(Value::Null) => Some(0),
        Some(offset) => offset.as_u64(),
    };
    let (Some(pid), Some(offset)) = (pid, offset) else {
        shared.hub.count_bad_input(BadInputKind::Protocol);
        return Err((
            "bad_resume",
            "expected {\"pid\": string, \"offset\": unsigned integer}".into(),
        ));
    };
    shared
        .parked
        .resume(shared, pid, offset, WireFormat::Native, carrier, notify)
        .map_err(|refusal| {
            (
                refusal.code(),
                "this session cannot be resumed: authenticate".into(),
            )
        })
}
