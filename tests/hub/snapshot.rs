//! `page:snapshot` pages and `client:snapshot {cursor}` → `page:snapshot:more`: an admin
//! on `admin` lists every module of the system in id order, everyone else their own;
//! `total` and `nextCursor` let a client page through; a bad cursor is refused and
//! counted. Every "nothing else" is proved with a sentinel.

use crate::support;

use microcoaster_realtime::{BadInputKind, Hub, InProcessConnection, InboundError};
use serde_json::{Value, json};

use crate::support::{expect_sentinel, next_frame};

/// Users 2 and 3 own modules with interleaved ids; user 1 is the admin.
fn fleet(page_size: usize) -> Hub {
    let hub = support::builder()
        .snapshot_page_size(page_size)
        .build()
        .unwrap();
    for (id, owner) in [
        ("M-05", 2),
        ("M-01", 3),
        ("M-03", 2),
        ("M-02", 2),
        ("M-04", 3),
    ] {
        hub.emit_module_added(&json!({"id": id, "userId": owner, "name": id}))
            .unwrap();
    }
    hub
}

/// Authenticates and returns the connection with its `page:snapshot` payload.
fn open(hub: &Hub, user: &str, role: &str, page: &str) -> (InProcessConnection, Value) {
    let mut conn = hub.connect_in_process();
    conn.authenticate(json!({"token": support::token(user, role, None), "page": page}))
        .unwrap();
    assert_eq!(next_frame(&mut conn).name(), "auth:ok");
    let snapshot = next_frame(&mut conn);
    assert_eq!(snapshot.name(), "page:snapshot");
    (conn, snapshot.payload().clone())
}

fn ids(page: &Value) -> Vec<String> {
    page["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["moduleId"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends `client:snapshot {cursor}` and returns the `page:snapshot:more` payload.
fn more(conn: &mut InProcessConnection, cursor: &Value) -> Value {
    conn.send("client:snapshot", json!({"cursor": cursor}))
        .unwrap();
    let frame = next_frame(conn);
    assert_eq!(frame.name(), "page:snapshot:more");
    frame.payload().clone()
}

#[test]
fn an_admin_on_admin_pages_through_every_module_in_id_order() {
    let hub = fleet(2);
    let (mut admin, first) = open(&hub, "1", "admin", "admin");
    assert_eq!(ids(&first), ["M-01", "M-02"]);
    assert_eq!(
        (first["total"].clone(), first["nextCursor"].clone()),
        (json!(5), json!("M-02"))
    );
    let second = more(&mut admin, &first["nextCursor"]);
    assert_eq!(ids(&second), ["M-03", "M-04"]);
    assert_eq!(
        (second["page"].clone(), second["total"].clone()),
        (json!("admin"), json!(5))
    );
    let last = more(&mut admin, &second["nextCursor"]);
    assert_eq!(
        (ids(&last), last["nextCursor"].clone()),
        (vec!["M-05".to_owned()], Value::Null)
    );
    expect_sentinel(&hub, &mut admin, "1");
}

#[test]
fn the_default_page_holds_500_modules() {
    let hub = support::hub();
    for n in 0..501 {
        hub.emit_module_added(&json!({"id": format!("M-{n:04}"), "userId": 2}))
            .unwrap();
    }
    let (_admin, first) = open(&hub, "1", "admin", "admin");
    assert_eq!(ids(&first).len(), 500);
    assert_eq!(
        (first["total"].clone(), first["nextCursor"].clone()),
        (json!(501), json!("M-0499"))
    );
}

#[test]
fn users_and_admins_off_the_admin_page_list_only_their_own_modules() {
    let hub = fleet(2);
    for (user, role, page) in [
        ("2", "user", "admin"),
        ("2", "user", "modules"),
        ("1", "admin", "modules"),
    ] {
        let (mut conn, first) = open(&hub, user, role, page);
        let mut listed = ids(&first);
        let mut cursor = first["nextCursor"].clone();
        while !cursor.is_null() {
            let page = more(&mut conn, &cursor);
            listed.extend(ids(&page));
            cursor = page["nextCursor"].clone();
        }
        let own: &[&str] = match user {
            "2" => &["M-02", "M-03", "M-05"],
            _ => &[],
        };
        assert_eq!(listed, own, "user {user} ({role}) on {page}");
        assert_eq!(first["total"], json!(own.len()));
        expect_sentinel(&hub, &mut conn, user);
    }
}

#[test]
fn a_snapshot_request_without_a_text_cursor_is_refused_and_counted() {
    let hub = fleet(2);
    let (mut user, _) = open(&hub, "2", "user", "admin");
    for bad in [json!({}), json!({"cursor": 5}), json!("M-01")] {
        let refused = user.send("client:snapshot", bad).unwrap_err();
        assert!(
            matches!(refused, InboundError::InvalidSnapshot(_)),
            "{refused:?}"
        );
        assert_eq!(refused.ack_body()["code"], json!("invalid_snapshot"));
    }
    assert_eq!(hub.metrics().bad_inputs(BadInputKind::WrongShape), 3);
    // Nothing was sent for the refusals.
    expect_sentinel(&hub, &mut user, "2");
    // Before authentication the request is refused like any other event.
    let stranger = hub.connect_in_process();
    assert!(
        stranger
            .send("client:snapshot", json!({"cursor": "M-01"}))
            .is_err()
    );
}
