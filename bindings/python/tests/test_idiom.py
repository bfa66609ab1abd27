"""The binding in Python's idiom: ``Hub(**keywords)`` (the dict form stays an alias), the
hub and its server as context managers, ``serve()``'s ``port`` / ``url`` / ``close()``,
and docstrings that ``help()`` shows."""

import pydoc
from pathlib import Path
from typing import Any, Dict, List

import pytest
import socketio

from conftest import mint_token, uid
from microcoaster_realtime import ConnectionClosedError, Hub, InProcessConnection

SECRET = "idiom-secret"


def names_until(tab: InProcessConnection, last: str) -> List[str]:
    """Event names received up to and including ``last`` (a positive sentinel)."""
    seen: List[str] = []
    while True:
        frame: Any = tab.recv(5.0)
        assert frame is not None, f"timed out waiting for {last}; got {seen}"
        seen.append(frame[0])
        if frame[0] == last:
            return seen


def admin_tab(hub: Hub, admin: str) -> InProcessConnection:
    tab = hub.connect_in_process()
    tab.authenticate({"token": mint_token(admin, "admin", secret=SECRET), "page": "admin"})
    assert names_until(tab, "page:snapshot") == ["auth:ok", "page:snapshot"]
    return tab


def test_keyword_arguments_configure_the_hub(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    hub = Hub(jwt_secret=SECRET, stats_provider=lambda: {"modules": 7}, persist={"path": database})
    admin = uid("admin")
    tab = admin_tab(hub, admin)  # the JWT secret given as a keyword verifies the token
    assert hub.emit_stats_update().connections == 1
    hub.emit_to_user(admin, "test:sentinel", {})
    assert names_until(tab, "test:sentinel") == ["admin:stats:updated", "test:sentinel"]
    hub.shutdown(1.0)
    assert database.exists()


def test_the_dict_form_and_keywords_combine_but_a_key_is_given_once() -> None:
    hub = Hub({"jwt_secret": SECRET}, stats_provider=lambda: {"modules": 1})
    tab = admin_tab(hub, uid("admin"))
    assert hub.emit_stats_update().connections == 1
    tab.close()
    hub.shutdown(1.0)
    with pytest.raises(TypeError, match="jwt_secret given both"):
        Hub({"jwt_secret": SECRET}, jwt_secret=SECRET)
    with pytest.raises(ValueError, match="jwt_secre"):
        Hub(jwt_secre=SECRET)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="expected a dict"):
        Hub(["jwt_secret"], pages=["modules"])  # type: ignore[arg-type]


def test_the_hub_is_a_context_manager_that_shuts_down() -> None:
    settings: Dict[str, Any] = {"jwt_secret": SECRET}
    with Hub(**settings) as hub:
        admin = uid("admin")
        tab = admin_tab(hub, admin)
        hub.emit_to_user(admin, "test:sentinel", {})
        assert names_until(tab, "test:sentinel") == ["test:sentinel"]
    with pytest.raises(ConnectionClosedError):
        while tab.recv(5.0) is not None:
            pass


def test_serve_returns_a_server_with_port_url_and_close() -> None:
    hub = Hub(jwt_secret=SECRET)
    server = hub.serve("127.0.0.1", 0)
    assert server.port == server.address[1] and server.port > 0
    assert server.host == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}"
    client = socketio.Client(reconnection=False, handle_sigint=False)
    client.connect(server.url, transports=["websocket"], wait_timeout=5)
    assert server.connections == 1
    client.disconnect()
    server.close()
    assert server.connections == 0
    late = socketio.Client(reconnection=False, handle_sigint=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        late.connect(server.url, transports=["websocket"], wait_timeout=5)
    server.close()  # idempotent
    hub.shutdown(1.0)


def test_help_shows_the_docstrings() -> None:
    text = pydoc.plain(pydoc.render_doc(Hub))
    assert "keyword arguments" in text and "emit_module_online" in text
    assert Hub.serve.__doc__ and "Socket.IO" in Hub.serve.__doc__
    with Hub() as hub, hub.serve("127.0.0.1", 0) as server:
        server_doc = pydoc.plain(pydoc.render_doc(type(server)))
    assert "close" in server_doc and "The bound port" in server_doc
