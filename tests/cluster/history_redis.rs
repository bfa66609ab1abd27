//! The event history on Redis (`broker/redis/history.rs`): what a node appends when it
//! decides a change, against a real `redis-server`; two hubs in one process stand for
//! two nodes. Fails, never skips, when `redis-server` is missing.

use std::time::Duration;

use microcoaster_realtime::Hub;
use microcoaster_realtime::broker::RedisBroker;
use redis::Commands;
use serde_json::{Value, json};

use crate::broker_redis::names_before_sentinel;
use crate::redis_server::{Redis, start_redis};
use crate::support::connect;

const WINDOW: Duration = Duration::from_secs(30);

fn node(redis: &Redis, history: bool) -> Hub {
    let hub = crate::nodes::node(&redis.url);
    if history {
        assert!(
            hub.keep_event_history(WINDOW),
            "a Redis broker keeps a history"
        );
    }
    hub
}

/// Every entry of history stream `suffix`: (position, entry JSON).
fn stream(redis: &Redis, suffix: &str) -> Vec<(u64, Value)> {
    let mut c = redis::Client::open(redis.url.as_str())
        .and_then(|client| client.get_connection())
        .expect("a test connection to Redis");
    let reply: redis::streams::StreamRangeReply = c
        .xrange_all(format!("{{mcrt:}}history:{suffix}"))
        .expect("XRANGE");
    reply
        .ids
        .iter()
        .map(|id| {
            let position: u64 = id.get("p").expect("a position");
            let entry: String = id.get("e").expect("an entry");
            (position, serde_json::from_str(&entry).expect("entry JSON"))
        })
        .collect()
}

fn names(entries: &[(u64, Value)]) -> Vec<String> {
    entries
        .iter()
        .map(|(_, e)| {
            e["step"]["event"]["name"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

#[test]
fn each_decided_event_is_appended_once_to_its_stream_in_order() {
    let redis = start_redis();
    let (a, b) = (node(&redis, true), node(&redis, true));
    let mut on_b = connect(&b, "u2", "user", "s2", "modules");
    for n in 0..5 {
        a.emit_to_user("u1", "test:mine", &json!({ "n": n }))
            .expect("to u1");
        a.emit_to_user("u2", "test:theirs", &json!({ "n": n }))
            .expect("to u2");
    }
    a.emit_to_admins("test:admins", &json!({})).expect("admins");
    a.emit_to_everyone("test:everyone", &json!({}))
        .expect("everyone");
    // The messages carry Redis's position and still reach the other node.
    let on_b_names = names_before_sentinel(&a, &mut on_b, "u2");
    assert_eq!(
        on_b_names.iter().filter(|n| *n == "test:theirs").count(),
        5,
        "{on_b_names:?}"
    );
    let mine = stream(&redis, "user:u1");
    assert_eq!(names(&mine), vec!["test:mine"; 5]);
    let payloads: Vec<u64> = mine
        .iter()
        .map(|(_, e)| e["step"]["event"]["payload"]["n"].as_u64().expect("n"))
        .collect();
    assert_eq!(payloads, vec![0, 1, 2, 3, 4]);
    let theirs = stream(&redis, "user:u2");
    assert_eq!(names(&theirs)[..5], vec!["test:theirs"; 5]);
    // Positions grow across streams in the order the node decided.
    let positions: Vec<u64> = mine.iter().map(|(p, _)| *p).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(theirs[0].0 == positions[0] + 1, "{theirs:?}");
    let offsets: Vec<u64> = mine
        .iter()
        .map(|(_, e)| e["offset"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        offsets.iter().all(|o| *o > 0),
        "offsets recorded: {offsets:?}"
    );
    assert_eq!(names(&stream(&redis, "admins")), vec!["test:admins"]);
    assert_eq!(names(&stream(&redis, "everyone")), vec!["test:everyone"]);
    assert!(
        mine.iter().all(|(_, e)| e["origin"] != Value::Null),
        "every entry names its node"
    );
    // Streams expire a window after their last append.
    let mut c = redis::Client::open(redis.url.as_str())
        .and_then(|client| client.get_connection())
        .expect("a test connection");
    let ttl: i64 = c.pttl("{mcrt:}history:user:u1").expect("PTTL");
    assert!(ttl > 0 && ttl <= 30_000, "ttl {ttl}");
}

#[test]
fn without_the_history_nothing_is_appended() {
    let redis = start_redis();
    let a = node(&redis, false);
    a.emit_to_user("u1", "test:mine", &json!({}))
        .expect("to u1");
    a.emit_to_everyone("test:everyone", &json!({}))
        .expect("everyone");
    let b = node(&redis, false);
    let mut on_b = connect(&b, "u1", "user", "s1", "modules");
    let _ = names_before_sentinel(&a, &mut on_b, "u1");
    assert!(stream(&redis, "user:u1").is_empty());
    assert!(stream(&redis, "everyone").is_empty());
}

#[test]
fn the_reader_merges_a_users_and_the_shared_streams_in_position_order() {
    use microcoaster_realtime::broker::Broker;
    use microcoaster_realtime::call::Step;
    let redis = start_redis();
    let a = node(&redis, true);
    a.emit_to_user("u1", "test:one", &json!({})).expect("to u1");
    a.emit_to_everyone("test:two", &json!({}))
        .expect("everyone");
    a.emit_to_user("u2", "test:other", &json!({}))
        .expect("to u2");
    a.emit_to_admins("test:admins", &json!({})).expect("admins");
    a.emit_to_user("u1", "test:three", &json!({}))
        .expect("to u1");
    // The publications are asynchronous: the sentinel through another node marks them done.
    let b = node(&redis, false);
    let mut on_b = connect(&b, "u1", "user", "s1", "modules");
    let _ = names_before_sentinel(&a, &mut on_b, "u1");
    let reader = RedisBroker::connect(&redis.url).expect("Redis answers");
    assert!(
        reader.history(&["user:u1".into()]).is_none(),
        "off until kept"
    );
    assert!(reader.keep_history(WINDOW, 100));
    let entries = reader
        .history(&["user:u1".into(), "everyone".into()])
        .expect("the history");
    let names: Vec<&str> = entries
        .iter()
        .map(|entry| match &entry.step {
            Step::Event(event) => &*event.name,
            Step::EndSession { .. } => "end",
        })
        .collect();
    assert_eq!(
        names,
        ["test:one", "test:two", "test:three", "test:sentinel"]
    );
    assert!(entries.windows(2).all(|w| w[0].position < w[1].position));
}

#[test]
fn a_logout_is_kept_in_its_users_stream_with_the_session_it_ended() {
    let redis = start_redis();
    let a = node(&redis, true);
    let user = json!({"id": "u1", "username": "ada", "role": "user"});
    a.emit_user_logged_in(&user, "s1").expect("login");
    a.emit_user_logged_out(&user, "s1").expect("logout");
    let b = node(&redis, false);
    let mut on_b = connect(&b, "u1", "user", "s9", "modules");
    let _ = names_before_sentinel(&a, &mut on_b, "u1");
    let entries = stream(&redis, "user:u1");
    let ended: Vec<&Value> = entries
        .iter()
        .filter_map(|(_, e)| e["step"].get("endSession"))
        .collect();
    assert_eq!(
        ended,
        [&json!({"user": "u1", "session": "s1"})],
        "{entries:?}"
    );
    assert!(stream(&redis, "user:u2").is_empty());
}
