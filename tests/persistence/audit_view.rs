//! The audit viewer's request (`client:audit`) over an admin's own connection, on a real
//! SQLite file: newest first, filtered by user, module, action and time, paged with
//! `nextCursor`; no session id in any row; a user's request is refused (`forbidden`) and
//! nothing else is sent to that connection (checked with a sentinel).

use crate::support::{self, TempDir, expect_sentinel, next_frame};

use microcoaster_realtime::persist::Durability;
use microcoaster_realtime::{Hub, InProcessConnection, InboundError};
use serde_json::{Value, json};

fn open(hub: &Hub, user: &str, role: &str) -> InProcessConnection {
    let mut conn = hub.connect_in_process();
    conn.authenticate(json!({"token": support::token(user, role, None), "page": "admin"}))
        .unwrap();
    assert_eq!(next_frame(&mut conn).name(), "auth:ok");
    assert_eq!(next_frame(&mut conn).name(), "page:snapshot");
    conn
}

fn ask(conn: &InProcessConnection, request: Value) -> Value {
    conn.send("client:audit", request)
        .expect("an admin's audit request is answered")
        .ack
        .expect("the answer is the ack")
}

fn actions(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_admin_pages_through_the_audit_log_newest_first_without_session_ids() {
    let dir = TempDir::new("audit-view");
    let hub = support::builder()
        .persist(dir.db(), Durability::Batched)
        .build()
        .unwrap();
    hub.emit_user_logged_in(&json!({"id": 7, "name": "Ada"}), "secret-session-7")
        .unwrap();
    for n in 0..5 {
        let module = json!({"id": format!("M-{n}"), "userId": 7});
        hub.emit_module_added(&module).unwrap();
    }
    hub.emit_module_online("M-2", &json!({})).unwrap();
    let admin = open(&hub, "1", "admin");

    let first = ask(&admin, json!({"limit": 3}));
    assert_eq!(actions(&first).len(), 3);
    let second = ask(&admin, json!({"limit": 3, "cursor": first["nextCursor"]}));
    let ids = |page: &Value| -> Vec<u64> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert!(
        a.windows(2).all(|w| w[0] > w[1]) && a[2] > b[0],
        "newest first: {a:?} {b:?}"
    );

    let added = ask(&admin, json!({"action": "module_added", "limit": 200}));
    assert_eq!(actions(&added), vec!["module_added"; 5]);
    assert!(added["nextCursor"].is_null());
    let m2 = ask(&admin, json!({"moduleId": "M-2"}));
    assert_eq!(actions(&m2), ["module_online", "module_added"]);
    let none = ask(&admin, json!({"since": 4_000_000_000_000u64}));
    assert_eq!(actions(&none), Vec::<String>::new());

    let everything = ask(&admin, json!({"userId": 7, "limit": 200})).to_string();
    assert!(everything.contains("user_logged_in"), "{everything}");
    assert!(
        !everything.contains("secret-session-7"),
        "a session id was shown: {everything}"
    );
    assert!(!everything.contains("sessionId"), "{everything}");
}

#[test]
fn a_users_audit_request_is_refused_and_nothing_is_sent() {
    let dir = TempDir::new("audit-view-user");
    let hub = support::builder()
        .persist(dir.db(), Durability::Batched)
        .build()
        .unwrap();
    hub.emit_module_added(&json!({"id": "M-1", "userId": 7}))
        .unwrap();
    let mut user = open(&hub, "7", "user");
    let refused = user.send("client:audit", json!({})).unwrap_err();
    assert!(
        matches!(
            refused,
            InboundError::AuditRefused {
                code: "forbidden",
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(refused.ack_body()["code"], json!("forbidden"));
    expect_sentinel(&hub, &mut user, "7");
    // A bad filter from an admin is named.
    let admin = open(&hub, "1", "admin");
    let bad = admin
        .send("client:audit", json!({"since": "yesterday"}))
        .unwrap_err();
    assert!(bad.to_string().contains("since"), "{bad}");
}

#[test]
fn without_persistence_the_audit_log_is_unavailable() {
    let hub = support::hub();
    let admin = open(&hub, "1", "admin");
    let refused = admin.send("client:audit", json!({})).unwrap_err();
    assert_eq!(refused.ack_body()["code"], json!("audit_unavailable"));
}
