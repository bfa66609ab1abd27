"""Hub(config): pages, routes, limits and the device grace period change behaviour as
documented; bad configurations are refused with a clear error."""

import re
from typing import Any, List, Tuple

import pytest
import requests

import microcoaster_realtime as mcrt
from microcoaster_realtime import Hub, InProcessConnection


def names_until(tab: InProcessConnection, last: str) -> List[str]:
    """Event names received up to and including ``last`` (a positive sentinel)."""
    seen: List[str] = []
    while True:
        frame: Any = tab.recv(5.0)
        assert frame is not None, f"timed out waiting for {last}; got {seen}"
        seen.append(frame[0])
        if frame[0] == last:
            return seen


def logged_in_tab(hub: Hub, user: str, page: str) -> InProcessConnection:
    hub.emit_user_logged_in({"id": user}, f"s-{user}-{page}")
    tab = hub.connect_in_process()
    tab.authenticate({"userId": user, "sessionId": f"s-{user}-{page}", "page": page})
    return tab


def test_pages_and_routes() -> None:
    hub = Hub({"pages": ["modules", "admin", "dashboard", "stats"], "routes": {"cart:moved": {"users": ["dashboard"]}}})
    on_stats = logged_in_tab(hub, "ada", "stats")
    on_modules = logged_in_tab(hub, "ada", "modules")
    on_dashboard = logged_in_tab(hub, "ada", "dashboard")
    assert hub.emit_to_user("ada", "cart:moved", {}).connections == 1
    hub.emit_to_user("ada", "test:sentinel", {})
    assert "cart:moved" in names_until(on_dashboard, "test:sentinel")
    assert "cart:moved" not in names_until(on_modules, "test:sentinel")
    assert names_until(on_stats, "test:sentinel")[:2] == ["auth:ok", "page:snapshot"]
    with pytest.raises(mcrt.MessageRefusedError) as refused:
        hub.connect_in_process().authenticate({"userId": "ada", "sessionId": "s-ada-stats", "page": "nowhere"})
    assert refused.value.code == "unknown_page"
    with pytest.raises(mcrt.InvalidArgumentError):
        Hub({"pages": ["modules"]})  # admin is required


def test_max_auth_failures_closes_the_connection() -> None:
    hub = Hub({"limits": {"max_auth_failures": 2, "queue_capacity": 16, "max_message_bytes": 1024}})
    tab = hub.connect_in_process()
    for _ in range(2):
        with pytest.raises(mcrt.MessageRefusedError):
            tab.authenticate({"sessionId": "nobody"})
    received: List[Tuple[str, Any]] = []
    with pytest.raises(mcrt.ConnectionClosedError) as closed:
        while True:
            frame: Any = tab.recv(5.0)
            assert frame is not None
            received.append(frame)
    assert closed.value.code == "too_many_auth_failures"
    assert [name for name, _ in received] == ["auth:error", "auth:error"]
    with pytest.raises(mcrt.MessageRefusedError) as too_large:
        hub.connect_in_process().send_raw(b'{"event":"x","data":"' + b"a" * 2000 + b'"}')
    assert too_large.value.code == "too_large"


def test_device_grace_takes_a_module_offline_after_its_board_leaves() -> None:
    hub = Hub({"device_grace": 0.05})
    owner = logged_in_tab(hub, "ada", "modules")
    hub.emit_module_added({"moduleId": "MC-1", "userId": "ada"})
    hub.register_device_key("MC-1", "ada", "k" * 24)
    board = hub.connect_in_process()
    board.authenticate({"moduleId": "MC-1", "deviceKey": "k" * 24})
    names_until(owner, "module:status:changed")
    board.close()
    frame: Any = owner.recv(5.0)  # sent by the grace timer's thread
    assert frame[0] == "module:status:changed" and frame[1]["online"] is False


