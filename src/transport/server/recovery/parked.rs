//! The table of parked attachments: parking a connection whose transport was lost,
//! handing it to a client that resumes here, surrendering it to another node, and
//! expiry. Must not write to sockets nor decide who receives an event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::outbound::OutboundEvent;
use crate::protocol::WireFormat;

use super::super::Shared;
use super::{Attachment, Refusal, Resumed};

/// Parked attachments by pid, oldest first.
#[derive(Default)]
pub(crate) struct Parked {
    map: Mutex<IndexMap<String, (Arc<Attachment>, Instant)>>,
}

impl Parked {
    /// Parks `attachment` if recovery is on and it may be; otherwise it is dropped
    /// (detached) by the caller's last reference.
    pub(crate) fn park(&self, shared: &Shared, attachment: Arc<Attachment>) {
        let Some(config) = shared.config.recovery else {
            return;
        };
        if *shared.shutdown.borrow() || !attachment.parkable() {
            return;
        }
        attachment.connection.queue().set_parked(true);
        let now = Instant::now();
        let mut dropped = Vec::new();
        {
            let mut map = self.map.lock();
            map.insert(attachment.pid.clone(), (attachment, now));
            while map.len() > config.max_parked.max(1) {
                if let Some((_, entry)) = map.shift_remove_index(0) {
                    dropped.push(entry);
                }
            }
            Self::expired(&mut map, now, config.window, &mut dropped);
        }
        // Dropped after the lock: a detach takes hub locks.
        drop(dropped);
    }

    /// Takes the parked attachment `pid` over for a client that saw every event up to
    /// `offset`, on transport `carrier` speaking `format` and woken through `notify`.
    pub(crate) fn resume(
        &self,
        shared: &Shared,
        pid: &str,
        offset: u64,
        format: WireFormat,
        carrier: u64,
        notify: &Arc<Notify>,
    ) -> Result<Resumed, Refusal> {
        let attachment = self.take(shared, pid, format)?;
        let queue = attachment.connection.queue();
        let replay = {
            let mut tail = attachment.tail.lock();
            let replay = tail.after(offset).ok_or(Refusal::TooOld)?;
            tail.carrier = carrier;
            replay
        };
        attachment.retarget(notify);
        queue.set_parked(false);
        // Frames parked meanwhile are waiting: wake the new transport for them.
        notify.notify_one();
        Ok(Resumed { attachment, replay })
    }

    /// Gives parked attachment `pid` up to another node, for a client that saw every
    /// event up to `offset`: the frames it missed (tail after `offset`, then the queue),
    /// drained under the tail's lock with the carrier cleared, so no transport drains
    /// it afterwards. The caller detaches the attachment by dropping it.
    pub(crate) fn surrender(
        &self,
        shared: &Shared,
        pid: &str,
        offset: u64,
    ) -> Result<(Arc<Attachment>, Vec<Arc<OutboundEvent>>), Refusal> {
        let attachment = self.take(shared, pid, WireFormat::SocketIo)?;
        let queue = attachment.connection.queue();
        let mut frames = {
            let mut tail = attachment.tail.lock();
            let frames = tail.after(offset).ok_or(Refusal::TooOld)?;
            tail.carrier = 0;
            frames
        };
        frames.extend(queue.drain().frames);
        Ok((attachment, frames))
    }

    /// Removes parked attachment `pid` for a client speaking `format`, if it is still
    /// within the window and open. A refused attachment is dropped (detached) here.
    fn take(
        &self,
        shared: &Shared,
        pid: &str,
        format: WireFormat,
    ) -> Result<Arc<Attachment>, Refusal> {
        let config = shared.config.recovery.ok_or(Refusal::Disabled)?;
        let (attachment, parked_at) = self
            .map
            .lock()
            .shift_remove(pid)
            .ok_or(Refusal::UnknownPid)?;
        if parked_at.elapsed() > config.window {
            return Err(Refusal::UnknownPid);
        }
        if attachment.connection.queue().format() != format {
            return Err(Refusal::WrongProtocol);
        }
        if !attachment.parkable() {
            return Err(Refusal::Closed);
        }
        Ok(attachment)
    }

    /// Drops every attachment parked longer than the window.
    pub(crate) fn sweep(&self, window: Duration) {
        let mut dropped = Vec::new();
        Self::expired(&mut self.map.lock(), Instant::now(), window, &mut dropped);
        drop(dropped);
    }

    /// Drops every parked connection (shutdown).
    pub(crate) fn clear(&self) {
        let dropped: Vec<_> = self.map.lock().drain(..).collect();
        drop(dropped);
    }

    /// Parked connections right now.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }

    fn expired(
        map: &mut IndexMap<String, (Arc<Attachment>, Instant)>,
        now: Instant,
        window: Duration,
        dropped: &mut Vec<(Arc<Attachment>, Instant)>,
    ) {
        while let Some((_, (_, at))) = map.first() {
            if now.duration_since(*at) <= window {
                break;
            }
            if let Some((_, entry)) = map.shift_remove_index(0) {
                dropped.push(entry);
            }
        }
    }
}

/// The hub's callback that surrenders this server's parked connections to another node
/// (weak, so the hub never keeps a stopped server alive).
pub(crate) fn surrender_to_cluster(shared: &Arc<Shared>) -> Box<crate::hub::SurrenderFn> {
    let shared = Arc::downgrade(shared);
    Box::new(move |pid, offset| {
        let shared = shared.upgrade().ok_or(Refusal::Disabled.code())?;
        let mut surrendered = shared.parked.surrender(&shared, pid, offset);
        // Its session here may still look live (a half-open TCP connection until the
        // ping timeout): end it as a lost transport, which parks it, as a client that
        // comes back to this node would.
        if surrendered.as_ref().err() == Some(&Refusal::UnknownPid)
            && super::super::namespace::end_live(&shared, pid, None)
        {
            surrendered = shared.parked.surrender(&shared, pid, offset);
        }
        let (attachment, frames) = surrendered.map_err(Refusal::code)?;
        Ok(crate::hub::Surrendered {
            connection: attachment.connection.id(),
            frames,
            hold: Box::new(attachment),
        })
    })
}
