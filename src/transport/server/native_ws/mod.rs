//! The native JSON protocol on `/ws`, for devices and languages without a Socket.IO
//! client.
//!
//! Every websocket text frame, both ways, is `{"event": "<name>", "data": <JSON>}`
//! ([`crate::protocol::native`]). A client authenticates with a `client:authenticate`
//! frame (the same payload as Socket.IO's) and receives `auth:ok` and `page:snapshot`,
//! then its events. Limits: frames over `max_message_bytes` close with 1009; binary
//! frames close with 1003; invalid UTF-8 or JSON, or a frame of the wrong shape, close
//! with 1007; no authentication within `auth_deadline`, or rate-limit abuse, close with
//! 1008. Closes decided by the hub use private codes with the reason as text: 4001
//! `slow_consumer`, 4002 `logged_out`, 4003 `too_many_auth_failures`; 1001 on shutdown.
//!
//! With connection-state recovery on ([`super::RecoveryConfig`]) every event frame
//! carries `"offset"`, an authenticated user or admin connection is told its private id
//! in `auth:resumable {pid}` (after `auth:ok` and `page:snapshot`), and a new
//! connection may send `client:resume {pid, offset}` instead of authenticating: it gets
//! `auth:resumed {pid}` then every missed frame, or `auth:resume_failed
//! {code, message}` and stays open, unauthenticated, for a normal `client:authenticate`.
//! This module must not decide who receives what.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::event;
use crate::hub::InboundError;
use crate::metrics::BadInputKind;
use crate::outbound::{CloseReason, Drained};
use crate::protocol::WireFormat;
use crate::protocol::native::{self, FrameError};

use super::Shared;
use super::coalesce::Coalescer;
use super::http::{self, Body};
use super::rate_limit::{Admit, RateLimiter};
use super::recovery::Attachment;

pub(crate) async fn handle(
    shared: Arc<Shared>,
    mut request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    if !http::is_websocket_upgrade(&request) {
        return http::respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "websocket upgrade required",
        );
    }
    let previous = shared.active.fetch_add(1, Ordering::SeqCst);
    if previous >= shared.config.max_connections {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        shared.hub.count_refused_connection();
        return http::respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "too many connections",
        );
    }
    if let Some(refused) = super::limits::open_refusal(&shared, remote.ip()) {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        return refused;
    }
    let query = http::query_pairs(&request);
    let context = http::handshake_context(&request, remote, query);
    let Some((response, socket)) =
        http::accept_websocket(&mut request, shared.config.max_message_bytes)
    else {
        shared.open_per_ip.release(remote.ip());
        shared.active.fetch_sub(1, Ordering::SeqCst);
        return http::respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "bad websocket handshake",
        );
    };
    tokio::spawn(async move {
        if let Some(ws) = socket.await {
            run(&shared, ws, context).await;
        }
        shared.open_per_ip.release(remote.ip());
        shared.active.fetch_sub(1, Ordering::SeqCst);
    });
    response
}

fn hub_close(reason: &CloseReason) -> CloseFrame {
    let code = match reason {
        CloseReason::SlowConsumer => CloseCode::Library(4001),
        CloseReason::LoggedOut => CloseCode::Library(4002),
        CloseReason::TooManyAuthFailures => CloseCode::Library(4003),
        CloseReason::TooManyConnections => CloseCode::Library(4004),
        CloseReason::Shutdown => CloseCode::Away,
        CloseReason::Detached => CloseCode::Normal,
    };
    CloseFrame {
        code,
        reason: reason.as_str().into(),
    }
}

fn policy(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// The split websocket's writing half.
type Sink = SplitSink<http::ServerSocket, Message>;

/// What the loop does next: go on, or end with this close frame (`None`: no frame, the
/// socket is gone or the client closed it).
type Next = ControlFlow<Option<CloseFrame>>;

/// One native connection's state across its loop.
struct NativeSocket<'a> {
    shared: &'a Arc<Shared>,
    attachment: Arc<Attachment>,
    carrier: u64,
    notify: Arc<Notify>,
    recovery: bool,
    /// Whether the client knows its pid (told after authenticating, or it resumed).
    pid_told: bool,
    rate: RateLimiter,
}

