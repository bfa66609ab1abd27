"""Attach mode specifics: a python-socketio server keeps its sockets; the hub answers
acks, refuses bad credentials in the CONNECT, closes logged-out sockets, and writes one
shared packet per event."""

import threading
from typing import Any, List

import pytest
import socketio

from microcoaster_realtime import Hub

from conftest import Setup, mint_token, uid


def test_refused_auth_at_connect_is_a_connect_error(make_setup: Any) -> None:
    setup: Setup = make_setup("attach")
    with pytest.raises(socketio.exceptions.ConnectionError):
        setup.client({"token": mint_token("x", secret="wrong")})
    recorder = setup.recorders[-1]
    assert recorder.connect_errors[0]["data"]["code"] == "bad_signature"
    assert setup.bridge.connections == {}


@pytest.mark.parametrize("mode", ["attach", "attach-async"])
def test_ack_of_client_authenticate_and_page_change(make_setup: Any, mode: str) -> None:
    setup: Setup = make_setup(mode)
    user = uid("ada")
    tab = setup.client(transports=["polling"])
    ack = tab.client.call("client:authenticate", {"token": mint_token(user), "page": "dashboard"}, timeout=5)
    assert (ack["userId"], ack["page"]) == (user, "dashboard")
    tab.client.emit("client:page", {"page": "modules"})
    tab.wait(lambda: [d for e, d in tab.events if e == "page:snapshot" and d["page"] == "modules"], "snapshot")
    bad = tab.client.call("client:authenticate", {"token": "not.a.jwt"}, timeout=5)
    assert bad["code"] == "identity_change" or bad["code"] == "invalid_token"


def test_one_send_call_per_recipient_sharing_one_packet() -> None:
    hub = Hub()
    packets: List[Any] = []
    closes: List[str] = []
    hub.emit_user_logged_in({"id": "ada"}, "s1")
    conns = [hub.attach(packets.append, closes.append) for _ in range(3)]
    for conn in conns:
        conn.message("client:authenticate", {"userId": "ada", "sessionId": "s1"})
    packets.clear()
    assert hub.emit_to_user("ada", "cart:moved", {"x": 1}).connections == 3
    assert len(packets) == 3 and packets[0] is packets[1] is packets[2]
    assert packets[0].startswith('2["cart:moved",')
    hub.emit_user_logged_out({"id": "ada"}, "s1")
    assert closes == ["logged_out"] * 3
    for conn in conns:
        conn.detach()


def test_an_exception_in_send_is_counted_and_other_sockets_still_receive() -> None:
    hub = Hub()
    received: List[str] = []
    hub.emit_user_logged_in({"id": "ada"}, "s1")

    def broken(packet: str) -> None:
        raise OSError("socket gone")

    conns = [hub.attach(send) for send in (broken, received.append)]
    for conn in conns:
        conn.message("client:authenticate", {"userId": "ada", "sessionId": "s1"})
    received.clear()
    assert hub.emit_to_user("ada", "cart:moved", {}).connections == 2
    assert len(received) == 1
    assert hub.metrics()["host_send_failures"] >= 1


def test_send_runs_on_the_emitting_thread() -> None:
    hub = Hub()
    threads: List[int] = []
    hub.emit_user_logged_in({"id": "ada"}, "s1")
    conn = hub.attach(lambda packet: threads.append(threading.get_ident()))
    conn.message("client:authenticate", {"userId": "ada", "sessionId": "s1"})
    threads.clear()
    worker = threading.Thread(target=lambda: hub.emit_to_user("ada", "cart:moved", {}))
    worker.start()
    worker.join()
    assert threads == [worker.ident]


def test_detach_while_a_hook_runs_under_message_does_not_deadlock() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_authenticator(request: Any, context: Any) -> Any:
        entered.set()
        assert release.wait(10)
        return None

    hub = Hub({"authenticator": slow_authenticator})
    hub.emit_user_logged_in({"id": "ada"}, "s1")
    conn = hub.attach(lambda packet: None)
    answers: List[Any] = []
    sender = threading.Thread(
        target=lambda: answers.append(conn.message("client:authenticate", {"userId": "ada", "sessionId": "s1"}))
    )
    sender.start()
    assert entered.wait(5)
    # detach waits for the message in flight with the GIL released, so the hook (which
    # needs the GIL to return) finishes first.
    detacher = threading.Thread(target=conn.detach)
    detacher.start()
    release.set()
    sender.join(5)
    detacher.join(5)
    assert not sender.is_alive() and not detacher.is_alive()
    assert answers[0]["userId"] == "ada"
    with pytest.raises(Exception, match="detached"):
        conn.message("client:page", {"page": "modules"})
