//! Unit tests of the queue's conflation, bound, close and wake-up rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use serde_json::json;

use super::super::{CloseReason, OutboundEvent, Wake};
use super::{OutboundQueue, Pushed, QueueBounds, State, frame_cost};
use crate::ids::{ConnectionId, ModuleId};
use crate::metrics::{Metrics, SlowConsumerReason};
use crate::protocol::WireFormat;

struct CountWakes(Arc<AtomicUsize>);
impl Wake for CountWakes {
    fn wake(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn queue(capacity: usize) -> (OutboundQueue, Arc<AtomicUsize>) {
    bounded(capacity, usize::MAX)
}

fn bounded(frames: usize, bytes: usize) -> (OutboundQueue, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    let q = OutboundQueue::new(
        ConnectionId(1),
        WireFormat::Native,
        QueueBounds { frames, bytes },
        Box::new(CountWakes(wakes.clone())),
    );
    (q, wakes)
}

fn telemetry(module: &str, value: i64) -> Arc<OutboundEvent> {
    OutboundEvent::new(
        "module:telemetry:updated".into(),
        json!({"moduleId": module, "telemetry": value}),
        Some(ModuleId::new(module).unwrap()),
        Arc::new(Metrics::default()),
    )
}

fn plain(n: i64) -> Arc<OutboundEvent> {
    OutboundEvent::new("x".into(), json!(n), None, Arc::new(Metrics::default()))
}

#[test]
fn lock_state_and_condvar_share_one_cache_line() {
    assert_eq!(std::mem::align_of::<OutboundQueue>(), 64);
    assert!(
        std::mem::size_of::<Mutex<State>>() + std::mem::size_of::<Condvar>() <= 64,
        "the hot state no longer fits in the queue's first cache line"
    );
}

#[test]
fn telemetry_for_same_module_is_conflated() {
    let (q, _) = queue(8);
    assert_eq!(q.push(&plain(0)), Pushed::Queued);
    assert_eq!(q.push(&telemetry("a", 1)), Pushed::Queued);
    assert_eq!(q.push(&telemetry("b", 1)), Pushed::Queued);
    assert_eq!(q.push(&telemetry("a", 2)), Pushed::Conflated);
    assert_eq!(q.push(&telemetry("a", 3)), Pushed::Conflated);
    let payloads: Vec<_> = q
        .drain()
        .frames
        .iter()
        .map(|f| f.payload().clone())
        .collect();
    assert_eq!(
        payloads,
        vec![
            json!(0),
            json!({"moduleId": "a", "telemetry": 3}),
            json!({"moduleId": "b", "telemetry": 1})
        ]
    );
    // After a drain the slot is gone: the next telemetry is queued anew.
    assert_eq!(q.push(&telemetry("a", 4)), Pushed::Queued);
    assert_eq!(q.push(&plain(1)), Pushed::Queued);
    assert_eq!(q.push(&telemetry("a", 5)), Pushed::Conflated);
    assert_eq!(q.drain().frames[0].payload()["telemetry"], json!(5));
}

#[test]
fn a_parked_queue_keeps_every_telemetry_frame() {
    let (q, _) = queue(4);
    q.set_parked(true);
    assert_eq!(q.push(&telemetry("a", 1)), Pushed::Queued);
    assert_eq!(q.push(&telemetry("a", 2)), Pushed::Queued);
    q.set_parked(false);
    assert_eq!(q.push(&telemetry("b", 1)), Pushed::Queued);
    assert_eq!(q.push(&telemetry("b", 2)), Pushed::Conflated);
    let values: Vec<_> = q
        .drain()
        .frames
        .iter()
        .map(|f| f.payload()["telemetry"].clone())
        .collect();
    assert_eq!(values, [json!(1), json!(2), json!(2)]);
}

#[test]
fn overflow_closes_and_drops_the_queue() {
    let (q, wakes) = queue(4);
    for n in 1..=4 {
        assert_eq!(q.push(&plain(n)), Pushed::Queued);
    }
    assert_eq!(
        q.push(&plain(5)),
        Pushed::Overflowed(SlowConsumerReason::Frames)
    );
    assert_eq!(q.push(&plain(6)), Pushed::Closed);
    let drained = q.drain();
    assert!(drained.frames.is_empty());
    assert_eq!(drained.closed, Some(CloseReason::SlowConsumer));
    assert_eq!(
        wakes.load(Ordering::SeqCst),
        2,
        "one wake for data, one for the close"
    );
}

#[test]
fn telemetry_at_the_bound_conflates_instead_of_overflowing() {
    let (q, _) = queue(4);
    q.push(&telemetry("a", 1));
    q.push(&plain(1));
    q.push(&plain(2));
    q.push(&plain(3));
    assert_eq!(q.push(&telemetry("a", 2)), Pushed::Conflated);
    assert_eq!(
        q.push(&telemetry("b", 1)),
        Pushed::Overflowed(SlowConsumerReason::Frames)
    );
}

#[test]
fn logout_close_keeps_queued_frames() {
    let (q, _) = queue(4);
    q.push(&plain(1));
    assert!(q.close(CloseReason::LoggedOut));
    assert!(!q.close(CloseReason::Shutdown));
    let drained = q.drain();
    assert_eq!(drained.frames.len(), 1);
    assert_eq!(drained.closed, Some(CloseReason::LoggedOut));
}

#[test]
fn local_reader_is_woken_by_a_push_and_by_a_close() {
    let bounds = QueueBounds {
        frames: 8,
        bytes: 1,
    };
    let q = Arc::new(OutboundQueue::new_local(
        ConnectionId(1),
        WireFormat::Native,
        bounds,
    ));
    let far = Instant::now() + std::time::Duration::from_secs(60);
    // Nothing queued: a wait that has already expired returns empty at once.
    let drained = q.wait_until(Some(Instant::now()));
    assert!(drained.frames.is_empty() && drained.closed.is_none());

    let reader = std::thread::spawn({
        let q = Arc::clone(&q);
        move || (q.wait_until(Some(far)), q.wait_until(None))
    });
    std::thread::sleep(std::time::Duration::from_millis(20));
    q.push(&plain(1));
    // Let the reader take the frame first, so that the close wakes it separately.
    while !q.is_empty() {
        std::thread::yield_now();
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(q.close(CloseReason::Shutdown));
    let (first, second) = reader.join().unwrap();
    assert!(Instant::now() < far, "the reader was not woken");
    assert_eq!(first.frames.len(), 1);
    assert_eq!(first.frames[0].payload(), &json!(1));
    assert!(second.frames.is_empty());
    assert_eq!(second.closed, Some(CloseReason::Shutdown));
}

#[test]
fn wakes_only_on_empty_to_non_empty() {
    let (q, wakes) = queue(8);
    q.push(&plain(1));
    q.push(&plain(2));
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    q.drain();
    q.push(&plain(3));
    assert_eq!(wakes.load(Ordering::SeqCst), 2);
}

#[test]
fn the_byte_bound_counts_what_waits() {
    let cost = frame_cost(&plain(1), WireFormat::Native) as usize;
    // Room for exactly three frames of this size; the frame bound is far away.
    let (q, _) = bounded(1_000_000, 3 * cost);
    for n in 1..=3 {
        assert_eq!(q.push(&plain(n)), Pushed::Queued);
    }
    // A reader that drains gets the room back: a burst is judged by what waits.
    assert_eq!(q.drain().frames.len(), 3);
    for round in 0..1_000 {
        assert_eq!(q.push(&plain(round % 10)), Pushed::Queued, "round {round}");
        q.drain_each(drop);
    }
    for n in 1..=3 {
        assert_eq!(q.push(&plain(n)), Pushed::Queued);
    }
    assert_eq!(
        q.push(&plain(4)),
        Pushed::Overflowed(SlowConsumerReason::Bytes)
    );
    assert_eq!(q.closed(), Some(CloseReason::SlowConsumer));
}

#[test]
fn conflated_telemetry_is_charged_once() {
    let cost = frame_cost(&telemetry("a", 1), WireFormat::Native) as usize;
    let (q, _) = bounded(1_000_000, 2 * cost);
    assert_eq!(q.push(&telemetry("a", 1)), Pushed::Queued);
    for value in 2..100 {
        assert_eq!(q.push(&telemetry("a", value % 10)), Pushed::Conflated);
    }
    assert_eq!(q.push(&telemetry("b", 1)), Pushed::Queued);
    assert_eq!(
        q.push(&telemetry("c", 1)),
        Pushed::Overflowed(SlowConsumerReason::Bytes)
    );
}

#[test]
fn an_in_process_queue_is_bounded_by_frames_only() {
    let bounds = QueueBounds {
        frames: 5,
        bytes: 1,
    };
    let q = OutboundQueue::new_local(ConnectionId(1), WireFormat::Native, bounds);
    for n in 0..5 {
        assert_eq!(q.push(&plain(n)), Pushed::Queued);
    }
    assert_eq!(
        q.push(&plain(5)),
        Pushed::Overflowed(SlowConsumerReason::Frames)
    );
}
