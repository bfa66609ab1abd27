"""python-socketio (sync client) against the real server example: both transports, JWT
and session authentication, isolation, admin events, and logout."""

import json

import pytest
import socketio
import websocket

from conftest import TIMEOUT, assert_events_through_sentinel, mint_token, uid

TRANSPORTS = [["websocket"], ["polling"]]


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_connect_with_jwt_and_receive(server, clients, transports):
    user = uid("user")
    client = clients().connect(server.url, transports=transports, auth={"token": mint_token(user)})
    assert client.client.transport() == transports[0]
    ok = client.wait_event("auth:ok")
    assert (ok["userId"], ok["role"], ok["page"]) == (user, "user", "modules")
    assert client.wait_event("page:snapshot")["modules"] == []
    module_id = uid("MC")
    answer = server.api("module_online", {"moduleId": module_id, "userId": user, "type": "Station"})
    assert answer == {"outcome": "delivered", "connections": 1}
    status = client.wait_event("module:status:changed")
    assert (status["moduleId"], status["online"]) == (module_id, True)
    telemetry = {"speed": 4.5}
    server.api("telemetry_update", {"moduleId": module_id, "telemetry": telemetry})
    assert client.wait_event("module:telemetry:updated")["telemetry"] == telemetry


def test_default_transport_upgrades_to_websocket(server, clients):
    user = uid("user")
    client = clients().connect(server.url, auth={"token": mint_token(user)})
    client.wait_event("auth:ok")
    # python-engineio completes the upgrade inside connect().
    assert client.client.transport() == "websocket"
    server.api("to_user", {"userId": user, "event": "cart:moved", "data": {"x": 1}})
    assert client.wait_event("cart:moved")["x"] == 1


def test_client_authenticate_with_ack(server, clients):
    user = uid("user")
    client = clients().connect(server.url, transports=["websocket"])
    ack = client.client.call("client:authenticate", {"token": mint_token(user), "page": "dashboard"}, timeout=TIMEOUT)
    assert (ack["userId"], ack["role"], ack["page"]) == (user, "user", "dashboard")
    assert client.wait_event("auth:ok")["userId"] == user
    bad = clients().connect(server.url, transports=["polling"])
    refused = bad.client.call("client:authenticate", {"token": "not.a.jwt"}, timeout=TIMEOUT)
    assert refused["code"] == "invalid_token"
    assert bad.wait_event("auth:error")["code"] == "invalid_token"


def test_bad_token_at_connect_is_refused(server, clients):
    client = clients()
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, transports=["websocket"], auth={"token": mint_token("x", secret="wrong")})
    assert client.connect_errors and client.connect_errors[0]["data"]["code"] == "bad_signature"


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_seed_session_payload(server, clients, transports):
    # The seed uses numbers; they are stored and sent back as strings.
    user_id = int(uid("n").rsplit("-", 1)[1]) + 900000
    session = uid("sess")
    server.api("user_logged_in", {"user": {"id": user_id, "name": "Ada", "userType": "user"}, "sessionId": session})
    payload = {"userId": user_id, "userType": "user", "page": "modules", "sessionId": session}
    client = clients().connect(server.url, transports=transports, auth=payload)
    ok = client.wait_event("auth:ok")
    assert (ok["userId"], ok["role"], ok["sessionId"]) == (str(user_id), "user", session)
    # Claiming admin with that session is refused. (Over websocket: after a refused
    # polling connect, python-engineio 4.15 may drop its own close packet, leaving the
    # server to end the session at the auth deadline.)
    liar = clients()
    with pytest.raises(socketio.exceptions.ConnectionError):
        liar.connect(server.url, transports=["websocket"], auth=dict(payload, userType="admin", page="admin"))
    assert liar.connect_errors[0]["data"]["code"] == "claims_mismatch"


def test_another_user_receives_nothing(server, clients):
    alice, bob = uid("alice"), uid("bob")
    alice_tab = clients().connect(server.url, transports=["websocket"], auth={"token": mint_token(alice)})
    bob_tabs = [
        clients().connect(server.url, transports=transports, auth={"token": mint_token(bob)})
        for transports in TRANSPORTS
    ]
    for tab in [alice_tab, *bob_tabs]:
        tab.wait_event("auth:ok")
    module_id = uid("MC")
    server.api("module_added", {"id": module_id, "userId": alice, "type": "Lift", "name": "Lift"})
    server.api("module_online", {"moduleId": module_id, "userId": alice})
    server.api("telemetry_update", {"moduleId": module_id, "telemetry": {"secret": 1}})
    server.api("to_user", {"userId": alice, "event": "private:note", "data": {"text": "hi"}})
    assert alice_tab.wait_event("private:note")["text"] == "hi"
    assert_events_through_sentinel(server, bob_tabs, bob, ["auth:ok", "page:snapshot"])
    assert_events_through_sentinel(server, alice_tab, alice, [
        "auth:ok", "page:snapshot", "user:module:added", "module:status:changed",
        "module:telemetry:updated", "private:note",
    ])


