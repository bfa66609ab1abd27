//! Registered namespaces and the raw Engine.IO endpoint over real sockets: a namespace
//! beside the hub's `/` on one session, binary events and acks both ways over
//! websocket and polling, refusals, leaving, and a partial binary packet abandoned when
//! its session closes. The official suites (`scripts/conformance`) cover the protocol
//! details; these pin the public API's behaviour.

use microcoaster_realtime::transport::server::{
    Ack, ConnectRefusal, EngineEndpoint, EngineMessage, EngineService, EngineSocket, Namespace,
    NamespaceSocket, Namespaces, Payload, ServerConfig,
};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::support::{
    HttpConn, SioWs, Ws, WsRead, builder, config, run, send_sentinel, serve, token, within,
};

/// What a handler saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Connect(Value),
    Event(String, Payload),
    Disconnect,
}

/// Echoes `echo` as `echo-back`, acks `ask` with its arguments plus a binary of its
/// own, refuses a CONNECT whose `auth` has `"deny": true`, and reports what it saw.
struct Echo(UnboundedSender<Seen>);

impl Namespace for Echo {
    fn accept(&self, auth: &Value) -> Result<(), ConnectRefusal> {
        if auth["deny"] == json!(true) {
            return Err(ConnectRefusal("denied".into()));
        }
        Ok(())
    }

    fn on_connect(&self, _socket: &NamespaceSocket, auth: &Value) {
        let _ = self.0.send(Seen::Connect(auth.clone()));
    }

    fn on_event(&self, socket: &NamespaceSocket, event: &str, payload: Payload, ack: Option<Ack>) {
        let _ = self.0.send(Seen::Event(event.to_owned(), payload.clone()));
        match (event, ack) {
            ("echo", _) => socket.emit("echo-back", &payload).unwrap(),
            ("ask", Some(ack)) => {
                let mut answer = payload;
                let extra = answer.push_binary(vec![9u8, 9]);
                answer.args.push(extra);
                ack.send(&answer).unwrap();
            }
            _ => {}
        }
    }

    fn on_disconnect(&self, _socket: &NamespaceSocket) {
        let _ = self.0.send(Seen::Disconnect);
    }
}

async fn next(seen: &mut UnboundedReceiver<Seen>) -> Seen {
    within("the handler's next call", seen.recv())
        .await
        .expect("the handler is alive")
}

