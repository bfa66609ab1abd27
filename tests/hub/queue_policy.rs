//! The outbound queue policy (DESIGN §3): a slow consumer never slows the others;
//! telemetry for one module is conflated (latest wins); past the bound the slow
//! connection alone is closed, with a reason, and counted.

use std::time::{Duration, Instant};

use crate::support::*;
use microcoaster_realtime::{CloseReason, EmitOutcome, Received};
use serde_json::json;

/// Far more than any emit here takes; an emit that waited for a reader would exceed it.
const PROMPT: Duration = Duration::from_secs(2);

#[test]
fn slow_connection_never_delays_the_others() {
    let hub = builder().queue_capacity(64).build().unwrap();
    let mut slow = connect_as(&hub, "slow", "admin", "admin");
    let mut readers = [
        ("r1", connect_as(&hub, "r1", "admin", "admin")),
        ("r2", connect_as(&hub, "r2", "admin", "admin")),
    ];
    let started = Instant::now();
    for n in 0..1000 {
        let emit_started = Instant::now();
        let outcome = hub.emit_to_admins("ops:tick", &json!({"n": n})).unwrap();
        assert!(
            emit_started.elapsed() < PROMPT,
            "emit {n} took {:?}",
            emit_started.elapsed()
        );
        // The slow one holds 64 frames, then is closed; it is never waited for.
        let reached = if n < 64 { 3 } else { 2 };
        assert_eq!(
            outcome,
            EmitOutcome::Delivered {
                connections: reached
            },
            "emit {n}"
        );
        for (_, reader) in &mut readers {
            let frame = next_frame(reader);
            assert_eq!(frame.name(), "ops:tick");
            assert_eq!(frame.payload()["n"], n);
        }
    }
    assert!(started.elapsed() < PROMPT * 5, "{:?}", started.elapsed());
    for (user, reader) in &mut readers {
        expect_sentinel(&hub, reader, user);
    }
    assert!(matches!(
        slow.drain_now().as_slice(),
        [Received::Closed(CloseReason::SlowConsumer)]
    ));
}

#[test]
fn slow_connection_within_its_bound_keeps_every_frame_in_order() {
    let hub = builder().queue_capacity(100).build().unwrap();
    let mut slow = connect_as(&hub, "u", "user", "modules");
    let mut reader = connect_as(&hub, "u", "user", "modules");
    for n in 0..100 {
        assert_eq!(
            hub.emit_to_user("u", "note:n", &json!({"n": n})),
            Ok(EmitOutcome::Delivered { connections: 2 })
        );
        assert_eq!(next_frame(&mut reader).payload()["n"], n);
    }
    let queued = slow.drain_now();
    assert_eq!(queued.len(), 100);
    for (n, received) in queued.iter().enumerate() {
        assert_eq!(received.frame().expect("a frame").payload()["n"], n);
    }
    assert_eq!(hub.metrics().slow_consumer_closes.total(), 0);
    expect_sentinel(&hub, &mut slow, "u");
}

#[test]
fn overflow_closes_only_the_slow_connection() {
    let hub = builder().queue_capacity(4).build().unwrap();
    // Two tabs of the same user: one reads, one never does. Plus another user and an
    // admin, both reading.
    let mut slow_tab = connect_as(&hub, "u", "user", "modules");
    let mut reading_tab = connect_as(&hub, "u", "user", "modules");
    let mut other = connect_as(&hub, "v", "user", "modules");
    let mut admin = connect_as(&hub, "a", "admin", "admin");

    for n in 0..4 {
        assert_eq!(
            hub.emit_to_user("u", "note:n", &json!({"n": n})),
            Ok(EmitOutcome::Delivered { connections: 2 })
        );
        assert_eq!(next_frame(&mut reading_tab).payload()["n"], n);
    }
    assert_eq!(hub.metrics().slow_consumer_closes.total(), 0);
    // The fifth frame does not fit: the slow tab is closed, the reading tab gets it.
    assert_eq!(
        hub.emit_to_user("u", "note:n", &json!({"n": 4})),
        Ok(EmitOutcome::Delivered { connections: 1 })
    );
    assert_eq!(next_frame(&mut reading_tab).payload()["n"], 4);
    assert_eq!(hub.metrics().slow_consumer_closes.frames, 1);
    let slow_received = slow_tab.drain_now();
    assert!(
        matches!(
            slow_received.as_slice(),
            [Received::Closed(CloseReason::SlowConsumer)]
        ),
        "{slow_received:?}"
    );
    assert_eq!(CloseReason::SlowConsumer.as_str(), "slow_consumer");

    // Later events reach everyone else; the closed tab is out of every audience.
    hub.emit_module_online("MC-1", &json!({"userId": "u"}))
        .unwrap();
    assert_eq!(next_frame(&mut reading_tab).name(), "module:status:changed");
    assert_eq!(next_frame(&mut admin).name(), "module:status:changed");
    assert_eq!(
        hub.emit_to_user("u", "note:n", &json!({"n": 5})),
        Ok(EmitOutcome::Delivered { connections: 1 })
    );
    assert_eq!(next_frame(&mut reading_tab).payload()["n"], 5);
    expect_sentinel(&hub, &mut other, "v");
    expect_sentinel(&hub, &mut admin, "a");
    assert!(slow_tab.try_recv().is_none(), "nothing after the close");
    assert_eq!(hub.metrics().slow_consumer_closes.frames, 1);
    assert_eq!(hub.metrics().connections.users, 2);
}