def test_admin_events_reach_admins_only(server, clients):
    admin = clients().connect(
        server.url, transports=["polling"], auth={"token": mint_token(uid("admin"), role="admin"), "page": "admin"}
    )
    user = uid("user")
    liar_token = mint_token(user)
    liar = clients().connect(server.url, transports=["websocket"])
    refused = liar.client.call(
        "client:authenticate", {"token": liar_token, "userType": "admin", "page": "admin"}, timeout=TIMEOUT
    )
    assert refused["code"] == "claims_mismatch"
    assert admin.wait_event("auth:ok")["role"] == "admin"

    stats = {"users": 2, "modules": int(uid("n").rsplit("-", 1)[1])}
    server.api("stats_update", {"stats": stats})
    assert admin.wait_event("admin:stats:updated")["stats"] == stats
    assert server.api("stats_update", {"stats": stats}) == {"outcome": "unchanged", "connections": 0}
    module_id = uid("MC")
    server.api("module_added", {"id": module_id, "userId": uid("owner"), "type": "Switch"})
    assert admin.wait_event("admin:module:added")["module"]["moduleId"] == module_id
    new_user = uid("new")
    server.api("user_registered", {"id": new_user, "name": "Bob"})
    assert admin.wait_event("admin:user:registered")["user"]["userId"] == new_user

    # The user who claimed admin, now honestly authenticated on the admin page, gets
    # none of it.
    ok = liar.client.call("client:authenticate", {"token": liar_token, "page": "admin"}, timeout=TIMEOUT)
    assert ok["role"] == "user"
    server.api("stats_update", {"stats": dict(stats, users=3)})
    server.api("user_registered", {"id": uid("new")})
    assert_events_through_sentinel(server, liar, user, ["auth:error", "auth:ok", "page:snapshot"])


@pytest.mark.parametrize("transports", TRANSPORTS, ids=["websocket", "polling"])
def test_logout_closes_the_session(server, clients, transports):
    user = uid("user")
    ended, kept = uid("sess"), uid("sess")
    for session in (ended, kept):
        server.api("user_logged_in", {"user": {"id": user, "userType": "user"}, "sessionId": session})
    closing = clients().connect(
        server.url, transports=transports,
        auth={"userId": user, "userType": "user", "page": "modules", "sessionId": ended},
    )
    staying = clients().connect(server.url, transports=transports, auth={"token": mint_token(user, sid=kept)})
    closing.wait_event("auth:ok")
    staying.wait_event("auth:ok")
    answer = server.api("user_logged_out", {"user": {"id": user}, "sessionId": ended})
    assert answer["outcome"] == "delivered"
    assert closing.wait_event("user:session:ended")["userId"] == user
    closing.wait(lambda: closing.disconnect_reasons, "the disconnect")
    assert closing.disconnect_reasons == [socketio.Client.reason.SERVER_DISCONNECT]
    assert closing.names()[-1] == "user:session:ended"
    assert_events_through_sentinel(server, staying, user, ["auth:ok", "page:snapshot"])
    assert staying.client.connected


def test_device_on_native_ws_drives_its_module(server, clients):
    """DESIGN §1: an ESP board on /ws with a device token makes its module online for its
    owner, its telemetry frames reach the owner, and its disconnection takes the module
    offline after the grace period; the board itself gets no user events."""
    owner = uid("owner")
    module = uid("MC")
    tab = clients().connect(server.url, transports=["websocket"], auth={"token": mint_token(owner)})
    tab.wait_event("auth:ok")
    board = websocket.create_connection(server.url.replace("http://", "ws://") + "/ws", timeout=TIMEOUT)
    try:
        token = mint_token(module, role="device", owner=owner)
        board.send(json.dumps({"event": "client:authenticate", "data": {"token": token}}))
        ok = json.loads(board.recv())
        assert ok["event"] == "auth:ok"
        assert (ok["data"]["moduleId"], ok["data"]["role"], ok["data"]["userId"]) == (module, "device", owner)
        online = tab.wait_event("module:status:changed", lambda d: d["moduleId"] == module)
        assert online["online"] is True
        board.send(json.dumps({"event": "telemetry", "data": {"speed": 2.5}}))
        telemetry = tab.wait_event("module:telemetry:updated", lambda d: d["moduleId"] == module)
        assert telemetry["telemetry"] == {"speed": 2.5}
        # The board got nothing of its owner's events: its next frame is the answer to a
        # second authenticate (the positive sentinel of its delivery path).
        board.send(json.dumps({"event": "client:authenticate", "data": {"token": token}}))
        assert json.loads(board.recv())["event"] == "auth:ok"
    finally:
        board.close()
    offline = tab.wait_event(
        "module:status:changed", lambda d: d["moduleId"] == module and d["online"] is False
    )
    assert offline["userId"] == owner
