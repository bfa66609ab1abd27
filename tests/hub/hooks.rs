//! Plugin hooks (DESIGN §6): a panicking hook is counted and never stops the hub;
//! before-emit filters rewrite or drop events without undoing the state change; client
//! events carry the verified identity; the audit sink sees emits, authentications and
//! closes; an emit from inside a before-emit hook is refused, not a deadlock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::*;
use microcoaster_realtime::hooks::{AuditKind, AuditOutcome};
use microcoaster_realtime::{
    Audience, AuditRecord, AuthDecision, AuthError, AuthRequest, BadInputKind, ClientEvent,
    EmitOutcome, HandshakeContext, Hub, HubError, Identity, InboundError, Reply, Role, SessionId,
    UserId, Verdict,
};
use parking_lot::Mutex;
use serde_json::{Value, json};

#[test]
fn panicking_hooks_are_counted_and_the_hub_keeps_serving() {
    let forwarded = Arc::new(Mutex::new(Vec::<String>::new()));
    let forwarded_by_hook = Arc::clone(&forwarded);
    let hub = builder()
        .authenticator(|request: &AuthRequest, _: &HandshakeContext| {
            if request.raw.get("boom").is_some() {
                panic!("authenticator boom");
            }
            AuthDecision::Pass
        })
        .on_client_event(move |event: &ClientEvent| {
            if event.event == "test:boom" {
                panic!("client event boom");
            }
            forwarded_by_hook.lock().push(event.event.clone());
        })
        .stats_provider(|| -> Result<Value, String> { panic!("stats boom") })
        .before_emit(|name: &str, _: &Audience, _: &mut Value| {
            if name == "test:boom" {
                panic!("before-emit boom");
            }
            Verdict::Keep
        })
        .audit_sink(|record: &AuditRecord| {
            if record.action == "admin_action" {
                panic!("audit boom");
            }
        })
        .build()
        .unwrap();
    let mut watcher = connect_as(&hub, "w", "user", "modules");
    let mut admin = connect_as(&hub, "a", "admin", "admin");
    let mut sender = connect_as(&hub, "s", "user", "modules");
    let panics = || hub.metrics().hook_panics;
    assert_eq!(panics(), 0);

    // Authenticator: the attempt is refused, nothing else.
    let mut victim = hub.connect_in_process();
    assert_eq!(
        victim.authenticate(json!({"boom": true, "token": token("v", "admin", None)})),
        Err(InboundError::Auth(AuthError::HookFailed))
    );
    expect_auth_error(&mut victim, "authenticator_failed");
    assert_eq!(panics(), 1);
    expect_sentinel(&hub, &mut watcher, "w");
    victim
        .authenticate(json!({"token": token("v", "user", None)}))
        .unwrap();
    assert_eq!(names(&mut victim), ["auth:ok", "page:snapshot"]);

    // Client-event handler: the message is still answered; the next one is forwarded.
    assert_eq!(sender.send("test:boom", json!({})), Ok(Reply::default()));
    assert_eq!(panics(), 2);
    sender.send("test:fine", json!({})).unwrap();
    assert_eq!(*forwarded.lock(), ["test:fine"]);
    expect_sentinel(&hub, &mut sender, "s");

    // Stats provider: the emit fails with a typed error and sends nothing.
    assert!(matches!(
        hub.emit_stats_update(None),
        Err(HubError::StatsProvider(_))
    ));
    assert_eq!(panics(), 3);
    expect_sentinel(&hub, &mut admin, "a");

    // Before-emit: the event is dropped (fail closed); others still flow.
    assert_eq!(
        hub.emit_to_user("w", "test:boom", &json!({})),
        Ok(EmitOutcome::Delivered { connections: 0 })
    );
    assert_eq!(panics(), 4);
    expect_sentinel(&hub, &mut watcher, "w");

    // Audit sink: the emit was already delivered; the panic only costs the record.
    assert_eq!(
        hub.emit_admin_action("a", "reboot", &json!({})),
        Ok(EmitOutcome::Delivered { connections: 1 })
    );
    assert_eq!(panics(), 5);
    assert_eq!(next_frame(&mut admin).name(), "admin:action");

    // And the hub keeps serving everyone.
    assert_eq!(
        hub.emit_module_online("MC-1", &json!({"userId": "w"})),
        Ok(EmitOutcome::Delivered { connections: 2 })
    );
    assert_eq!(next_frame(&mut watcher).name(), "module:status:changed");
    assert_eq!(next_frame(&mut admin).name(), "module:status:changed");
    expect_sentinel(&hub, &mut sender, "s");
    expect_sentinel(&hub, &mut victim, "v");
    assert_eq!(panics(), 5);
}

