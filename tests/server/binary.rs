//! Binary values through the hub over real sockets: a host's binary emit reaches one
//! user's tabs on every transport (websocket and polling frames, base64 on the native
//! protocol), encoded once, and nobody else; a client's binary event reaches the
//! client-event hook as bytes.

use bytes::Bytes;
use microcoaster_realtime::protocol::binary::placeholder;
use microcoaster_realtime::{EmitOutcome, HubError};
use serde_json::{Value, json};
use tokio::sync::mpsc::unbounded_channel;

use crate::support::{
    Native, SioPolling, SioWs, WsRead, builder, config, run, send_sentinel, serve, token, within,
};

const P0: &str = r#"{"_placeholder":true,"num":0}"#;

#[test]
fn a_binary_emit_reaches_every_tab_of_one_user_encoded_once_and_no_one_else() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut ws_tab =
            SioWs::login(server.addr, "ws tab", &token("u1", "user", None), "modules").await;
        let mut poll_tab = SioPolling::login(
            server.addr,
            "polling tab",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        let mut native_tab = Native::login(
            server.addr,
            "native tab",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        let mut other =
            SioWs::login(server.addr, "other", &token("u2", "user", None), "modules").await;

        let encoded_before = server.hub.metrics().frames_encoded;
        let image = Bytes::from_static(&[0, 1, 2, 255]);
        let data = json!({"img": placeholder(0), "caption": "lift"});
        let outcome = server
            .hub
            .emit_binary_to_user("u1", "photo", &data, vec![image.clone()])
            .unwrap();
        assert_eq!(outcome, EmitOutcome::Delivered { connections: 3 });

        let packet = ws_tab.packet().await;
        let body = packet
            .strip_prefix("451-")
            .expect("a binary event with one attachment");
        let args: Value = serde_json::from_str(body).unwrap();
        assert_eq!(args[0], json!("photo"));
        assert_eq!(args[1]["img"], serde_json::from_str::<Value>(P0).unwrap());
        assert_eq!(args[1]["caption"], json!("lift"));
        match ws_tab.ws.read().await {
            WsRead::Binary(bytes) => assert_eq!(bytes, image.to_vec()),
            other => panic!("expected the attachment, got {other:?}"),
        }

        let poll = poll_tab.poll().await;
        assert_eq!(poll.packets(), vec![packet.clone(), "bAAEC/w==".to_owned()]);

        let text = native_tab.ws.text().await;
        let frame: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(frame["event"], json!("photo"));
        assert_eq!(frame["attachments"], json!(["AAEC/w=="]));
        assert_eq!(frame["data"]["img"], placeholder(0));

        // One Socket.IO encoding for both Socket.IO tabs, one native encoding.
        assert_eq!(server.hub.metrics().frames_encoded, encoded_before + 2);

        // The other user's next event is the sentinel: nothing of u1's came first.
        send_sentinel(&server.hub, "u2", 1);
        other.sentinel(1).await;
    });
}

#[test]
fn a_placeholder_past_the_attachments_is_refused_before_anything_is_sent() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut tab = SioWs::login(server.addr, "tab", &token("u1", "user", None), "modules").await;
        let refused = server.hub.emit_binary_to_user(
            "u1",
            "photo",
            &json!({"img": placeholder(1)}),
            vec![Bytes::from_static(&[1])],
        );
        assert!(matches!(refused, Err(HubError::Input(_))), "{refused:?}");
        let refused =
            server
                .hub
                .emit_binary_to_admins("photo", &json!([placeholder(0)]), Vec::new());
        assert_eq!(refused.unwrap_err().code(), "invalid_argument");
        send_sentinel(&server.hub, "u1", 7);
        tab.sentinel(7).await;
    });
}

#[test]
fn a_client_binary_event_reaches_the_client_event_hook_as_bytes() {
    let (tx, mut seen) = unbounded_channel();
    let hub = builder()
        .on_client_event(move |event: &microcoaster_realtime::ClientEvent| {
            let _ = tx.send((
                event.event.clone(),
                event.data.clone(),
                event.attachments.clone(),
            ));
        })
        .build()
        .unwrap();
    let server = serve(hub, config());
    run(async {
        let mut tab = SioWs::login(
            server.addr,
            "uploader",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        tab.ws
            .send_text(format!(r#"451-3["upload",{{"file":{P0},"name":"a.bin"}}]"#))
            .await;
        tab.ws.send_binary(vec![9, 8, 7, 0]).await;
        assert_eq!(tab.packet().await, "433[null]", "acked once complete");
        let (name, data, attachments) = within("the hook", seen.recv()).await.unwrap();
        assert_eq!(name, "upload");
        assert_eq!(data["name"], json!("a.bin"));
        assert_eq!(data["file"], placeholder(0));
        assert_eq!(attachments, vec![Bytes::from_static(&[9, 8, 7, 0])]);
        send_sentinel(&server.hub, "u1", 3);
        tab.sentinel(3).await;
    });
}

#[test]
fn a_hook_answers_a_binary_event_with_a_binary_ack_byte_exact() {
    use microcoaster_realtime::{AckAnswer, Answering, ClientEvent};
    let hub = builder()
        .on_client_event(Answering(|event: &ClientEvent| {
            (event.event == "echo").then(|| AckAnswer {
                data: json!({"back": event.data["file"], "n": event.attachments.len()}),
                attachments: event.attachments.clone(),
            })
        }))
        .build()
        .unwrap();
    let server = serve(hub, config());
    run(async {
        let mut tab =
            SioWs::login(server.addr, "echo", &token("u1", "user", None), "modules").await;
        let sent = vec![0u8, 255, 1, 254, 0];
        tab.ws
            .send_text(format!(r#"451-4["echo",{{"file":{P0}}}]"#))
            .await;
        tab.ws.send_binary(sent.clone()).await;
        let ack = tab.packet().await;
        let body = ack
            .strip_prefix("461-4")
            .expect("a binary ack with one attachment");
        let args: Value = serde_json::from_str(body).unwrap();
        assert_eq!(args, json!([{"back": placeholder(0), "n": 1}]));
        match tab.ws.read().await {
            WsRead::Binary(bytes) => assert_eq!(bytes, sent),
            other => panic!("expected the attachment, got {other:?}"),
        }
        // An event the hook does not answer is acked with null, as before.
        tab.ws.send_text(r#"425["other",1]"#.to_owned()).await;
        assert_eq!(tab.packet().await, "435[null]");
        send_sentinel(&server.hub, "u1", 4);
        tab.sentinel(4).await;
    });
}
