"""Attach mode with a ``socketio.AsyncServer`` behind uvicorn (ASGI): frames from emits
made on the event loop, on worker threads and on the hub's own timer thread reach the
async server's sockets in order; the CONNECT's auth is checked; logout closes. The
emits, isolation and admin-only tests of ``test_emits.py`` run in this mode too (the
``setup`` fixture's ``attach-async``)."""

import threading
import uuid
from typing import Any, List

import pytest
import socketio

from conftest import Setup, mint_token, uid


def test_refused_auth_at_connect_is_a_connect_error(make_setup: Any) -> None:
    setup: Setup = make_setup("attach-async")
    with pytest.raises(socketio.exceptions.ConnectionError):
        setup.client({"token": mint_token("x", secret="wrong")})
    assert setup.recorders[-1].connect_errors[0]["data"]["code"] == "bad_signature"
    assert setup.bridge.connections == {}
    # The server still admits a good token afterwards.
    setup.user(uid("ada"))


def test_emits_from_the_loop_and_a_worker_thread_arrive_in_emit_order(make_setup: Any) -> None:
    setup: Setup = make_setup("attach-async")
    user = uid("ada")
    tab = setup.user(user)
    other_user = uid("bob")
    other = setup.user(other_user)
    count = 60

    def emit(seq: int) -> Any:
        return setup.hub.emit_to_user(user, "test:seq", {"seq": seq})

    for seq in range(count):
        if seq % 2:
            outcome = setup.on_loop(lambda: emit(seq))
        else:
            results: List[Any] = []
            worker = threading.Thread(target=lambda: results.append(emit(seq)))
            worker.start()
            worker.join()
            outcome = results[0]
        assert outcome.connections == 1
    tab.wait(lambda: len([e for e, _ in tab.events if e == "test:seq"]) == count, f"{count} test:seq")
    assert [d["seq"] for e, d in tab.events if e == "test:seq"] == list(range(count))
    setup.assert_events_through_sentinel(other, other_user, [])


def test_a_frame_from_the_device_grace_timer_thread_reaches_the_async_client(make_setup: Any) -> None:
    setup: Setup = make_setup("attach-async", {"device_grace": 0.05})
    user, module = uid("ada"), uid("MC")
    tab = setup.user(user)
    setup.hub.emit_module_added({"moduleId": module, "userId": user})
    setup.hub.register_device_key(module, user, "k" * 24)
    board = setup.hub.connect_in_process()
    board.authenticate({"moduleId": module, "deviceKey": "k" * 24})
    tab.wait_event("module:status:changed", lambda d: d["moduleId"] == module and d["online"] is True)
    board.close()  # the grace timer's thread emits the offline status
    offline = tab.wait_event("module:status:changed", lambda d: d["moduleId"] == module and d["online"] is False)
    assert offline["moduleId"] == module


def test_logout_from_a_coroutine_closes_only_that_sessions_sockets(make_setup: Any) -> None:
    setup: Setup = make_setup("attach-async")
    user = uid("ada")
    setup.hub.emit_user_logged_in({"id": user}, "s-old")
    setup.hub.emit_user_logged_in({"id": user}, "s-new")
    old = setup.client({"userId": user, "sessionId": "s-old", "page": "modules"})
    new = setup.client({"userId": user, "sessionId": "s-new", "page": "modules"})
    for tab in (old, new):
        tab.wait_event("page:snapshot")
    setup.on_loop(lambda: setup.hub.emit_user_logged_out({"id": user}, "s-old"))
    old.wait_event("user:session:ended")
    old.wait(lambda: old.disconnects, "the logged-out socket closed")
    nonce = str(uuid.uuid4())
    assert setup.hub.emit_to_user(user, "test:sentinel", {"nonce": nonce}).connections == 1
    new.wait_event("test:sentinel", lambda d: d["nonce"] == nonce)
    assert not new.disconnects
