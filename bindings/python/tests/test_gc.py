"""A hub referenced by its own hooks is still garbage: the collector sees the callables
a ``Hub`` holds (``__traverse__``), breaks the cycle (``__clear__``), and letting the hub
go stops the servers it started. Each "is gone" check is paired with a hub in the same
kind of cycle that is still referenced and keeps serving."""

import gc
import json
import socket
import subprocess
import sys
import uuid
import weakref
from typing import Any, Dict, List, Tuple

import socketio

from microcoaster_realtime import HostConnection, Hub, attach_socketio

from conftest import JWT_SECRET, Recorder, mint_token, uid


def served_hub_in_a_cycle() -> Tuple[Hub, Any]:
    """A served hub whose hooks refer back to it: a closure and a bound method."""

    class Backend:
        def __init__(self) -> None:
            self.hub = Hub(
                {
                    "jwt_secret": JWT_SECRET,
                    "stats_provider": self.stats,
                    "before_emit": lambda name, audience, payload: self.hub is not None,
                }
            )

        def stats(self) -> Dict[str, Any]:
            return {"modules": 1 if self.hub is not None else 0}

    hub = Backend().hub
    return hub, hub.serve("127.0.0.1", 0)


def connect(url: str, user: str) -> Recorder:
    recorder = Recorder()
    recorder.client.connect(url, auth={"token": mint_token(user), "page": "modules"}, transports=["websocket"])
    recorder.wait_event("page:snapshot")
    return recorder


def port_is_free(port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def test_a_served_hub_whose_hooks_refer_to_it_is_collected_and_its_server_stopped() -> None:
    kept_hub, kept_server = served_hub_in_a_cycle()
    dropped_hub, dropped_server = served_hub_in_a_cycle()
    kept_user, dropped_user = uid("kept"), uid("dropped")
    kept_tab = connect(kept_server.url, kept_user)
    dropped_tab = connect(dropped_server.url, dropped_user)
    dropped_port = dropped_server.address[1]
    assert not port_is_free(dropped_port)

    kept = weakref.ref(kept_hub)
    dropped = weakref.ref(dropped_hub)
    holder: List[Hub] = [kept_hub]
    del kept_hub, dropped_hub
    gc.collect()

    assert dropped() is None, "a hub referenced only by its own hooks must be collected"
    dropped_tab.wait(lambda: dropped_tab.disconnects, "the collected hub's socket closed")
    assert dropped_server.connections == 0
    assert port_is_free(dropped_port), "the collected hub's server still holds its port"

    # The positive pair: the hub still referenced survives the collection and serves.
    assert kept() is holder[0]
    nonce = str(uuid.uuid4())
    assert holder[0].emit_to_user(kept_user, "test:sentinel", {"nonce": nonce}).connections == 1
    kept_tab.wait_event("test:sentinel", lambda data: data["nonce"] == nonce)
    assert not holder[0].emit_stats_update().unchanged  # the bound-method hook still runs
    kept_tab.close()
    dropped_tab.close()
    kept_server.shutdown()
    holder[0].shutdown(1.0)


def test_an_attached_python_socketio_server_referring_to_its_hub_is_collected() -> None:
    def attached() -> Tuple["weakref.ref[Hub]", HostConnection, List[str]]:
        hub = Hub({"jwt_secret": JWT_SECRET})
        sio = socketio.Server(async_mode="threading")
        attach_socketio(hub, sio)  # sio's handlers hold the bridge, which holds the hub
        received: List[str] = []
        # Like the bridge's own send, this one reaches sio and so the hub.
        connection = hub.attach(lambda packet: received.append(packet) if sio else None)
        hub.emit_user_logged_in({"id": "ada"}, "s1")
        connection.message("client:authenticate", {"userId": "ada", "sessionId": "s1"})
        received.clear()
        return weakref.ref(hub), connection, received

    dropped, dropped_connection, _ = attached()
    kept, kept_connection, kept_received = attached()
    holder = kept()
    gc.collect()
    assert dropped() is None, "the hub, its bridge and the python-socketio server form garbage"

    # The positive pair: the hub still referenced survives and still sends.
    assert holder is not None and kept() is holder
    assert holder.emit_to_user("ada", "test:sentinel", {}).connections == 1
    assert len(kept_received) == 1 and kept_received[0].startswith('2["test:sentinel"')
    for connection in (dropped_connection, kept_connection):
        connection.detach()
    holder.shutdown(1.0)


PROBE = """
import gc, json, os, weakref
from microcoaster_realtime import Hub

def threads():
    return len(os.listdir("/proc/self/task"))

base = threads()
kept = Hub({"before_emit": lambda *args: kept is not None, "device_grace": 0.05})
kept_server = kept.serve("127.0.0.1", 0)
with_kept = threads()
hub = Hub({"before_emit": lambda *args: hub is not None, "device_grace": 0.05})
server = hub.serve("127.0.0.1", 0)
with_both = threads()
ref = weakref.ref(hub)
del hub
gc.collect()
print(json.dumps({"base": base, "with_kept": with_kept, "with_both": with_both,
                  "after": threads(), "collected": ref() is None}))
"""


def test_a_collected_hub_leaves_no_thread_behind() -> None:
    # A fresh interpreter, so no other test's threads blur the count.
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    assert counts["collected"]
    assert counts["with_both"] > counts["with_kept"] > counts["base"], counts
    # The collected hub's threads are gone; the referenced hub keeps its own.
    assert counts["after"] == counts["with_kept"], counts