@pytest.mark.parametrize(
    "config, error, message",
    [
        ({"limits": {"queue_size": 1}}, ValueError, 'unknown key "limits.queue_size"'),
        ({"device_grace": "soon"}, TypeError, 'device_grace: expected a number >= 0, got string "soon"'),
        ({"device_grace": -1}, ValueError, "device_grace: expected a number >= 0, got number -1"),
        ({"persist": {"durability": "sync"}}, ValueError, "persist.path: expected a file path, got nothing"),
        ({"pages": "modules"}, TypeError, 'pages: expected a sequence, got string "modules"'),
        ({"jwt_secret": 42}, TypeError, "jwt_secret: expected a non-empty string"),
        ({"jwt_secret": ""}, ValueError, "jwtSecret: expected a non-empty secret"),
        ({"limits": {"queue_capacity": 8}, "queue_capacity": 8}, ValueError, "set the same thing"),
    ],
)
def test_bad_configurations_are_refused(config: Any, error: Any, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        Hub(config)


# The core's one schema (src/config.rs), with the same defaults as C (tests/c/test_ffi.c)
# and Node (bindings/node/test/config.test.js).
HUB_DEFAULTS = {
    "jwtSecret": None,
    "jwt": None,
    "pages": ["modules", "admin", "dashboard"],
    "routes": [],
    "queueCapacity": 65536,
    "queueMaxBytes": 2097152,
    "maxAuthFailures": 5,
    "maxConnectionsPerUser": 100,
    "maxMessageBytes": 65536,
    "snapshotPageSize": 500,
    "deviceOfflineGraceMs": 5000,
    "persist": None,
    "redis": None,
    "nodeId": None,
}
SERVE_DEFAULTS = {
    "workerThreads": 0,
    "pingIntervalMs": 25000,
    "pingTimeoutMs": 20000,
    "maxPayload": 1000000,
    "maxMessageBytes": 65536,
    "maxAttachments": 10,
    "authDeadlineMs": 10000,
    "connectTimeoutMs": 45000,
    "maxConnections": 100000,
    "maxConnectionsPerIp": 0,
    "socketioPath": "/socket.io/",
    "nativePath": "/ws",
    "shutdownDeadlineMs": 5000,
    "writeCoalesceMs": 2,
    "slowConsumerTimeoutMs": 10000,
    "apiKey": None,
    "allowedOrigins": [],
    "handshakesPerSecond": 0,
    "maxHeaderBytes": 32768,
    "headerTimeoutMs": 10000,
    "trustedProxies": [],
    "raiseFdLimit": True,
}


def test_the_config_has_the_same_keys_and_defaults_as_in_c_and_node(tmp_path: Any) -> None:
    assert mcrt.normalize_config() == HUB_DEFAULTS
    assert mcrt.normalize_config({}) == HUB_DEFAULTS
    assert mcrt.normalize_serve_config() == SERVE_DEFAULTS
    # Hooks are Python's own, not configuration.
    assert mcrt.normalize_config({"stats_provider": dict, "before_emit": [lambda *a: None]}) == HUB_DEFAULTS
    routes = [{"event": "cart:moved", "userPages": ["dashboard"], "adminPages": []}]
    python_forms = mcrt.normalize_config(
        {
            "jwt_secret": b"s3cret",
            "limits": {"queue_capacity": 16},
            "device_grace": 0.25,
            "routes": {"cart:moved": {"users": ["dashboard"]}},
            "persist": {"path": tmp_path / "x.db"},
        }
    )
    expected = {
        **HUB_DEFAULTS,
        "jwtSecret": "s3cret",
        "queueCapacity": 16,
        "deviceOfflineGraceMs": 250,
        "routes": routes,
        "persist": {"path": str(tmp_path / "x.db"), "durability": "batched"},
    }
    assert python_forms == expected
    # The C and Node keys are accepted too: one schema.
    assert mcrt.normalize_config({**expected, "jwtSecret": "s3cret"}) == expected
    assert mcrt.normalize_serve_config(ping_interval=1.5, api_key="k") == {
        **SERVE_DEFAULTS,
        "pingIntervalMs": 1500,
        "apiKey": "k",
    }


@pytest.mark.parametrize(
    "config, key",
    [
        ({"jwt_secert": "x"}, "jwt_secert"),
        ({"persist": {"path": "x", "durabilty": "sync"}}, "persist.durabilty"),
        ({"routes": {"e": {"user": []}}}, "routes.e.user"),
    ],
)
def test_an_unknown_key_is_refused_naming_it(config: Any, key: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f'unknown key "{key}"')):
        mcrt.normalize_config(config)
    with pytest.raises(ValueError, match=re.escape(f'unknown key "{key}"')):
        Hub(config)


def test_serve_refuses_what_the_schema_refuses() -> None:
    with pytest.raises(ValueError, match=re.escape("ping_interval: expected a duration > 0")):
        Hub().serve(ping_interval=0)
    with pytest.raises(ValueError, match=re.escape('unknown key "ping_intervall"')):
        mcrt.normalize_serve_config(ping_intervall=1)  # type: ignore[call-arg]