#[test]
fn before_emit_rewrites_the_payload_every_recipient_gets() {
    let hub = builder()
        .before_emit(|name: &str, _: &Audience, payload: &mut Value| {
            if name == "module:status:changed" {
                payload["step"] = json!(1);
                payload.as_object_mut().unwrap().remove("name");
            }
            Verdict::Keep
        })
        .before_emit(|_: &str, _: &Audience, payload: &mut Value| {
            if payload["step"] == json!(1) {
                payload["step"] = json!(2);
            }
            Verdict::Keep
        })
        .build()
        .unwrap();
    let mut tabs = [
        connect_as(&hub, "o", "user", "modules"),
        connect_as(&hub, "o", "user", "dashboard"),
        connect_as(&hub, "a", "admin", "admin"),
    ];
    assert_eq!(
        hub.emit_module_online("MC-1", &json!({"userId": "o", "name": "Secret"})),
        Ok(EmitOutcome::Delivered { connections: 3 })
    );
    let frames: Vec<_> = tabs.iter_mut().map(next_frame).collect();
    for frame in &frames {
        assert_eq!(frame.name(), "module:status:changed");
        assert_eq!(frame.payload()["step"], 2, "filters ran in order");
        assert_eq!(frame.payload().get("name"), None);
        assert_eq!(frame.payload()["online"], true);
        assert!(Arc::ptr_eq(frame, &frames[0]));
    }
    // The stored state is not rewritten: a new tab's snapshot still has the name.
    let mut fresh = hub.connect_in_process();
    fresh
        .authenticate(json!({"token": token("o", "user", None)}))
        .unwrap();
    assert_eq!(next_frame(&mut fresh).name(), "auth:ok");
    let snapshot = next_frame(&mut fresh);
    assert_eq!(snapshot.payload()["modules"][0]["name"], "Secret");
}

#[test]
fn before_emit_drop_sends_nothing_but_the_state_change_stands() {
    let dropping = Arc::new(AtomicBool::new(true));
    let filter_flag = Arc::clone(&dropping);
    let hub = builder()
        .before_emit(move |name: &str, _: &Audience, _: &mut Value| {
            if filter_flag.load(Ordering::SeqCst) && name == "module:status:changed" {
                Verdict::Drop
            } else {
                Verdict::Keep
            }
        })
        .build()
        .unwrap();
    let mut owner = connect_as(&hub, "o", "user", "modules");
    let mut admin = connect_as(&hub, "a", "admin", "admin");

    assert_eq!(
        hub.emit_module_online("MC-1", &json!({"userId": "o"})),
        Ok(EmitOutcome::Delivered { connections: 0 })
    );
    assert_eq!(hub.metrics().events_dropped_by_hook, 1);
    expect_sentinel(&hub, &mut owner, "o");
    expect_sentinel(&hub, &mut admin, "a");

    // The module is online: the same emit is unchanged, and a new tab sees it online.
    assert_eq!(
        hub.emit_module_online("MC-1", &json!({"userId": "o"})),
        Ok(EmitOutcome::Unchanged)
    );
    assert_eq!(hub.metrics().events_dropped_by_hook, 1);
    let mut fresh = hub.connect_in_process();
    fresh
        .authenticate(json!({"token": token("o", "user", None)}))
        .unwrap();
    next_frame(&mut fresh);
    assert_eq!(
        next_frame(&mut fresh).payload()["modules"][0]["online"],
        true
    );

    dropping.store(false, Ordering::SeqCst);
    assert_eq!(
        hub.emit_module_offline("MC-1", &json!({})),
        Ok(EmitOutcome::Delivered { connections: 3 })
    );
    for tab in [&mut owner, &mut admin, &mut fresh] {
        let frame = next_frame(tab);
        assert_eq!(frame.name(), "module:status:changed");
        assert_eq!(frame.payload()["online"], false);
    }
}

