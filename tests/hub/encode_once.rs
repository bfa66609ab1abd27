//! Encode once (DESIGN §3, §8): an event is serialized once per wire format, and every
//! recipient gets the same frame and the same bytes.

use std::sync::Arc;

use crate::support::*;
use microcoaster_realtime::{EmitOutcome, InProcessConnection, OutboundEvent, WireFormat};
use serde_json::{Value, json};

const ADMINS: usize = 50;

fn admins(hub: &microcoaster_realtime::Hub) -> Vec<InProcessConnection> {
    (0..ADMINS)
        .map(|n| connect_as(hub, &format!("admin-{n}"), "admin", "admin"))
        .collect()
}

fn one_frame_each(connections: &mut [InProcessConnection]) -> Vec<Arc<OutboundEvent>> {
    connections
        .iter_mut()
        .map(|connection| {
            let frame = next_frame(connection);
            assert_no_frame_queued(connection);
            frame
        })
        .collect()
}

#[test]
fn one_event_to_fifty_admins_is_encoded_once() {
    let hub = builder().build().unwrap();
    let mut admins = admins(&hub);
    let before = hub.metrics().frames_encoded;

    assert_eq!(
        hub.emit_admin_action(1, "user_promoted", &json!({"userId": 9})),
        Ok(EmitOutcome::Delivered {
            connections: ADMINS
        })
    );
    let frames = one_frame_each(&mut admins);
    assert_eq!(hub.metrics().frames_encoded, before, "encoding is lazy");
    let encoded: Vec<_> = frames
        .iter()
        .map(|frame| frame.encoded(WireFormat::Native).clone())
        .collect();
    assert_eq!(hub.metrics().frames_encoded, before + 1);

    for (frame, bytes) in frames.iter().zip(&encoded) {
        assert!(Arc::ptr_eq(frame, &frames[0]), "one shared frame");
        assert_eq!(bytes.as_ptr(), encoded[0].as_ptr(), "one shared buffer");
        assert_eq!(bytes.len(), encoded[0].len());
    }
    let wire: Value = serde_json::from_slice(&encoded[0]).unwrap();
    assert_eq!(wire["event"], "admin:action");
    assert_eq!(wire["data"]["action"], "user_promoted");
    assert_eq!(wire["data"]["adminId"], "1");
    // Asking again, from any recipient, does not encode again.
    assert_eq!(
        InProcessConnection::encoded(&frames[ADMINS - 1]).as_ptr(),
        encoded[0].as_ptr()
    );
    assert_eq!(hub.metrics().frames_encoded, before + 1);
}

#[test]
fn native_and_socketio_formats_are_each_encoded_once() {
    let hub = builder().build().unwrap();
    let mut admins = admins(&hub);
    let before = hub.metrics().frames_encoded;
    hub.emit_stats_update_with(&json!({"users": 2, "modules": 5}))
        .unwrap();
    let frames = one_frame_each(&mut admins);

    let mut native_ptrs = Vec::new();
    let mut socketio_ptrs = Vec::new();
    for frame in &frames {
        native_ptrs.push(frame.encoded(WireFormat::Native).as_ptr());
        socketio_ptrs.push(frame.encoded(WireFormat::SocketIo).as_ptr());
    }
    assert_eq!(hub.metrics().frames_encoded, before + 2);
    assert!(native_ptrs.iter().all(|p| *p == native_ptrs[0]));
    assert!(socketio_ptrs.iter().all(|p| *p == socketio_ptrs[0]));
    assert_ne!(native_ptrs[0], socketio_ptrs[0]);

    let socketio = frames[0].encoded(WireFormat::SocketIo);
    assert!(
        socketio.starts_with(br#"42["admin:stats:updated",{"#),
        "{socketio:?}"
    );
    let packet: Value = serde_json::from_slice(&socketio[2..]).unwrap();
    assert_eq!(packet[1]["stats"], json!({"users": 2, "modules": 5}));
    let native: Value = serde_json::from_slice(frames[0].encoded(WireFormat::Native)).unwrap();
    assert_eq!(native["data"], packet[1]);
    assert_eq!(hub.metrics().frames_encoded, before + 2);
}

#[test]
fn owner_tabs_and_admins_share_one_frame_for_a_module_event() {
    let hub = builder().build().unwrap();
    let mut recipients = vec![
        connect_as(&hub, "o", "user", "modules"),
        connect_as(&hub, "o", "user", "modules"),
        connect_as(&hub, "o", "user", "dashboard"),
        connect_as(&hub, "a", "admin", "admin"),
        connect_as(&hub, "b", "admin", "admin"),
    ];
    let before = hub.metrics().frames_encoded;
    assert_eq!(
        hub.emit_module_online("MC-1", &json!({"userId": "o", "type": "Station"})),
        Ok(EmitOutcome::Delivered { connections: 5 })
    );
    let frames = one_frame_each(&mut recipients);
    for frame in &frames {
        assert_eq!(frame.name(), "module:status:changed");
        assert!(Arc::ptr_eq(frame, &frames[0]));
        assert_eq!(
            frame.encoded(WireFormat::Native).as_ptr(),
            frames[0].encoded(WireFormat::Native).as_ptr()
        );
    }
    assert_eq!(hub.metrics().frames_encoded, before + 1);
}

#[test]
fn each_event_is_encoded_once_however_many_recipients() {
    let hub = builder().build().unwrap();
    let mut admins = admins(&hub);
    let before = hub.metrics().frames_encoded;
    for n in 0..10 {
        hub.emit_to_admins("ops:tick", &json!({"n": n})).unwrap();
    }
    for admin in &mut admins {
        for n in 0..10 {
            let frame = next_frame(admin);
            assert_eq!(frame.payload()["n"], n);
            frame.encoded(WireFormat::Native);
        }
    }
    assert_eq!(hub.metrics().frames_encoded, before + 10);
}
