//! Frames for sockets the host owns: the [`HostSink`] port and the one delivery contract
//! every host gets, whatever its language ([`HostDelivery`], installed around the sink
//! by [`HubBuilder::host_sink`](crate::HubBuilder::host_sink)).
//!
//! **The contract.** A frame (or close) caused on a host thread (an emit, a reply to an
//! inbound message, a job the host's executor runs) is handed to the sink on that
//! thread before the call returns. A frame caused on a library thread (the device
//! grace timer, a device connection of the built-in server, the monitor's ticker,
//! another node's event from the broker) is queued to the hub's one delivery thread,
//! which calls the sink with no library lock held; once anything is queued, later
//! frames queue behind it until the queue is empty, so every socket gets its events in
//! emit order. So a library thread never calls into a host (C function pointers,
//! Python callables, Node through koffi) while it holds the emit lock, and a
//! single-threaded host whose callbacks run on its own loop can never be waited for by
//! a thread that holds the lock its loop needs.
//!
//! A thread is a library thread when the library started it and marked it with
//! [`mark_library_thread`]; every other thread is the host's. The delivery thread is
//! started on the first frame that needs it, so a hub whose frames all come from host
//! threads has none.
//!
//! This module must not route or encode. Guarded by `tests/hub/host_transport.rs`
//! (`frames_from_a_library_thread_come_from_the_delivery_thread_in_order`), the C
//! suite (`tests/c/test_host.c`), the Node attach tests and `bindings/python/tests/
//! test_attach.py`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};

use parking_lot::{Condvar, Mutex};
use smallvec::SmallVec;

use super::{CloseReason, OutboundEvent};
use crate::ids::ConnectionId;

thread_local! {
    static LIBRARY_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one the library started (timers, server runtime,
/// broker subscriber, delivery threads): frames it causes for host-owned sockets go
/// through the delivery thread. Called once at the start of each such thread.
pub fn mark_library_thread() {
    LIBRARY_THREAD.with(|flag| flag.set(true));
}

/// Starts a thread of the library's own, named `name` and marked with
/// [`mark_library_thread`] before `body` runs: every thread the library starts goes
/// through here, so none can forget the mark.
pub(crate) fn spawn_library_thread<T: Send + 'static>(
    name: impl Into<String>,
    body: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            mark_library_thread();
            body()
        })
}

/// Whether the calling thread was marked with [`mark_library_thread`].
pub fn on_library_thread() -> bool {
    LIBRARY_THREAD.with(Cell::get)
}

/// Where the hub delivers the frames of host-owned connections. Installed with
/// [`HubBuilder::host_sink`](crate::HubBuilder::host_sink), which wraps it in the
/// delivery contract of this module: each method runs either on the host thread that
/// caused the frame (with the emit lock held, so an `emit_*` from here returns
/// [`HubError::Reentrant`](crate::HubError)) or on the hub's delivery thread, never two
/// at once.
pub trait HostSink: Send + Sync + 'static {
    /// One event for `recipients` (host connections only; never empty).
    /// [`OutboundEvent::socketio_packet`] is the Socket.IO packet to write to each
    /// recipient's socket.
    fn frame(&self, recipients: &[ConnectionId], event: &Arc<OutboundEvent>);

    /// The hub closed a host connection (its session logged out, too many failed
    /// authentications, shutdown): the host should disconnect that socket. Every frame
    /// meant for it before the close was already passed to [`HostSink::frame`]. Not
    /// called when the host detached the connection itself (dropped its
    /// [`Connection`](crate::Connection)).
    fn close(&self, connection: ConnectionId, reason: &CloseReason);
}

enum Delivery {
    Frame(SmallVec<[ConnectionId; 8]>, Arc<OutboundEvent>),
    Close(ConnectionId, CloseReason),
}