#[test]
fn client_events_are_forwarded_with_the_verified_identity() {
    let seen = Arc::new(Mutex::new(Vec::<ClientEvent>::new()));
    let hub_slot: Arc<Mutex<Option<Hub>>> = Arc::new(Mutex::new(None));
    let (seen_by_hook, slot) = (Arc::clone(&seen), Arc::clone(&hub_slot));
    let hub = Hub::builder()
        .on_client_event(move |event: &ClientEvent| {
            seen_by_hook.lock().push(event.clone());
            // The handler runs with no lock held: it may answer with an emit.
            let hub = slot.lock().clone();
            if let Some(hub) = hub {
                hub.emit_to_user(&event.identity.user_id, "coaster:ack", &json!({}))
                    .expect("emit from the client-event handler");
            }
        })
        .build()
        .unwrap();
    *hub_slot.lock() = Some(hub.clone());
    hub.emit_user_logged_in(&json!({"id": 7, "userType": "user"}), "sess-7")
        .unwrap();
    let mut tab = hub.connect_in_process();
    tab.authenticate(
        json!({"userId": 7, "userType": "user", "sessionId": "sess-7", "page": "dashboard"}),
    )
    .unwrap();
    assert_eq!(names(&mut tab), ["auth:ok", "page:snapshot"]);

    let claims = json!({"userId": 1, "userType": "admin", "role": "admin", "speed": 3});
    assert_eq!(
        tab.send("coaster:launch", claims.clone()),
        Ok(Reply::default())
    );
    assert_eq!(next_frame(&mut tab).name(), "coaster:ack");
    tab.send("client:page", json!({"page": "modules"})).unwrap();
    assert_eq!(next_frame(&mut tab).name(), "page:snapshot");
    tab.send("coaster:stop", Value::Null).unwrap();
    assert_eq!(next_frame(&mut tab).name(), "coaster:ack");

    let verified = Identity::user(
        UserId::new("7").unwrap(),
        Role::User,
        Some(SessionId::new("sess-7").unwrap()),
    );
    let seen = seen.lock().clone();
    assert_eq!(seen.len(), 2, "client:page is the library's, not forwarded");
    assert_eq!(seen[0].connection, tab.id());
    assert_eq!(seen[0].identity, verified);
    assert_eq!(seen[0].page, "dashboard");
    assert_eq!(seen[0].event, "coaster:launch");
    assert_eq!(seen[0].data, claims);
    assert_eq!(seen[1].identity, verified);
    assert_eq!(seen[1].page, "modules");
    assert_eq!(seen[1].data, Value::Null);
    assert_eq!(hub.metrics().client_events_forwarded, 2);
    hub_slot.lock().take();
}

#[test]
fn client_events_without_a_handler_are_dropped_and_counted() {
    let hub = builder().build().unwrap();
    let mut tab = connect_as(&hub, "1", "user", "modules");
    assert_eq!(tab.send("coaster:launch", json!({})), Ok(Reply::default()));
    let metrics = hub.metrics();
    assert_eq!(metrics.client_events_dropped, 1);
    assert_eq!(metrics.client_events_forwarded, 0);
    expect_sentinel(&hub, &mut tab, "1");
}

#[test]
fn audit_sink_receives_emits_auth_attempts_and_slow_consumer_closes() {
    let records = Arc::new(Mutex::new(Vec::<AuditRecord>::new()));
    let sink_records = Arc::clone(&records);
    let hub = builder()
        .queue_capacity(2)
        .audit_sink(move |record: &AuditRecord| sink_records.lock().push(record.clone()))
        .build()
        .unwrap();
    let take = || std::mem::take(&mut *records.lock());

    // Authentication, accepted and refused.
    let mut owner = connect_as(&hub, "o", "user", "modules");
    let mut stranger = hub.connect_in_process();
    stranger
        .authenticate(json!({"sessionId": "nope"}))
        .unwrap_err();
    expect_auth_error(&mut stranger, "unknown_session");
    let auth = take();
    assert_eq!(auth.len(), 2, "{auth:?}");
    assert_eq!(auth[0].kind, AuditKind::Auth);
    assert_eq!(auth[0].action, "authenticate");
    assert_eq!(auth[0].outcome, AuditOutcome::Accepted);
    assert_eq!(auth[0].user_id, Some(UserId::new("o").unwrap()));
    assert_eq!(auth[0].connection, Some(owner.id()));
    assert_eq!(auth[1].kind, AuditKind::Auth);
    assert_eq!(
        auth[1].outcome,
        AuditOutcome::Refused {
            code: "unknown_session".into()
        }
    );
    assert_eq!(auth[1].connection, Some(stranger.id()));

    // Emits: delivered, unchanged, refused.
    hub.emit_module_online("MC-1", &json!({"userId": "o"}))
        .unwrap();
    hub.emit_module_online("MC-1", &json!({"userId": "o"}))
        .unwrap();
    hub.emit_module_online("", &json!({"userId": "o"}))
        .unwrap_err();
    assert_eq!(next_frame(&mut owner).name(), "module:status:changed");
    let emits = take();
    assert_eq!(emits.len(), 3, "{emits:?}");
    for record in &emits {
        assert_eq!(record.kind, AuditKind::Emit);
        assert_eq!(record.action, "module_online");
    }
    assert_eq!(emits[0].outcome, AuditOutcome::Delivered { connections: 1 });
    assert_eq!(emits[0].module_id.as_ref().unwrap().as_str(), "MC-1");
    assert_eq!(emits[0].detail["moduleId"], "MC-1");
    assert_eq!(emits[1].outcome, AuditOutcome::Unchanged);
    assert_eq!(
        emits[2].outcome,
        AuditOutcome::Refused {
            code: "invalid_argument".into()
        }
    );

    // A slow consumer closed on overflow.
    let mut slow = connect_as(&hub, "slow", "user", "modules");
    take();
    for n in 0..3 {
        hub.emit_to_user("slow", "note:n", &json!({"n": n}))
            .unwrap();
    }
    assert!(matches!(
        slow.drain_now().as_slice(),
        [microcoaster_realtime::Received::Closed(
            microcoaster_realtime::CloseReason::SlowConsumer
        )]
    ));
    let closes: Vec<_> = take()
        .into_iter()
        .filter(|record| record.kind == AuditKind::Close)
        .collect();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert_eq!(closes[0].action, "slow_consumer");
    assert_eq!(closes[0].connection, Some(slow.id()));
    assert_eq!(closes[0].user_id, Some(UserId::new("slow").unwrap()));
    expect_sentinel(&hub, &mut owner, "o");
}

