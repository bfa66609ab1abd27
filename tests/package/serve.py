"""The installed wheel serving Socket.IO by itself, run by scripts/package-test in a fresh
venv where ``pip install <dist wheel>`` put it: a python-socketio client logs in with the
seed's payload, and must receive ``module:status:changed`` for its module, then nothing
but the allowed events up to a sentinel.

Usage: python serve.py <expected version>
"""

import sys
import threading
from typing import Any, List, Tuple

import socketio

import microcoaster_realtime
from microcoaster_realtime import Hub

TIMEOUT = 5.0


class Recorder:
    """A python-socketio client that records every event, so the test awaits them."""

    def __init__(self) -> None:
        self.client = socketio.Client(reconnection=False, handle_sigint=False)
        self.events: List[Tuple[str, Any]] = []
        self.changed = threading.Condition()

        @self.client.on("*")
        def any_event(event: str, data: Any = None) -> None:
            with self.changed:
                self.events.append((event, data))
                self.changed.notify_all()

    def wait(self, name: str, start: int = 0) -> int:
        def found() -> Any:
            return next((i + 1 for i, (event, _) in enumerate(self.events) if i >= start and event == name), None)

        with self.changed:
            index = self.changed.wait_for(found, TIMEOUT)
        if index is None:
            raise AssertionError(f"timed out waiting for {name}; got {[e for e, _ in self.events]}")
        return int(index) - 1


def main(expected: str) -> None:
    assert microcoaster_realtime.__version__ == expected, microcoaster_realtime.__version__
    assert "site-packages" in microcoaster_realtime.__file__, microcoaster_realtime.__file__
    hub = Hub({"jwt_secret": "package-test-secret"})
    server = hub.serve("127.0.0.1", 0)
    browser = Recorder()
    try:
        hub.emit_user_logged_in({"id": 123, "name": "Ada", "userType": "user"}, "sess-ada")
        auth = {"userId": 123, "userType": "user", "page": "modules", "sessionId": "sess-ada"}
        browser.client.connect(server.url, auth=auth, transports=["websocket"], wait_timeout=TIMEOUT)
        snapshot = browser.wait("page:snapshot")
        assert hub.emit_module_online("MC-1234-STN", {"userId": 123, "type": "Station"}).connections == 1
        changed = browser.wait("module:status:changed", snapshot + 1)
        assert browser.events[changed][1]["online"] is True
        hub.emit_to_user(123, "test:sentinel", {})
        sentinel = browser.wait("test:sentinel", changed + 1)
        names = [event for event, _ in browser.events[snapshot + 1 : sentinel]]
        assert names == ["module:status:changed"], names
    finally:
        browser.client.disconnect()
        server.shutdown()
        hub.shutdown(1.0)
    print("wheel: a python-socketio client received module:status:changed from Hub.serve")


if __name__ == "__main__":
    main(sys.argv[1])
