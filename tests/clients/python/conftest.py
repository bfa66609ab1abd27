"""Shared fixtures for the python-socketio suite: the real server example as a child
process, the HTTP API, HS256 tokens, and clients that record every event they receive.

Nothing here sleeps to synchronise: waits are on threading primitives with timeouts, and
a timeout is a failure.
"""

import base64
import hashlib
import hmac
import itertools
import json
import os
import pathlib
import re
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import requests
import socketio

REPO = pathlib.Path(__file__).resolve().parents[3]
JWT_SECRET = "client-tests-jwt-secret"
API_KEY = "client-tests-api-key"
TIMEOUT = 5.0
DEVICE_GRACE_MS = 300

_ids = itertools.count(1)


def uid(prefix):
    """A fresh id so tests sharing one server never see each other's users."""
    return f"{prefix}-py{os.getpid()}-{next(_ids)}"


def server_binary():
    if os.environ.get("MCRT_SERVER_BIN"):
        return pathlib.Path(os.environ["MCRT_SERVER_BIN"])
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    return target / "ci" / "examples" / "server"


def _b64(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(sub, role="user", sid=None, exp=None, secret=JWT_SECRET, owner=None):
    """An HS256 JWT with claims sub, role, sid, exp (and owner, for a device token)."""
    claims = {"sub": str(sub), "role": role, "exp": exp or int(time.time()) + 3600}
    if sid is not None:
        claims["sid"] = sid
    if owner is not None:
        claims["owner"] = str(owner)
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


class Server:
    """The server example running as a child process."""

    def __init__(self):
        binary = server_binary()
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: cargo build --profile ci --example server")
        self.dir = tempfile.TemporaryDirectory(prefix="mcrt-py-")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        self.process = subprocess.Popen(
            [
                str(binary),
                "--addr", "127.0.0.1:0",
                "--db", os.path.join(self.dir.name, "test.db"),
                "--jwt-secret", JWT_SECRET,
                "--api-key", API_KEY,
                "--device-grace-ms", str(DEVICE_GRACE_MS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.output = []
        found = threading.Event()
        self.url = None

        def read():
            for line in self.process.stdout:
                self.output.append(line)
                match = re.search(r"listening on (http://\S+)", line)
                if match and self.url is None:
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(20):
            self.process.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        self.http = requests.Session()

    def api(self, call, body, key=API_KEY, expect=200):
        response = self.http.post(
            f"{self.url}/api/v1/emit/{call}",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=TIMEOUT,
        )
        assert response.status_code == expect, f"{call}: {response.status_code} {response.text}"
        return response.json()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.dir.cleanup()


class Recorder:
    """A socketio.Client that records every event it receives, in order."""

    def __init__(self, **client_options):
        self.client = socketio.Client(reconnection=False, handle_sigint=False, **client_options)
        self.events = []
        self.disconnect_reasons = []
        self.connect_errors = []
        self._changed = threading.Condition()

        @self.client.on("*")
        def any_event(event, data=None):
            self._record(lambda: self.events.append((event, data)))

        @self.client.event
        def connect_error(data):
            self._record(lambda: self.connect_errors.append(data))

        @self.client.event
        def disconnect(reason=None):
            self._record(lambda: self.disconnect_reasons.append(reason))

    def _record(self, change):
        with self._changed:
            change()
            self._changed.notify_all()

    def connect(self, url, **options):
        self.client.connect(url, wait_timeout=TIMEOUT, **options)
        return self

    def wait(self, condition, what, timeout=TIMEOUT):
        """Waits until condition() is truthy; fails after timeout seconds."""
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; got {self.names()}")
            return condition()

    def wait_event(self, name, predicate=lambda data: True, timeout=TIMEOUT):
        def found():
            for event, data in self.events:
                if event == name and predicate(data):
                    return (data,)
            return None

        return self.wait(found, repr(name), timeout)[0]

    def names(self):
        return [event for event, _ in self.events]

    def close(self):
        if self.client.connected:
            self.client.disconnect()


def assert_events_through_sentinel(server, recorders, user_id, expected):
    """The "receives nothing else" check, an allow-list paired with a positive sentinel:
    one `test:sentinel` with a fresh nonce is sent to `user_id` through the API and must
    reach each of `recorders` (one or a list), and each must have received exactly
    `expected`, in order, since it connected, then that sentinel: any other event,
    whatever its name, fails (a connection's events arrive in the order they were
    queued)."""
    recorders = recorders if isinstance(recorders, list) else [recorders]
    nonce = str(uuid.uuid4())
    server.api("to_user", {"userId": user_id, "event": "test:sentinel", "data": {"nonce": nonce}})
    for recorder in recorders:
        recorder.wait_event("test:sentinel", lambda data: data.get("nonce") == nonce)
        index = next(i for i, (e, d) in enumerate(recorder.events) if e == "test:sentinel" and d.get("nonce") == nonce)
        names = recorder.names()[:index]
        assert names == expected, f"events through the sentinel: {names}, expected {expected}"


@pytest.fixture(scope="session")
def server():
    running = Server()
    yield running
    running.stop()


@pytest.fixture
def clients():
    """Makes recorders and closes them after the test."""
    made = []

    def make(**options):
        recorder = Recorder(**options)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close()
