//! Unit tests of the broker message format: round trips, versions, malformed input.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::{Envelope, Message, WIRE_VERSION};
use crate::call::{HostCall, Step, Telemetry};
use crate::event::{Audience, Event};
use crate::ids::{ModuleId, SessionId, UserId};

fn telemetry_call() -> HostCall<'static> {
    HostCall::TelemetryUpdate(Telemetry {
        module_id: Cow::Borrowed("m1"),
        telemetry: Cow::Owned(json!({"speed": 3})),
    })
}

/// One step of each kind (events to a user, a session and admins; a session's end).
fn one_step_of_each_kind() -> Vec<Step> {
    let mut telemetry = Event::new(
        "module:telemetry:updated",
        json!({"moduleId": "m1", "telemetry": {"speed": 3}}),
        Audience::User {
            user: UserId::new("u1").unwrap(),
            // Set, so a field the decoder would not find fails the comparison.
            except_session: Some(SessionId::new("s2").unwrap()),
        },
    );
    telemetry.conflation_key = Some(ModuleId::new("m1").unwrap());
    let ended = Event::new(
        "user:session:ended",
        json!({}),
        Audience::Session {
            user: UserId::new("u1").unwrap(),
            session: SessionId::new("s1").unwrap(),
        },
    );
    vec![
        Step::Event(telemetry),
        Step::Event(ended),
        Step::EndSession {
            user: UserId::new("u1").unwrap(),
            session: SessionId::new("s1").unwrap(),
        },
        Step::Event(Event::new("x", json!(1), Audience::Admins)),
    ]
}

#[test]
fn every_step_survives_encoding() {
    let steps = one_step_of_each_kind();
    let envelope = Envelope {
        origin: "n1".into(),
        message: Message::Emit {
            call: telemetry_call(),
            steps: steps.clone(),
        },
        claim: Some(("module:m1:telemetry".into(), 7)),
        history: None,
    };
    let back = Envelope::decode(&envelope.encode()).unwrap();
    assert_eq!(back.origin, "n1");
    assert_eq!(back.claim, Some(("module:m1:telemetry".into(), 7)));
    let Message::Emit { call, steps: back } = back.message else {
        panic!("not an emit");
    };
    assert_eq!(call, telemetry_call());
    assert_eq!(back.len(), 4);
    for (back, sent) in back.iter().zip(&steps) {
        match (back, sent) {
            (Step::Event(back), Step::Event(sent)) => {
                assert_eq!(back.name, sent.name);
                assert_eq!(back.payload, sent.payload);
                assert_eq!(back.audience, sent.audience);
                assert_eq!(back.conflation_key, sent.conflation_key);
            }
            (
                Step::EndSession { user, session },
                Step::EndSession {
                    user: u,
                    session: s,
                },
            ) => assert_eq!((user, session), (u, s)),
            _ => panic!("steps out of order"),
        }
    }
}

#[test]
fn another_version_is_refused_by_name() {
    let envelope = Envelope {
        origin: "n1".into(),
        message: Message::RecoveryRequest(json!({"request": "r", "pid": "p", "offset": 1})),
        claim: None,
        history: None,
    };
    let mut value: Value = serde_json::from_slice(&envelope.encode()).unwrap();
    assert!(Envelope::decode(&serde_json::to_vec(&value).unwrap()).is_ok());
    value["v"] = json!(WIRE_VERSION + 1);
    let newer = Envelope::decode(&serde_json::to_vec(&value).unwrap()).unwrap_err();
    assert!(newer.to_string().contains("version 4"), "{newer}");
    // What a node of the previous release published: a call name and its detail.
    let older = br#"{"origin":"n","call":"telemetry_update","args":{},"events":[]}"#;
    let older = Envelope::decode(older).unwrap_err().to_string();
    assert!(
        older.contains("version 1") && older.contains("version 3"),
        "{older}"
    );
}