#[derive(Default)]
struct Pending {
    queue: VecDeque<Delivery>,
    /// The delivery thread is inside the sink.
    in_flight: bool,
    stopped: bool,
    thread: Option<(ThreadId, JoinHandle<()>)>,
}

struct Shared {
    sink: Box<dyn HostSink>,
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn deliver(&self, delivery: &Delivery) {
        match delivery {
            Delivery::Frame(recipients, event) => self.sink.frame(recipients, event),
            Delivery::Close(connection, reason) => self.sink.close(*connection, reason),
        }
    }

    fn run(&self) {
        loop {
            let delivery = {
                let mut pending = self.pending.lock();
                pending.in_flight = false;
                loop {
                    if pending.stopped {
                        return;
                    }
                    if let Some(delivery) = pending.queue.pop_front() {
                        pending.in_flight = true;
                        break delivery;
                    }
                    self.wake.wait(&mut pending);
                }
            };
            self.deliver(&delivery);
        }
    }
}

/// A host sink with the delivery contract of this module: what the hub holds.
pub struct HostDelivery {
    shared: Arc<Shared>,
}

impl HostDelivery {
    /// Wraps the host's `sink`.
    pub(crate) fn new(sink: Box<dyn HostSink>) -> Self {
        Self {
            shared: Arc::new(Shared {
                sink,
                pending: Mutex::new(Pending::default()),
                wake: Condvar::new(),
            }),
        }
    }

    /// Hands one delivery to the sink on this thread now, or queues it behind earlier
    /// ones (see the module docs for the rule).
    fn dispatch(&self, delivery: Delivery) {
        {
            let mut pending = self.shared.pending.lock();
            if pending.stopped {
                return;
            }
            if on_library_thread() || pending.in_flight || !pending.queue.is_empty() {
                pending.queue.push_back(delivery);
                if pending.thread.is_none() {
                    pending.thread = self.spawn();
                }
                drop(pending);
                self.shared.wake.notify_one();
                return;
            }
        }
        self.shared.deliver(&delivery);
    }

    fn spawn(&self) -> Option<(ThreadId, JoinHandle<()>)> {
        let shared = Arc::clone(&self.shared);
        let spawned = spawn_library_thread("mcrt-host-delivery".to_owned(), move || {
            shared.run();
        });
        match spawned {
            Ok(handle) => Some((handle.thread().id(), handle)),
            Err(error) => {
                tracing::error!(%error, "the host delivery thread did not start");
                None
            }
        }
    }

    /// Stops delivering: frames still queued are dropped (their sockets are going away
    /// with the hub) and no sink method is called after this returns, except by a call
    /// already running on the delivery thread when `wait` is false. With `wait`, waits
    /// for that call (unless this runs on the delivery thread itself); without it, the
    /// delivery thread ends on its own once that call returns.
    pub(crate) fn stop(&self, wait: bool) {
        let thread = {
            let mut pending = self.shared.pending.lock();
            pending.stopped = true;
            pending.queue.clear();
            let idle = !pending.in_flight;
            match pending.thread.take() {
                Some((id, handle)) if (wait || idle) && id != std::thread::current().id() => {
                    Some(handle)
                }
                _ => None,
            }
        };
        self.shared.wake.notify_all();
        if let Some(handle) = thread {
            let _ = handle.join();
        }
    }
}

impl Drop for HostDelivery {
    fn drop(&mut self) {
        // Never waits for a sink call in progress: the last hub may be dropped by a
        // thread the host's callback is waiting for (Python's GIL).
        self.stop(false);
    }
}

impl HostSink for HostDelivery {
    fn frame(&self, recipients: &[ConnectionId], event: &Arc<OutboundEvent>) {
        self.dispatch(Delivery::Frame(
            recipients.iter().copied().collect(),
            Arc::clone(event),
        ));
    }

    fn close(&self, connection: ConnectionId, reason: &CloseReason) {
        self.dispatch(Delivery::Close(connection, reason.clone()));
    }
}