#[test]
fn telemetry_for_one_module_is_conflated_for_a_reader_that_does_not_read() {
    let hub = builder().queue_capacity(4).build().unwrap();
    let mut idle = connect_as(&hub, "u", "user", "modules");
    let mut reader = connect_as(&hub, "u", "user", "dashboard");
    hub.emit_module_online("MC-1", &json!({"userId": "u"}))
        .unwrap();
    assert_eq!(next_frame(&mut idle).name(), "module:status:changed");
    assert_eq!(next_frame(&mut reader).name(), "module:status:changed");
    let conflated_before = hub.metrics().frames_conflated;

    for n in 0..1000 {
        assert_eq!(
            hub.emit_telemetry_update("MC-1", &json!({"speed": n})),
            Ok(EmitOutcome::Delivered { connections: 2 })
        );
        let frame = next_frame(&mut reader);
        assert_eq!(frame.payload()["telemetry"]["speed"], n);
    }

    let queued = idle.drain_now();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let latest = queued[0].frame().expect("a frame, not a close");
    assert_eq!(latest.name(), "module:telemetry:updated");
    assert_eq!(latest.payload()["moduleId"], "MC-1");
    assert_eq!(latest.payload()["telemetry"], json!({"speed": 999}));
    assert_eq!(hub.metrics().frames_conflated - conflated_before, 999);
    assert_eq!(hub.metrics().slow_consumer_closes.total(), 0);
    // Not closed: it still receives what comes next.
    expect_sentinel(&hub, &mut idle, "u");
}

#[test]
fn conflated_telemetry_keeps_its_place_and_modules_stay_separate() {
    let hub = builder().queue_capacity(8).build().unwrap();
    let mut idle = connect_as(&hub, "u", "user", "modules");
    for module in ["MC-1", "MC-2"] {
        hub.emit_module_online(module, &json!({"userId": "u"}))
            .unwrap();
    }
    hub.emit_telemetry_update("MC-1", &json!({"speed": 1}))
        .unwrap();
    hub.emit_to_user("u", "note:between", &json!({})).unwrap();
    hub.emit_telemetry_update("MC-2", &json!({"speed": 20}))
        .unwrap();
    hub.emit_telemetry_update("MC-1", &json!({"speed": 2}))
        .unwrap();
    hub.emit_telemetry_update("MC-2", &json!({"speed": 21}))
        .unwrap();

    let frames: Vec<_> = idle
        .drain_now()
        .iter()
        .map(|received| {
            let frame = received.frame().expect("a frame");
            (
                frame.name().to_owned(),
                frame.payload().get("moduleId").cloned(),
                frame.payload().get("telemetry").cloned(),
            )
        })
        .collect();
    let telemetry = |module: &str, speed: i64| {
        (
            "module:telemetry:updated".to_owned(),
            Some(json!(module)),
            Some(json!({"speed": speed})),
        )
    };
    let status = |module: &str| {
        (
            "module:status:changed".to_owned(),
            Some(json!(module)),
            None,
        )
    };
    assert_eq!(
        frames,
        [
            status("MC-1"),
            status("MC-2"),
            telemetry("MC-1", 2),
            ("note:between".to_owned(), None, None),
            telemetry("MC-2", 21),
        ]
    );
    // Once drained, the next telemetry is queued anew, behind what comes before it.
    hub.emit_to_user("u", "note:after", &json!({})).unwrap();
    hub.emit_telemetry_update("MC-1", &json!({"speed": 3}))
        .unwrap();
    assert_eq!(names(&mut idle), ["note:after", "module:telemetry:updated"]);
}

#[test]
fn telemetry_alone_never_overflows_but_other_events_still_count() {
    let hub = builder().queue_capacity(3).build().unwrap();
    let mut idle = connect_as(&hub, "u", "user", "modules");
    for module in ["MC-1", "MC-2"] {
        hub.emit_module_online(module, &json!({"userId": "u"}))
            .unwrap();
    }
    assert_eq!(names(&mut idle).len(), 2);
    // Two modules' telemetry takes two slots however many updates arrive.
    for n in 0..100 {
        hub.emit_telemetry_update("MC-1", &json!({"n": n})).unwrap();
        hub.emit_telemetry_update("MC-2", &json!({"n": n})).unwrap();
    }
    hub.emit_to_user("u", "note:third", &json!({})).unwrap();
    assert_eq!(hub.metrics().slow_consumer_closes.total(), 0);
    // A fourth slot is needed now: the bound applies.
    hub.emit_to_user("u", "note:fourth", &json!({})).unwrap();
    assert_eq!(hub.metrics().slow_consumer_closes.frames, 1);
    assert!(matches!(
        idle.drain_now().as_slice(),
        [Received::Closed(CloseReason::SlowConsumer)]
    ));
}