#[test]
fn emit_from_a_before_emit_hook_is_refused_as_reentrant() {
    let hub_slot: Arc<Mutex<Option<Hub>>> = Arc::new(Mutex::new(None));
    let inner_result = Arc::new(Mutex::new(None::<Result<EmitOutcome, HubError>>));
    let (slot, result) = (Arc::clone(&hub_slot), Arc::clone(&inner_result));
    let hub = builder()
        .before_emit(move |name: &str, _: &Audience, _: &mut Value| {
            if name == "test:outer" {
                let hub = slot.lock().clone();
                if let Some(hub) = hub {
                    *result.lock() = Some(hub.emit_to_user("u", "test:inner", &json!({})));
                }
            }
            Verdict::Keep
        })
        .build()
        .unwrap();
    *hub_slot.lock() = Some(hub.clone());
    let mut tab = connect_as(&hub, "u", "user", "modules");

    assert_eq!(
        hub.emit_to_user("u", "test:outer", &json!({})),
        Ok(EmitOutcome::Delivered { connections: 1 })
    );
    let inner = inner_result.lock().take().expect("the hook ran");
    assert_eq!(inner, Err(HubError::Reentrant));
    assert_eq!(inner.unwrap_err().code(), "reentrant_emit");
    assert_eq!(next_frame(&mut tab).name(), "test:outer");
    // No test:inner, and the hub is not stuck: the sentinel is next.
    expect_sentinel(&hub, &mut tab, "u");
    let metrics = hub.metrics();
    assert_eq!(metrics.emits_failed, 1);
    assert_eq!(metrics.bad_inputs(BadInputKind::HostArgument), 0);
    hub_slot.lock().take();
}

#[test]
fn audit_close_records_name_the_user_for_logout_and_auth_failures() {
    let records = Arc::new(Mutex::new(Vec::<AuditRecord>::new()));
    let sink_records = Arc::clone(&records);
    let hub = builder()
        .max_auth_failures(2)
        .audit_sink(move |record: &AuditRecord| sink_records.lock().push(record.clone()))
        .build()
        .unwrap();
    let closes = || -> Vec<AuditRecord> {
        std::mem::take(&mut *records.lock())
            .into_iter()
            .filter(|record| record.kind == AuditKind::Close)
            .collect()
    };

    hub.emit_user_logged_in(&json!({"id": 7}), "sess-7")
        .unwrap();
    let mut tab = hub.connect_in_process();
    tab.authenticate(json!({"sessionId": "sess-7"})).unwrap();
    hub.emit_user_logged_out(&json!({"id": 7}), "sess-7")
        .unwrap();
    assert_eq!(
        names(&mut tab),
        [
            "auth:ok",
            "page:snapshot",
            "user:session:ended",
            "closed:logged_out"
        ]
    );
    let logged_out = closes();
    assert_eq!(logged_out.len(), 1, "{logged_out:?}");
    assert_eq!(logged_out[0].action, "logged_out");
    assert_eq!(logged_out[0].connection, Some(tab.id()));
    assert_eq!(logged_out[0].user_id, Some(UserId::new("7").unwrap()));

    // An authenticated connection that keeps trying to become someone else.
    let mut eve = connect_as(&hub, "8", "user", "modules");
    for _ in 0..2 {
        eve.authenticate(json!({"token": token("9", "user", None)}))
            .unwrap_err();
    }
    assert_eq!(
        names(&mut eve),
        ["auth:error", "auth:error", "closed:too_many_auth_failures"]
    );
    let failures = closes();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].action, "too_many_auth_failures");
    assert_eq!(failures[0].user_id, Some(UserId::new("8").unwrap()));
}
