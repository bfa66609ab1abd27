"""Binary values between python-socketio clients and the hub, in every mode: ``bytes``
in a host emit reach the user's client as ``bytes`` (and nobody else), and ``bytes`` a
client sends reach the ``on_client_event`` hook as ``bytes``, in place."""

import threading
from typing import Any, Callable, Dict, List

import pytest

from conftest import Setup, uid

MODES = ["serve", "attach", "attach-async"]


def test_bytes_in_a_host_emit_reach_one_user_as_bytes(setup: Setup) -> None:
    ada, bob = uid("ada"), uid("bob")
    ada_tab, bob_tab = setup.user(ada), setup.user(bob)
    image = bytes([0, 1, 2, 255])
    outcome = setup.hub.emit_to_user(ada, "photo", {"img": image, "parts": [bytearray(b"ab"), "c"]})
    assert outcome.connections == 1
    photo = ada_tab.wait_event("photo")
    assert photo["img"] == image and isinstance(photo["img"], bytes)
    assert photo["parts"][0] == b"ab" and photo["parts"][1] == "c"
    # Bob's next event is the sentinel: nothing of Ada's came first.
    setup.assert_events_through_sentinel(bob_tab, bob, [])
    setup.assert_events_through_sentinel(ada_tab, ada, ["photo"])


@pytest.mark.parametrize("mode", MODES)
def test_bytes_from_a_client_reach_the_hook_as_bytes(make_setup: Callable[..., Setup], mode: str) -> None:
    seen: List[Dict[str, Any]] = []
    arrived = threading.Event()

    def on_client_event(event: Dict[str, Any]) -> None:
        seen.append(event)
        arrived.set()

    setup = make_setup(mode, {"on_client_event": on_client_event})
    ada = uid("ada")
    tab = setup.user(ada)
    tab.client.call("upload", {"file": b"\x09\x08\x00\x07", "name": "a.bin"}, timeout=5)
    assert arrived.wait(5), "the hook ran"
    assert seen[0]["event"] == "upload" and seen[0]["userId"] == ada
    assert seen[0]["data"] == {"file": b"\x09\x08\x00\x07", "name": "a.bin"}
    assert isinstance(seen[0]["data"]["file"], bytes)


@pytest.mark.parametrize("mode", MODES)
def test_the_hook_answers_the_ack_with_the_bytes_it_got(make_setup: Callable[..., Setup], mode: str) -> None:
    def on_client_event(event: Dict[str, Any]) -> Any:
        if event["event"] != "echo":
            return None
        return {"back": event["data"]["file"], "by": event["userId"]}

    setup = make_setup(mode, {"on_client_event": on_client_event})
    ada = uid("ada")
    tab = setup.user(ada)
    sent = bytes([0, 255, 1, 254, 0])
    answer = tab.client.call("echo", {"file": sent}, timeout=5)
    assert answer == {"back": sent, "by": ada}
    assert isinstance(answer["back"], bytes)
    # An event the hook does not answer is acked with nothing, as before.
    assert tab.client.call("other", {"n": 1}, timeout=5) is None
    setup.assert_events_through_sentinel(tab, ada, [])


def test_binary_outside_a_payload_is_still_refused(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup("serve")
    with pytest.raises(TypeError):
        setup.hub.emit_module_online(uid("MC"), {"userId": "1", "photo": b"x"})
