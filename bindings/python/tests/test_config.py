"""Hub(config): pages, routes, limits and the device grace period change behaviour as
documented; bad configurations are refused with a clear error."""

from typing import Any, List, Tuple

import pytest

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
        ({"limits": {"queue_size": 1}}, ValueError, "unknown key"),
        ({"device_grace": "soon"}, TypeError, "seconds"),
        ({"device_grace": -1}, ValueError, "duration"),
        ({"persist": {"durability": "sync"}}, ValueError, "needs \"path\""),
        ({"pages": "modules"}, TypeError, "list of str"),
        ({"jwt_secret": 42}, TypeError, "str or bytes"),
        ({"jwt_secret": ""}, ValueError, "must not be empty"),
    ],
)
def test_bad_configurations_are_refused(config: Any, error: Any, message: str) -> None:
    with pytest.raises(error, match=message):
        Hub(config)


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
    with pytest.raises(ValueError, match="durability"):
        Hub({"persist": {"path": str(path), "durability": "sometimes"}})
