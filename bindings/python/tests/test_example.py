"""The examples end to end. The Flask example (examples/python/app.py): its login route
registers the session so the seed's browser payload authenticates, its device route
registers a board that then authenticates itself, and its logout route closes the
session's sockets. The ASGI attach example (examples/python/attach_asgi.py) does the
same over a ``socketio.AsyncServer``, plus a frame emitted on a worker thread."""

import importlib.util
import pathlib
import sys
from types import ModuleType

import requests

from microcoaster_realtime import Hub

from conftest import TIMEOUT, AsgiServer, Recorder, Setup

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python" / "app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["flask_example"] = module
    spec.loader.exec_module(module)
    return module


def test_flask_login_device_registration_and_logout(make_setup: object) -> None:
    example = load_example()
    setup: Setup = make_setup("serve", {"stats_provider": example.compute_stats})  # type: ignore[operator]
    hub: Hub = setup.hub
    web = example.create_app(hub).test_client()
    admin = setup.user("root-admin", page="admin", role="admin")

    login = web.post("/login", json={"username": "ada", "password": "lovelace"})
    assert login.status_code == 200
    seed_payload = dict(login.get_json(), page="modules")
    tab = setup.client(seed_payload)
    assert tab.wait_event("auth:ok")["userId"] == "123"
    admin.wait_event("admin:user:logged_in")
    assert web.post("/login", json={"username": "ada", "password": "nope"}).status_code == 401

    created = web.post("/api/devices", json={"moduleId": "MC-0001-STN", "type": "Station", "name": "Gare"})
    assert created.status_code == 201
    added = tab.wait_event("user:module:added")
    assert added["module"]["moduleId"] == "MC-0001-STN"
    admin.wait_event("admin:stats:updated", lambda data: data["stats"]["modules"] == 1)
    board = hub.connect_in_process()
    board.authenticate({"moduleId": "MC-0001-STN", "deviceKey": created.get_json()["deviceKey"]})
    status = tab.wait_event("module:status:changed")
    assert (status["moduleId"], status["online"]) == ("MC-0001-STN", True)
    assert web.post("/api/devices", json={"moduleId": ""}).status_code == 400

    assert web.get("/logout").status_code == 200
    tab.wait_event("user:session:ended")
    tab.wait(lambda: tab.disconnects, "the logged-out socket closed")
    board.close()


ASGI_EXAMPLE = EXAMPLE.with_name("attach_asgi.py")


def test_asgi_attach_example_login_worker_report_and_logout() -> None:
    spec = importlib.util.spec_from_file_location("asgi_example", ASGI_EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    server = AsgiServer(example.app)
    tab = Recorder()
    try:
        login = requests.get(f"{server.url}/login", timeout=TIMEOUT)
        assert login.status_code == 200
        tab.client.connect(server.url, auth=dict(login.json(), page="modules"), transports=["websocket"])
        assert tab.wait_event("auth:ok")["userId"] == "123"
        assert requests.get(f"{server.url}/report", timeout=TIMEOUT).status_code == 202
        assert tab.wait_event("report:ready")["rows"] == 42  # emitted on a worker thread
        assert requests.get(f"{server.url}/logout", timeout=TIMEOUT).status_code == 200
        tab.wait_event("user:session:ended")
        tab.wait(lambda: tab.disconnects, "the logged-out socket closed")
    finally:
        tab.close()
        server.stop()
        example.hub.shutdown(1.0)