async fn run(shared: &Arc<Shared>, ws: http::ServerSocket, context: crate::auth::HandshakeContext) {
    let notify = Arc::new(Notify::new());
    let carrier = super::recovery::next_carrier();
    let recovery = shared.config.recovery.is_some();
    let mut socket = NativeSocket {
        shared,
        attachment: Attachment::new(shared, context, WireFormat::Native, carrier, &notify),
        carrier,
        notify,
        recovery,
        pid_told: !recovery,
        rate: RateLimiter::new(shared.config.rate_limit),
    };
    let progress = ws.get_ref().progress();
    let (mut sink, mut stream) = ws.split();
    let mut shutdown = shared.shutdown.clone();
    let deadline = tokio::time::sleep(shared.config.auth_deadline);
    tokio::pin!(deadline);
    let mut coalescer = Coalescer::new(shared.config.write_coalesce);
    let close: Option<CloseFrame> = loop {
        tokio::select! {
            () = socket.notify.notified() => {
                let Some(drained) = socket.gather(&mut coalescer).await else {
                    break None;
                };
                let attachment = Arc::clone(&socket.attachment);
                let queue = move || Some(Arc::clone(attachment.connection.queue()));
                let write = socket.write_queued(&mut sink, drained);
                match super::stall::bounded(shared, &progress, queue, write).await {
                    Some(ControlFlow::Continue(())) => {}
                    Some(ControlFlow::Break(close)) => break close,
                    // Closed as a slow consumer (not parkable), and dropped without a
                    // close handshake: its send buffer is full.
                    None => return,
                }
            }
            message = stream.next() => {
                if let ControlFlow::Break(close) = socket.on_message(&mut sink, message).await {
                    break close;
                }
            }
            () = &mut deadline, if !socket.attachment.connection.is_authenticated() => {
                shared.hub.count_auth_timeout();
                break Some(policy(CloseCode::Policy, "auth_timeout"));
            }
            _ = shutdown.changed() => {
                socket.attachment.connection.queue().close(CloseReason::Shutdown);
            }
        }
    };
    // The socket broke or the client closed it (not a close decided here or by the
    // hub): park the connection for recovery, before the close handshake ends.
    if recovery && close.is_none() {
        shared.parked.park(shared, socket.attachment);
    }
    if let Some(frame) = close {
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}

impl NativeSocket<'_> {
    /// Takes what the hub queued; under a sustained backlog ([`Coalescer`]) waits for
    /// the window and takes what came meanwhile too. `None` once another transport took
    /// the connection over.
    async fn gather(&self, coalescer: &mut Coalescer) -> Option<Drained> {
        let mut drained = self.attachment.drain(self.carrier)?;
        let hold = coalescer.hold(drained.frames.len());
        if hold.is_none() || drained.closed.is_some() {
            return Some(drained);
        }
        super::coalesce::wait(hold).await;
        let Some(more) = self.attachment.drain(self.carrier) else {
            // Taken over during the hold: what was drained is still written.
            return Some(drained);
        };
        drained.frames.extend(more.frames);
        drained.closed = more.closed;
        Some(drained)
    }

    /// Writes what [`NativeSocket::gather`] took, then the pid once the connection may
    /// resume.
    async fn write_queued(&mut self, sink: &mut Sink, drained: Drained) -> Next {
        if let Some(oldest) = drained.frames.first() {
            oldest.record_delivery();
        }
        let mut failed = false;
        for frame in &drained.frames {
            if sink
                .feed(Message::Text(
                    frame.encoded_text(WireFormat::Native).clone(),
                ))
                .await
                .is_err()
            {
                failed = true;
                break;
            }
        }
        if !self.pid_told && drained.closed.is_none() && resumable(&self.attachment) == Some(true) {
            self.pid_told = true;
            let told = control(event::AUTH_RESUMABLE, &json!({"pid": self.attachment.pid}));
            failed |= sink.feed(told).await.is_err();
        }
        if failed || sink.flush().await.is_err() {
            return ControlFlow::Break(None);
        }
        if !drained.frames.is_empty() {
            self.shared.hub.count_socket_write();
        }
        if let Some(reason) = &drained.closed {
            return ControlFlow::Break(Some(hub_close(reason)));
        }
        ControlFlow::Continue(())
    }

    /// Handles one websocket message from the client.
    async fn on_message(
        &mut self,
        sink: &mut Sink,
        message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Next {
        match message {
            Some(Ok(Message::Text(text))) => self.on_text(sink, text.as_str()).await,
            Some(Ok(Message::Binary(_))) => {
                self.shared.hub.count_bad_input(BadInputKind::Protocol);
                ControlFlow::Break(Some(policy(CloseCode::Unsupported, "binary_not_supported")))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                ControlFlow::Continue(())
            }
            Some(Ok(Message::Close(_))) | None => ControlFlow::Break(None),
            Some(Err(error)) => ControlFlow::Break(self.read_failed(&error)),
        }
    }

    /// The close frame for a read error, counted when it is the client's fault.
    fn read_failed(&self, error: &tokio_tungstenite::tungstenite::Error) -> Option<CloseFrame> {
        match error {
            tokio_tungstenite::tungstenite::Error::Capacity(_) => {
                self.shared.hub.count_bad_input(BadInputKind::TooLarge);
                Some(policy(CloseCode::Size, "message_too_big"))
            }
            tokio_tungstenite::tungstenite::Error::Utf8(_) => {
                self.shared.hub.count_bad_input(BadInputKind::InvalidUtf8);
                Some(policy(CloseCode::Invalid, "invalid_utf8"))
            }
            _ => None,
        }
    }

    /// A text frame: rate-limited, then a `client:resume` or a frame for the hub.
    async fn on_text(&mut self, sink: &mut Sink, text: &str) -> Next {
        match self.rate.admit() {
            Admit::Handle => {}
            Admit::Drop => {
                self.shared.hub.count_bad_input(BadInputKind::RateLimited);
                return ControlFlow::Continue(());
            }
            Admit::Close => {
                self.shared.hub.count_bad_input(BadInputKind::RateLimited);
                return ControlFlow::Break(Some(policy(CloseCode::Policy, "rate_limited")));
            }
        }
        if self.recovery
            && text.contains(event::CLIENT_RESUME)
            && let Ok(frame) = native::decode(text.as_bytes(), self.shared.config.max_message_bytes)
            && frame.event == event::CLIENT_RESUME
        {
            return self.on_resume(sink, &frame.data).await;
        }
        match self.attachment.connection.receive(text.as_bytes()) {
            Err(InboundError::Frame(FrameError::TooLarge { .. })) => {
                return ControlFlow::Break(Some(policy(CloseCode::Size, "message_too_big")));
            }
            Err(InboundError::Frame(_)) => {
                return ControlFlow::Break(Some(policy(CloseCode::Invalid, "malformed_frame")));
            }
            _ => {}
        }
        if !self.pid_told {
            match resumable(&self.attachment) {
                // Tell the pid after the replies just queued (`auth:ok`, …).
                Some(true) => self.notify.notify_one(),
                // A device is never told one: stop asking on its every frame.
                Some(false) => self.pid_told = true,
                None => {}
            }
        }
        ControlFlow::Continue(())
    }
}

/// A frame only this connection gets (not an event: no offset).
fn control(name: &str, data: &Value) -> Message {
    Message::Text(native::encode_event(name, data).into())
}

mod resume;

use resume::resumable;
