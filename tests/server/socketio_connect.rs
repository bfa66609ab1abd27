//! The Socket.IO CONNECT over real sockets on 127.0.0.1 (DESIGN §8): refused
//! credentials and unknown namespaces get CONNECT_ERROR, `client:authenticate` with an
//! ack id is acked with the auth body, and a DISCONNECT packet closes the session.

use crate::support::*;
use microcoaster_realtime::EmitOutcome;
use serde_json::{Value, json};

#[test]
fn refused_credentials_get_connect_error_and_the_socket_may_retry() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut client = SioWs::open(server.addr, "refused").await;
        let reply = client
            .connect_ns(Some(&json!({"token": "not-a-jwt", "page": "modules"})))
            .await;
        let body: Value =
            serde_json::from_str(reply.strip_prefix("44").expect("CONNECT_ERROR")).unwrap();
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(body["data"]["code"], json!("invalid_token"), "{body}");
        // A token for another role than it claims is refused too.
        let reply = client
            .connect_ns(Some(&json!({
                "token": token("u1", "user", None), "userType": "admin", "page": "modules"
            })))
            .await;
        let body: Value = serde_json::from_str(reply.strip_prefix("44").unwrap()).unwrap();
        assert_eq!(body["data"]["code"], json!("claims_mismatch"), "{body}");
        assert_eq!(server.hub.metrics().auth_failures, 2);

        // Nothing was delivered to the refused socket; a valid CONNECT then works.
        let reply = client
            .connect_ns(Some(&auth(&token("u1", "user", None), "modules")))
            .await;
        assert!(reply.starts_with("40{\"sid\":"), "{reply}");
        let (name, _) = client.event().await;
        assert_eq!(name, "auth:ok");
    });
}

#[test]
fn unknown_namespace_gets_connect_error() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut client = SioWs::open(server.addr, "namespace").await;
        client.ws.send_text("40/admin,").await;
        assert_eq!(
            client.packet().await,
            r#"44/admin,{"message":"Invalid namespace"}"#
        );
        // Events to that namespace are ignored; the default namespace still works.
        client.ws.send_text(r#"42/admin,["x",1]"#).await;
        let reply = client
            .connect_ns(Some(&auth(&token("u1", "user", None), "modules")))
            .await;
        assert!(reply.starts_with("40{\"sid\":"), "{reply}");
        let (name, _) = client.event().await;
        assert_eq!(name, "auth:ok");
    });
}

/// Reads `n` packets and sorts them: the ack and the hub's frames travel on two queues,
/// so their relative order is not part of the contract.
async fn packets(client: &mut SioWs, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(client.packet().await);
    }
    out
}

#[test]
fn client_authenticate_with_an_ack_id_is_acked_with_the_auth_body() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut client = SioWs::open(server.addr, "ack").await;
        let reply = client.connect_ns(None).await;
        assert!(
            reply.starts_with("40{\"sid\":"),
            "joins unauthenticated: {reply}"
        );

        // A refused attempt: auth:error event and an error ack.
        client
            .emit("client:authenticate", &json!({"token": "garbage"}), Some(7))
            .await;
        let got = packets(&mut client, 2).await;
        let ack = got.iter().find(|p| p.starts_with("437")).expect("ack 7");
        let body: Value = serde_json::from_str(&ack[3..]).unwrap();
        assert_eq!(body[0]["code"], json!("invalid_token"), "{ack}");
        let event = got
            .iter()
            .find(|p| p.starts_with("42"))
            .expect("auth:error");
        assert_eq!(parse_event(event).0, "auth:error");

        let tok = token("a1", "admin", Some("s-1"));
        client
            .emit(
                "client:authenticate",
                &json!({"token": tok, "page": "admin"}),
                Some(12),
            )
            .await;
        let got = packets(&mut client, 3).await;
        let ack = got.iter().find(|p| p.starts_with("4312")).expect("ack 12");
        let body: Value = serde_json::from_str(&ack[4..]).unwrap();
        assert_eq!(
            body,
            json!([{"userId": "a1", "role": "admin", "sessionId": "s-1", "page": "admin"}])
        );
        let events: Vec<_> = got
            .iter()
            .filter(|p| p.starts_with("42"))
            .map(|p| parse_event(p))
            .collect();
        assert_eq!(events.len(), 2, "{got:?}");
        assert_eq!(events[0].0, "auth:ok");
        assert_eq!(events[0].1["userId"], json!("a1"));
        assert_eq!(events[1].0, "page:snapshot");

        // A forwarded event with an ack id gets an empty ack.
        client.emit("custom:thing", &json!({"x": 1}), Some(3)).await;
        assert_eq!(client.packet().await, "433[null]");
    });
}

#[test]
fn disconnect_packet_closes_the_websocket_session() {
    let server = serve(builder().build().unwrap(), config());
    run(async {
        let mut leaving = SioWs::login(
            server.addr,
            "leaving",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        let mut staying = SioWs::login(
            server.addr,
            "staying",
            &token("u1", "user", None),
            "modules",
        )
        .await;
        assert_eq!(server.handle.connections(), 2);
        leaving.ws.send_text("41").await;
        assert_eq!(leaving.closed().await, Some(1000));
        eventually("the session to be released", || {
            server.handle.connections() == 1 && server.hub.metrics().connections.users == 1
        })
        .await;
        send_sentinel(&server.hub, "u1", 1);
        assert_eq!(
            server.hub.emit_to_user("u1", "x:y", &json!({})),
            Ok(EmitOutcome::Delivered { connections: 1 })
        );
        staying.sentinel(1).await;
    });
}
