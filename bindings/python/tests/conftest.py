"""Fixtures for the binding's suite: a hub served by itself (``hub.serve()``) or attached
to a python-socketio server (attach mode), HS256 tokens, and python-socketio clients
that record every event they receive.

Nothing here sleeps to synchronise: waits are on threading primitives with timeouts,
and a timeout is a failure.
"""

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import socketio
import uvicorn
from werkzeug.serving import make_server

import microcoaster_realtime
from microcoaster_realtime import Hub, attach_socketio

JWT_SECRET = "binding-tests-jwt-secret"
TIMEOUT = 5.0

_ids = itertools.count(1)


def uid(prefix: str) -> str:
    """A fresh id, so tests never see each other's users or modules."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def _b64(data: Any) -> str:
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(sub: Any, role: str = "user", sid: Optional[str] = None, secret: str = JWT_SECRET) -> str:
    """An HS256 JWT with claims sub, role, sid and exp."""
    claims: Dict[str, Any] = {"sub": str(sub), "role": role, "exp": int(time.time()) + 3600}
    if sid is not None:
        claims["sid"] = sid
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


class Recorder:
    """A socketio.Client that records every event it receives, in order."""

    def __init__(self) -> None:
        self.client = socketio.Client(reconnection=False, handle_sigint=False)
        self.events: List[Tuple[str, Any]] = []
        self.disconnects: List[Any] = []
        self.connect_errors: List[Any] = []
        # Events before this index were accounted for by an earlier check.
        self.checked = 0
        self._changed = threading.Condition()
        # python-engineio hands every message to a new thread (`run_async=True` in
        # `Client._receive_packet`), so two events that arrive back to back could be
        # recorded in either order. The recorder promises arrival order (tests check that
        # the server never reorders), so messages are handled on the read loop, in order;
        # its handlers only append under a lock, never wait.
        eio = self.client.eio
        trigger = eio._trigger_event

        def in_arrival_order(event: str, *args: Any, **kwargs: Any) -> Any:
            if event == "message":
                kwargs["run_async"] = False
            return trigger(event, *args, **kwargs)

        setattr(eio, "_trigger_event", in_arrival_order)

        @self.client.on("*")
        def any_event(event: str, data: Any = None) -> None:
            self._record(lambda: self.events.append((event, data)))

        @self.client.event
        def connect_error(data: Any) -> None:
            self._record(lambda: self.connect_errors.append(data))

        @self.client.event
        def disconnect(reason: Any = None) -> None:
            self._record(lambda: self.disconnects.append(reason))

    def _record(self, change: Callable[[], None]) -> None:
        with self._changed:
            change()
            self._changed.notify_all()

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; got {self.names()}")
            return condition()

    def wait_event(self, name: str, predicate: Callable[[Any], bool] = lambda data: True) -> Any:
        return self.events[self.wait_index(name, predicate)][1]

    def wait_index(self, name: str, predicate: Callable[[Any], bool] = lambda data: True) -> int:
        """The position in ``events`` of the first ``name`` event whose data matches."""

        def found() -> Optional[Tuple[int]]:
            for index, (event, data) in enumerate(self.events):
                if event == name and predicate(data):
                    return (index,)
            return None

        return int(self.wait(found, repr(name))[0])

    def names(self) -> List[str]:
        with self._changed:
            return [event for event, _ in self.events]

    def close(self) -> None:
        # Teardown only: an abortive close, because a clean websocket close against
        # werkzeug's development server (the attach-mode host) waits 3 s for a close
        # frame that server never sends. The hub notices the socket went away either way.
        if self.client.connected:
            ws = getattr(self.client.eio, "ws", None)
            if ws is not None and ws.sock is not None:
                ws.sock.shutdown(socket.SHUT_RDWR)
            self.client.eio.disconnect(abort=True)


class AsgiServer:
    """An ASGI app served by uvicorn on 127.0.0.1 from its own event loop thread. The
    listening socket is bound and listening before the thread starts, so clients may
    connect at once."""

    def __init__(self, app: Any) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = uvicorn.Config(app, ws="wsproto", lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.server.serve(sockets=[listener]))
                # Engine.IO's ping and service tasks outlive the server: end them here so
                # the loop closes cleanly.
                pending = asyncio.all_tasks(self.loop)
                for task in pending:
                    task.cancel()
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                listener.close()
                self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def on_loop(self, work: Callable[[], Any]) -> Any:
        """Runs ``work`` on the server's event loop and returns its result."""

        async def call() -> Any:
            return work()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(TIMEOUT)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "uvicorn did not stop"