#[test]
fn malformed_messages_are_typed_errors() {
    for bad in [
        &b"\xff"[..],
        b"[]",
        b"{}",
        br#"{"v":3,"origin":"n","kind":"emit","body":{"call":"nope"},"steps":[]}"#,
        br#"{"v":3,"origin":"n","kind":"emit","body":{"call":"to_admins","args":{"event":"x"}},"steps":[1]}"#,
        br#"{"v":3,"origin":"n","kind":"recovery_request","body":{"request":"r"}}"#,
        br#"{"v":3,"origin":"n","kind":"gossip","body":{}}"#,
        br#"{"v":3,"origin":"n","kind":"alerts","body":{}}"#,
        // Only alerts for admins, each with an id, travel in an `alerts` message.
        br#"{"v":3,"origin":"n","kind":"alerts","body":[{"name":"user:module:added","payload":{"id":"x"},"audience":{"kind":"admins"}}]}"#,
        br#"{"v":3,"origin":"n","kind":"alerts","body":[{"name":"admin:alert","payload":{"id":"x"},"audience":{"kind":"everyone"}}]}"#,
        br#"{"v":3,"origin":"n","kind":"alerts","body":[{"name":"admin:alert","payload":{},"audience":{"kind":"admins"}}]}"#,
    ] {
        assert!(Envelope::decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn a_call_to_everyone_and_its_event_survive_encoding() {
    let call = HostCall::from_body(
        crate::call::CallName::ToEveryone,
        json!({"event": "park:closing", "data": {"in": 15, "timestamp": 7}}),
    )
    .unwrap();
    let step = Step::Event(Event::new(
        "park:closing",
        json!({"in": 15, "timestamp": 7}),
        Audience::Everyone,
    ));
    let envelope = Envelope {
        origin: "n1".into(),
        message: Message::Emit {
            call: call.clone(),
            steps: vec![step],
        },
        claim: None,
        history: None,
    };
    let encoded = envelope.encode();
    let text = String::from_utf8_lossy(&encoded).into_owned();
    assert!(text.contains(r#""call":"to_everyone""#), "{text}");
    let Message::Emit { call: back, steps } = Envelope::decode(&encoded).unwrap().message else {
        panic!("an emit");
    };
    assert_eq!(back, call);
    let [Step::Event(event)] = steps.as_slice() else {
        panic!("one event step: {steps:?}");
    };
    assert_eq!(event.audience, Audience::Everyone);
}

#[test]
fn recorded_steps_survive_the_history_form() {
    let claim = ("module:m1:telemetry".to_owned(), 9);
    for (i, step) in one_step_of_each_kind().into_iter().enumerate() {
        let recorded = crate::broker::Recorded {
            step: step.clone(),
            offset: Some(40 + i as u64),
        };
        let text = super::entry_json("n1", Some(&claim), i, &recorded);
        let entry = super::entry_from(77, &text).unwrap();
        assert_eq!(
            (entry.position, entry.origin.as_str(), entry.offset),
            (77, "n1", Some(40 + i as u64))
        );
        assert_eq!(entry.claim.as_ref(), Some(&claim));
        assert_eq!(entry.index, i as u64);
        assert_eq!(super::step_json(&entry.step), super::step_json(&step));
    }
    assert!(super::entry_from(1, "{\"origin\":1}").is_err());
    assert_eq!(
        super::stream_of(&Step::Event(Event::new("x", json!(1), Audience::Everyone))),
        "everyone"
    );
}

#[test]
fn alerts_survive_encoding_in_order() {
    let alert = |name: &str, id: &str| {
        Event::new(
            name,
            json!({"id": id, "kind": "slow_consumers", "node": "n1"}),
            Audience::Admins,
        )
    };
    let envelope = Envelope {
        origin: "n1".into(),
        message: Message::Alerts(vec![
            alert(crate::event::ADMIN_ALERT_CLEARED, "a@n1"),
            alert(crate::event::ADMIN_ALERT, "b@n1"),
        ]),
        claim: None,
        history: None,
    };
    let Message::Alerts(back) = Envelope::decode(&envelope.encode()).unwrap().message else {
        panic!("not alerts");
    };
    let names: Vec<&str> = back.iter().map(|event| &*event.name).collect();
    assert_eq!(names, ["admin:alert:cleared", "admin:alert"]);
    assert_eq!(back[1].payload["id"], "b@n1");
    assert_eq!(back[1].audience, Audience::Admins);
}

#[test]
fn a_node_recognises_its_own_messages_but_not_its_recovery_requests() {
    let emit = Envelope {
        origin: "a".into(),
        message: Message::Emit {
            call: telemetry_call(),
            steps: one_step_of_each_kind(),
        },
        claim: Some(("module:m1:telemetry".into(), 7)),
        history: None,
    };
    let bytes = emit.encode();
    assert!(Envelope::is_own(&bytes, "a"));
    assert!(!Envelope::is_own(&bytes, "b"));
    // As the history script publishes it: the position first.
    let mut recorded = b"{\"hseq\":3,".to_vec();
    recorded.extend_from_slice(&bytes[1..]);
    assert!(Envelope::is_own(&recorded, "a"));
    let request = Envelope {
        origin: "a".into(),
        message: Message::RecoveryRequest(json!({"request": "r1", "pid": "p", "offset": 0})),
        claim: None,
        history: None,
    };
    assert!(!Envelope::is_own(&request.encode(), "a"));
    assert!(!Envelope::is_own(b"not json", "a"));
}