def test_optional_arguments_and_the_outcome_shape() -> None:
    hub = Hub()
    owner = logged_in_tab(hub, "ada", "modules")
    first = hub.emit_module_online("MC-9", {"userId": "ada"})
    assert (first.outcome, first.connections) == ("delivered", 1)
    assert first.to_dict() == {"outcome": "delivered", "connections": 1}
    again = hub.emit_module_online("MC-9")  # info omitted, as in C (NULL) and Node
    assert again.to_dict() == {"outcome": "unchanged", "connections": 0}
    assert (again.unchanged, again.delivered) == (True, False)  # the old names, kept
    assert hub.emit_module_offline("MC-9", None).outcome == "delivered"
    assert hub.emit_admin_action("root", "purge").outcome == "delivered"
    assert hub.emit_to_user("ada", "cart:ping").outcome == "delivered"
    seen: Any = None
    while seen is None or seen[0] != "cart:ping":
        seen = owner.recv(5.0)
        assert seen is not None
    assert seen[1] is None  # omitted data is null, as in C and Node


def test_persistence_and_audit(tmp_path: Any) -> None:
    path = tmp_path / "hub.db"
    hub = Hub({"persist": {"path": str(path), "durability": "sync"}})
    hub.emit_module_online("MC-1", {"userId": 7})
    rows = hub.audit(module_id="MC-1", kind="emit")
    assert [row["action"] for row in rows] == ["module_online"]
    assert rows[0]["outcome"] == {"outcome": "delivered", "connections": 0}
    hub.shutdown()
    again = Hub({"persist": {"path": str(path)}})
    assert again.emit_module_online("MC-1", {"userId": 7}).unchanged  # restored state
    with pytest.raises(ValueError, match="persist.durability"):
        Hub({"persist": {"path": str(path), "durability": "sometimes"}})


def snake(key: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)


# A value other than the default for every key of the server schema, by canonical key.
SERVE_VALUES = {
    "workerThreads": 1,
    "pingIntervalMs": 26000,
    "pingTimeoutMs": 21000,
    "maxPayload": 2_000_000,
    "maxMessageBytes": 32768,
    "maxAttachments": 4,
    "authDeadlineMs": 9000,
    "connectTimeoutMs": 30000,
    "maxConnections": 50,
    "maxConnectionsPerIp": 10,
    "socketioPath": "/rt/",
    "nativePath": "/native",
    "shutdownDeadlineMs": 4000,
    "writeCoalesceMs": 3,
    "slowConsumerTimeoutMs": 9500,
    "apiKey": "k",
    "allowedOrigins": ["https://app.example"],
    "handshakesPerSecond": 20,
    "maxHeaderBytes": 16384,
    "headerTimeoutMs": 5000,
    "trustedProxies": ["10.0.0.0/8"],
    "raiseFdLimit": False,
}


def test_serve_takes_every_key_of_the_server_schema() -> None:
    # Every key the schema has is covered here: a key added to the schema fails this
    # test until it is (the schema's own defaults say which keys there are).
    assert set(SERVE_VALUES) == set(mcrt.normalize_serve_config())
    assert all(SERVE_VALUES[key] != default for key, default in SERVE_DEFAULTS.items())
    hub = Hub()
    for key, value in SERVE_VALUES.items():
        for name in (snake(key), key):
            with hub.serve(**{name: value}) as server:
                assert server.config == {**SERVE_DEFAULTS, key: value}, name
    # Python's seconds, and every key at once.
    with hub.serve(ping_interval=26, ping_timeout=21, auth_deadline=9, connect_timeout=30) as server:
        assert server.config == {
            **SERVE_DEFAULTS,
            "pingIntervalMs": 26000,
            "pingTimeoutMs": 21000,
            "authDeadlineMs": 9000,
            "connectTimeoutMs": 30000,
        }
    with hub.serve(**{snake(key): value for key, value in SERVE_VALUES.items()}) as server:
        assert server.config == SERVE_VALUES
    hub.shutdown()


def test_serve_uses_what_it_was_given() -> None:
    # A setting that changes what the server does: the Socket.IO path.
    hub = Hub()
    with hub.serve(socketio_path="/rt/") as server:
        moved = requests.get(f"{server.url}/rt/?EIO=4&transport=polling", timeout=5)
        assert moved.status_code == 200 and moved.text.startswith("0{")
        assert requests.get(f"{server.url}/socket.io/?EIO=4&transport=polling", timeout=5).status_code != 200
    hub.shutdown()