class Setup:
    """A hub reachable over Socket.IO at ``url``, in one of the two modes."""

    def __init__(self, mode: str, config: Optional[Dict[str, Any]] = None) -> None:
        self.mode = mode
        config = dict(config or {})
        config.setdefault("jwt_secret", JWT_SECRET)
        self.hub = Hub(config)
        self.recorders: List[Recorder] = []
        if mode == "serve":
            self.server = self.hub.serve("127.0.0.1", 0)
            self.url = self.server.url
        elif mode == "attach-async":
            self._serve_async()
        else:
            self.sio = socketio.Server(async_mode="threading")
            self.bridge = attach_socketio(self.hub, self.sio)
            self.http = make_server("127.0.0.1", 0, socketio.WSGIApp(self.sio), threaded=True)
            self.url = f"http://127.0.0.1:{self.http.server_port}"
            self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
            self.thread.start()

    def _serve_async(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="asgi")
        self.bridge = attach_socketio(self.hub, self.sio)
        self.asgi = AsgiServer(socketio.ASGIApp(self.sio))
        self.url = self.asgi.url

    def on_loop(self, work: Callable[[], Any]) -> Any:
        """Runs ``work`` on the async server's event loop (attach-async mode)."""
        return self.asgi.on_loop(work)

    def client(
        self,
        auth: Optional[Dict[str, Any]] = None,
        transports: Optional[List[str]] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> Recorder:
        """A connected client (authenticated at connect when ``auth`` is given)."""
        recorder = Recorder()
        self.recorders.append(recorder)
        recorder.client.connect(
            self.url, auth=auth, transports=transports or ["websocket"], headers=headers or {}, wait_timeout=TIMEOUT
        )
        return recorder

    def user(self, user_id: str, page: str = "modules", role: str = "user") -> Recorder:
        """A client authenticated with a JWT for ``user_id``, past its page snapshot (the
        events up to it count as checked)."""
        recorder = self.client({"token": mint_token(user_id, role), "page": page})
        recorder.checked = recorder.wait_index("page:snapshot") + 1
        return recorder

    def assert_events_through_sentinel(self, recorder: Recorder, user_id: str, expected: List[str]) -> None:
        """The "receives nothing else" check, an allow-list paired with its positive
        sentinel: ``test:sentinel`` with a fresh nonce is sent to ``user_id`` and must
        arrive, and the events ``recorder`` received since its previous check (or since
        ``user()`` returned it, or since it connected) must be exactly ``expected``, in
        order: any other event, whatever its name, fails."""
        nonce = str(uuid.uuid4())
        assert self.hub.emit_to_user(user_id, "test:sentinel", {"nonce": nonce}).connections >= 1
        index = recorder.wait_index("test:sentinel", lambda data: isinstance(data, dict) and data.get("nonce") == nonce)
        names = recorder.names()[recorder.checked:index]
        recorder.checked = index + 1
        assert names == expected, f"events through the sentinel: {names}, expected {expected}"

    def close(self) -> None:
        for recorder in self.recorders:
            recorder.close()
        if self.mode == "serve":
            self.server.shutdown()
        elif self.mode == "attach-async":
            self.asgi.stop()
        else:
            self.http.shutdown()
        self.hub.shutdown(1.0)


@pytest.fixture(params=["serve", "attach", "attach-async"])
def setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    """The same hub behind its own server, behind a python-socketio ``Server`` and behind
    a python-socketio ``AsyncServer`` served by uvicorn."""
    running = Setup(request.param)
    yield running
    running.close()


@pytest.fixture
def make_setup() -> Iterator[Callable[..., Setup]]:
    """Builds setups with a config (hooks), closed after the test."""
    made: List[Setup] = []

    def make(mode: str, config: Optional[Dict[str, Any]] = None) -> Setup:
        running = Setup(mode, config)
        made.append(running)
        return running

    yield make
    for running in made:
        running.close()

