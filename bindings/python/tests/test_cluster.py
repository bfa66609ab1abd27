"""Two Python backends in two processes (one a threaded python-socketio ``Server`` in
attach mode, one ``hub.serve()``), each a ``Hub({"redis": ..., "node_id": ...})`` on one
real redis-server started here: a user's tabs on both get every event once, racing
identical emits give one event, a logout on one backend ends the session on both, and
another user's tab gets none of it (allow-list through a sentinel).

Needs ``redis-server`` (scripts/python-test installs it; ``MCRT_REDIS_SERVER`` may name
it): a missing binary fails the suite."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from typing import Any, Dict, Iterator, List

import pytest

from conftest import TIMEOUT, Recorder, uid

HERE = os.path.dirname(os.path.abspath(__file__))


class Redis:
    """A redis-server on a free port in a temp folder, without persistence."""

    def __init__(self) -> None:
        binary = os.environ.get("MCRT_REDIS_SERVER") or shutil.which("redis-server")
        if not binary:
            raise AssertionError("redis-server is required for this suite (scripts/python-test installs it)")
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        self.dir = tempfile.mkdtemp(prefix="mcrt-redis-")
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            raise AssertionError("redis-server exited before accepting connections")
        self.url = f"redis://127.0.0.1:{port}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Backend:
    """A backend process (cluster_backend.py) driven over its stdin/stdout."""

    def __init__(self, mode: str, config: Dict[str, Any]) -> None:
        script = os.path.join(HERE, "cluster_backend.py")
        self.process = subprocess.Popen(
            [sys.executable, script, mode, json.dumps(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.id = config["node_id"]
        self.url = self._read()["url"]

    def _read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"backend {self.id} exited ({self.process.poll()})"
        return json.loads(line)

    def send(self, method: str, *args: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"method": method, "args": list(args)}) + "\n")
        self.process.stdin.flush()

    def answer(self) -> Any:
        reply = self._read()
        assert "error" not in reply, f"on {self.id}: {reply['error']}"
        return reply["result"]

    def call(self, method: str, *args: Any) -> Any:
        self.send(method, *args)
        return self.answer()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[List[Backend]]:
    redis = Redis()
    backends = [
        Backend("attach", {"redis": redis.url, "node_id": "py-attach", "device_grace": 0}),
        Backend("serve", {"redis": redis.url, "node_id": "py-serve", "device_grace": 0}),
    ]
    yield backends
    for backend in backends:
        backend.stop()
    redis.stop()


def tab(backend: Backend, user: str, session: str, page: str = "modules") -> Recorder:
    """A tab authenticated with a session logged in on (any) backend, past its snapshot."""
    recorder = Recorder()
    recorder.client.connect(
        backend.url, auth={"userId": user, "sessionId": session, "page": page}, transports=["websocket"], wait_timeout=TIMEOUT
    )
    recorder.checked = recorder.wait_index("page:snapshot") + 1
    return recorder


def next_event(recorder: Recorder, name: str) -> Any:
    """The data of the first ``name`` event after the recorder's checked events, which
    must be the only new one; it counts as checked afterwards."""

    def found() -> Any:
        for index in range(recorder.checked, len(recorder.events)):
            if recorder.events[index][0] == name:
                return (index,)
        return None

    index = recorder.wait(found, repr(name))[0]
    assert recorder.names()[recorder.checked : index] == [], recorder.names()[recorder.checked :]
    recorder.checked = index + 1
    return recorder.events[index][1]


def names_through_sentinels(backends: List[Backend], tabs: List[Recorder], user: str) -> List[List[str]]:
    """A sentinel to ``user`` through each backend, awaited on every one of ``tabs`` (all
    of the user's tabs): per tab, the events since its last check, sentinels left out."""
    for backend in backends:
        nonce = str(uuid.uuid4())
        backend.call("emit_to_user", user, "test:sentinel", {"nonce": nonce})
        for recorder in tabs:
            recorder.wait_index("test:sentinel", lambda data, n=nonce: isinstance(data, dict) and data.get("nonce") == n)
    seen = []
    for recorder in tabs:
        last = max(i for i, (event, _) in enumerate(recorder.events) if event == "test:sentinel")
        seen.append([name for name in recorder.names()[recorder.checked : last + 1] if name != "test:sentinel"])
        recorder.checked = last + 1
    return seen


def test_two_python_backends_on_one_redis_act_as_one(cluster: List[Backend]) -> None:
    a, b = cluster
    ada, bob, ada_session, bob_session = uid("ada"), uid("bob"), uid("sa"), uid("sb")
    assert a.call("emit_user_logged_in", {"id": ada, "name": "Ada"}, ada_session)["outcome"] == "delivered"
    assert b.call("emit_user_logged_in", {"id": bob, "name": "Bob"}, bob_session)["outcome"] == "delivered"
    ada_tabs = [tab(a, ada, ada_session), tab(b, ada, ada_session, "dashboard")]
    bob_tab = tab(b, bob, bob_session)
    try:
        module = uid("m")
        assert a.call("emit_module_added", {"id": module, "userId": ada})["outcome"] == "delivered"
        assert b.call("emit_module_online", module, {"userId": ada})["outcome"] == "delivered"
        assert a.call("emit_telemetry_update", module, {"speed": 2})["outcome"] == "delivered"
        assert b.call("emit_telemetry_update", module, {"speed": 2})["outcome"] == "unchanged"
        # Once each; events of different emitting backends may interleave either way.
        expected = sorted(["user:module:added", "module:status:changed", "module:telemetry:updated"])
        assert [sorted(names) for names in names_through_sentinels(cluster, ada_tabs, ada)] == [expected, expected]

        for round in range(6):
            method = "emit_module_offline" if round % 2 == 0 else "emit_module_online"
            for backend in cluster:
                backend.send(method, module, {"userId": ada})
            outcomes = sorted(backend.answer()["outcome"] for backend in cluster)
            assert outcomes == ["delivered", "unchanged"], f"round {round}"
            # Changes decided on two backends may cross in Redis (the older is dropped as
            # stale): each round is awaited on every tab before the next.
            for recorder in ada_tabs:
                assert next_event(recorder, "module:status:changed")["online"] is (round % 2 == 1)
        assert names_through_sentinels(cluster, ada_tabs, ada) == [[], []]

        assert a.call("emit_user_logged_out", {"id": ada}, ada_session)["outcome"] == "delivered"
        for recorder in ada_tabs:
            next_event(recorder, "user:session:ended")
            recorder.wait(lambda r=recorder: r.disconnects, "the logout's disconnect")
        # The ended session no longer authenticates on either backend.
        for backend in cluster:
            probe = Recorder()
            ada_tabs.append(probe)
            probe.client.connect(backend.url, transports=["websocket"], wait_timeout=TIMEOUT)
            payload = {"userId": ada, "sessionId": ada_session, "page": "modules"}
            ack = probe.client.call("client:authenticate", payload, timeout=TIMEOUT)
            assert ack["code"] == "unknown_session", ack
        # The other user's tab got none of it.
        assert names_through_sentinels(cluster, [bob_tab], bob) == [[]]
    finally:
        for recorder in [*ada_tabs, bob_tab]:
            recorder.close()
