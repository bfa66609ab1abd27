//! Unit tests of the Socket.IO codec: decoding, refusals, encoders.

use serde_json::{Value, json};

use super::{
    Kind, decode, encode_ack, encode_ack_args, encode_connect, encode_connect_error,
    encode_connect_with_pid, encode_disconnect, encode_event, encode_event_args, encode_event_at,
};

#[test]
fn event_packet_is_engine_message_then_socket_event() {
    let bytes = encode_event("module:status:changed", &json!({"online": true}));
    assert_eq!(bytes, r#"42["module:status:changed",{"online":true}]"#);
}

#[test]
fn offset_is_the_last_string_argument_and_pid_joins_the_sid() {
    assert_eq!(
        encode_event_at("x", &json!({"n": 1}), Some(42)),
        r#"42["x",{"n":1},"42"]"#
    );
    assert_eq!(
        encode_connect_with_pid("/", "s", Some("p")),
        r#"40{"pid":"p","sid":"s"}"#
    );
}

#[test]
fn decodes_connect_event_ack_and_namespaces() {
    let p = decode(r#"0{"token":"t"}"#).unwrap();
    assert_eq!((p.kind, p.namespace.as_str()), (Kind::Connect, "/"));
    assert_eq!(p.data, Some(json!({"token": "t"})));
    let p = decode("0/custom,").unwrap();
    assert_eq!(p.namespace, "/custom");
    assert_eq!(p.data, None);
    let p = decode(r#"212["client:authenticate",{"page":"admin"}]"#).unwrap();
    assert_eq!(p.ack_id, Some(12));
    assert_eq!(
        p.event(),
        Some(("client:authenticate", &json!({"page": "admin"})))
    );
    let p = decode(r#"2/custom,3["a"]"#).unwrap();
    assert_eq!((p.namespace.as_str(), p.ack_id), ("/custom", Some(3)));
    assert_eq!(p.event(), Some(("a", &Value::Null)));
    let p = decode(r#"51-["a",{"_placeholder":true,"num":0}]"#).unwrap();
    assert_eq!((p.kind, p.attachments), (Kind::BinaryEvent, 1));
    assert_eq!(decode("1").unwrap().kind, Kind::Disconnect);
    assert_eq!(decode("37[1]").unwrap().ack_id, Some(7));
}

#[test]
fn malformed_packets_are_refused() {
    for bad in [
        "",
        "9",
        "4{}",
        "2",
        "2{}",
        "2[1]",
        "2[\"a\"",
        "0[1]",
        "3[1]",
        "1{}",
        "5[\"a\"]",
        "5x-[\"a\"]",
        "299999999999999999999999[\"a\"]",
    ] {
        assert!(decode(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn control_packets_encode() {
    assert_eq!(encode_connect("/", "x"), r#"40{"sid":"x"}"#);
    assert_eq!(
        encode_connect_error("/admin", "Invalid namespace", None),
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
    assert_eq!(encode_ack("/", 4, &json!({"ok": 1})), r#"434[{"ok":1}]"#);
    assert_eq!(encode_disconnect("/"), "41");
}

#[test]
fn events_and_acks_carry_every_argument_and_their_attachment_count() {
    let args = [json!(1), json!("2"), json!({"3": [true]})];
    assert_eq!(
        encode_event_args("/", None, "m", &args, 0),
        r#"42["m",1,"2",{"3":[true]}]"#
    );
    assert_eq!(
        encode_event_args(
            "/custom",
            Some(5),
            "m",
            &[json!({"_placeholder": true, "num": 0})],
            1
        ),
        r#"451-/custom,5["m",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(
        encode_ack_args("/", 456, &args, 0),
        r#"43456[1,"2",{"3":[true]}]"#
    );
    assert_eq!(encode_ack_args("/", 789, &[], 2), "462-789[]");
    let p = decode(r#"2["m",1,2]"#).unwrap();
    assert_eq!(p.args(), &[json!(1), json!(2)]);
    let p = decode("37[1,2]").unwrap();
    assert_eq!(p.args(), &[json!(1), json!(2)]);
}