/// The next websocket frame must be binary.
async fn binary(ws: &mut Ws) -> Vec<u8> {
    match ws.read().await {
        WsRead::Binary(bytes) => bytes,
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

const P0: &str = r#"{"_placeholder":true,"num":0}"#;
const P1: &str = r#"{"_placeholder":true,"num":1}"#;

#[test]
fn a_registered_namespace_shares_the_session_with_the_hub_and_echoes_binary() {
    let (tx, mut seen) = unbounded_channel();
    let server = serve(
        builder().build().unwrap(),
        ServerConfig {
            namespaces: Namespaces::new().with("/chat", Echo(tx)),
            ..config()
        },
    );
    run(async {
        let mut client =
            SioWs::login(server.addr, "both", &token("u1", "user", None), "modules").await;
        client.ws.send_text(r#"40/chat,{"deny":true}"#).await;
        assert_eq!(client.packet().await, r#"44/chat,{"message":"denied"}"#);
        client.ws.send_text(r#"40/chat,{"room":7}"#).await;
        let reply = client.packet().await;
        let joined: Value = serde_json::from_str(reply.strip_prefix("40/chat,").unwrap()).unwrap();
        assert!(joined["sid"].is_string(), "{reply}");
        assert_eq!(next(&mut seen).await, Seen::Connect(json!({"room": 7})));

        // A binary event: the packet, then its two attachments, back in order.
        client
            .ws
            .send_text(format!(r#"452-/chat,["echo",{P0},{{"b":{P1}}}]"#))
            .await;
        client.ws.send_binary(vec![1, 2, 3]).await;
        client.ws.send_binary(vec![]).await;
        assert_eq!(
            client.packet().await,
            format!(r#"452-/chat,["echo-back",{P0},{{"b":{P1}}}]"#)
        );
        assert_eq!(binary(&mut client.ws).await, vec![1, 2, 3]);
        assert_eq!(binary(&mut client.ws).await, Vec::<u8>::new());
        match next(&mut seen).await {
            Seen::Event(name, payload) => {
                assert_eq!(name, "echo");
                assert_eq!(
                    payload.binary(&payload.args[0]).map(|b| b.to_vec()),
                    Some(vec![1, 2, 3])
                );
                assert_eq!(
                    payload.binary(&payload.args[1]["b"]).map(|b| b.len()),
                    Some(0)
                );
            }
            other => panic!("expected the event, got {other:?}"),
        }

        // An ack with several arguments and a binary one the handler added.
        client.ws.send_text(r#"42/chat,12["ask",1,"two"]"#).await;
        assert_eq!(
            client.packet().await,
            format!(r#"461-/chat,12[1,"two",{P0}]"#)
        );
        assert_eq!(binary(&mut client.ws).await, vec![9, 9]);
        assert!(matches!(next(&mut seen).await, Seen::Event(name, _) if name == "ask"));

        // The hub's namespace on the same session still gets its events, and leaving
        // /chat leaves / joined.
        client.ws.send_text("41/chat,").await;
        assert_eq!(next(&mut seen).await, Seen::Disconnect);
        send_sentinel(&server.hub, "u1", 1);
        client.sentinel(1).await;
    });
}

#[test]
fn binary_events_round_trip_over_polling_as_base64() {
    let (tx, mut seen) = unbounded_channel();
    let server = serve(
        builder().build().unwrap(),
        ServerConfig {
            namespaces: Namespaces::new().with("/", Echo(tx)),
            ..config()
        },
    );
    run(async {
        let mut http = HttpConn::open(server.addr).await;
        let open = http
            .request("GET", "/socket.io/?EIO=4&transport=polling", None)
            .await;
        let sid = serde_json::from_str::<Value>(&open.body[1..]).unwrap()["sid"]
            .as_str()
            .unwrap()
            .to_owned();
        let target = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(http.request("POST", &target, Some("40")).await.body, "ok");
        let poll = http.request("GET", &target, None).await;
        assert!(poll.body.starts_with("40{\"sid\":"), "{poll:?}");
        assert_eq!(next(&mut seen).await, Seen::Connect(json!({})));

        let payload = format!("451-[\"echo\",{P0}]\x1ebAQID");
        assert_eq!(
            http.request("POST", &target, Some(&payload)).await.body,
            "ok"
        );
        let poll = http.request("GET", &target, None).await;
        assert_eq!(
            poll.packets(),
            vec![format!("451-[\"echo-back\",{P0}]"), "bAQID".to_owned()]
        );
        assert!(matches!(next(&mut seen).await, Seen::Event(name, _) if name == "echo"));
        // The hub's protocol is not served on this server's `/`: no hub connection.
        assert_eq!(server.hub.metrics().connections.unauthenticated, 0);
    });
}

#[test]
fn a_partial_binary_packet_is_abandoned_when_its_session_closes() {
    let (tx, mut seen) = unbounded_channel();
    let server = serve(
        builder().build().unwrap(),
        ServerConfig {
            namespaces: Namespaces::new().with("/chat", Echo(tx)),
            ..config()
        },
    );
    run(async {
        let mut client = SioWs::open(server.addr, "partial").await;
        client.ws.send_text("40/chat,").await;
        assert!(client.packet().await.starts_with("40/chat,"));
        assert_eq!(next(&mut seen).await, Seen::Connect(json!({})));
        client
            .ws
            .send_text(format!(r#"452-/chat,["echo",{P0},{P1}]"#))
            .await;
        client.ws.send_binary(vec![1]).await;
        client.ws.close().await;
        // The handler sees the client leave and never the half-received event.
        assert_eq!(next(&mut seen).await, Seen::Disconnect);

        let mut other = SioWs::open(server.addr, "other").await;
        other.ws.send_text("40/chat,").await;
        assert!(other.packet().await.starts_with("40/chat,"));
        assert_eq!(next(&mut seen).await, Seen::Connect(json!({})));
        other.ws.send_text(r#"42/chat,["echo","sentinel"]"#).await;
        assert_eq!(other.packet().await, r#"42/chat,["echo-back","sentinel"]"#);
        assert!(
            matches!(next(&mut seen).await, Seen::Event(name, p) if name == "echo" && p.args == [json!("sentinel")])
        );
    });
}

/// Echoes every message and reports opens and closes.
struct Mirror(UnboundedSender<&'static str>);

impl EngineService for Mirror {
    fn on_open(&self, _socket: &EngineSocket) {
        let _ = self.0.send("open");
    }

    fn on_message(&self, socket: &EngineSocket, message: EngineMessage) {
        socket.send(message).unwrap();
    }

    fn on_close(&self, _socket: &EngineSocket) {
        let _ = self.0.send("close");
    }
}

#[test]
fn the_engine_io_endpoint_echoes_text_and_binary_and_keeps_its_sessions_apart() {
    let (tx, mut events) = unbounded_channel();
    let server = serve(
        builder().build().unwrap(),
        ServerConfig {
            engine_io: Some(EngineEndpoint::new("/engine.io/", Mirror(tx))),
            ..config()
        },
    );
    run(async {
        let mut ws = Ws::open(server.addr, "/engine.io/?EIO=4&transport=websocket", "raw")
            .await
            .unwrap();
        assert!(ws.text().await.starts_with("0{"));
        assert_eq!(within("open", events.recv()).await, Some("open"));
        ws.send_text("4hello").await;
        assert_eq!(ws.text().await, "4hello");
        ws.send_binary(vec![1, 2, 3, 4]).await;
        assert_eq!(binary(&mut ws).await, vec![1, 2, 3, 4]);
        ws.send_text("1").await;
        assert_eq!(within("close", events.recv()).await, Some("close"));

        // A Socket.IO session id is unknown at the Engine.IO path, and the other way.
        let mut http = HttpConn::open(server.addr).await;
        let open = http
            .request("GET", "/socket.io/?EIO=4&transport=polling", None)
            .await;
        let sid = serde_json::from_str::<Value>(&open.body[1..]).unwrap()["sid"]
            .as_str()
            .unwrap()
            .to_owned();
        let elsewhere = http
            .request(
                "GET",
                &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
                None,
            )
            .await;
        assert_eq!(elsewhere.status, 400);
        assert_eq!(elsewhere.json()["code"], json!(1));
    });
}
