"""Wrong types raise TypeError, wrong values ValueError (InvalidArgumentError), library
refusals RealtimeError subclasses with a stable code; each is counted and the hub keeps
serving."""

import math
from typing import Any

import pytest

import microcoaster_realtime as mcrt
from microcoaster_realtime import Hub


def bad_argument_count(hub: Hub) -> int:
    return int(hub.metrics()["bad_inputs"]["python_argument"])


def test_wrong_types_raise_type_error_with_the_argument_named() -> None:
    hub = Hub()
    before = bad_argument_count(hub)
    cases: Any = [
        (lambda: hub.emit_module_online(42, {"userId": 1}), "module_id"),  # type: ignore[arg-type]
        (lambda: hub.emit_module_online("MC-1", [1]), "info: expected a dict, got list"),
        (lambda: hub.emit_module_online("MC-1", {"userId": {1, 2}}), 'info["userId"]'),
        (lambda: hub.emit_module_online("MC-1", {1: "x"}), "dict keys must be str"),
        (lambda: hub.emit_telemetry_update("MC-1", object()), "telemetry"),
        (lambda: hub.emit_user_logged_in("ada", "s"), "user: expected a dict, got str"),  # type: ignore[arg-type]
        (lambda: hub.emit_maintenance_mode(1, "m", "root"), "expected bool"),  # type: ignore[arg-type]
        (lambda: hub.emit_admin_action(None, "ban"), "admin_id: expected str or int"),  # type: ignore[arg-type]
        (lambda: hub.emit_to_user(True, "x:y"), "expected str or int, got bool"),  # type: ignore[arg-type]
        (lambda: hub.emit_stats_update([1]), "stats: expected a dict"),  # type: ignore[arg-type]
    ]
    for call, message in cases:
        with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
            call()
    assert bad_argument_count(hub) - before == len(cases)


def test_wrong_values_raise_value_error() -> None:
    hub = Hub()
    with pytest.raises(ValueError, match="not a JSON number"):
        hub.emit_telemetry_update("MC-1", {"speed": math.nan})
    with pytest.raises(ValueError, match="64 bits"):
        hub.emit_telemetry_update("MC-1", {"big": 2**80})
    deep: Any = []
    deep.append(deep)
    with pytest.raises(ValueError, match="nested deeper"):
        hub.emit_telemetry_update("MC-1", deep)
    with pytest.raises(mcrt.InvalidArgumentError) as missing:
        hub.emit_module_online("MC-NEW", {"name": "no owner"})
    assert isinstance(missing.value, ValueError) and missing.value.code == "missing_owner"
    with pytest.raises(mcrt.InvalidArgumentError) as empty:
        hub.emit_module_online("", {"userId": 1})
    assert empty.value.code == "invalid_argument"


def test_library_refusals_are_realtime_errors_with_codes() -> None:
    hub = Hub()
    with pytest.raises(mcrt.UnknownModuleError) as unknown:
        hub.emit_telemetry_update("MC-NEVER-SEEN", {"speed": 1})
    assert unknown.value.code == "unknown_module"
    hub.emit_module_online("MC-1", {"userId": "ada"})
    with pytest.raises(mcrt.OwnerMismatchError):
        hub.emit_module_online("MC-1", {"userId": "bob"})
    with pytest.raises(mcrt.ReservedEventError):
        hub.emit_to_user("ada", "admin:secret", {})
    with pytest.raises(mcrt.StatsProviderError) as no_provider:
        hub.emit_stats_update()
    assert no_provider.value.code == "no_stats_provider"
    with pytest.raises(mcrt.PersistenceError):
        hub.audit()
    with pytest.raises(mcrt.ServeError):
        with hub.serve("127.0.0.1", 0) as server:
            hub.serve("127.0.0.1", server.address[1])
    assert all(issubclass(cls, mcrt.RealtimeError) for cls in (mcrt.UnknownModuleError, mcrt.ServeError))
    # Still serving after every refusal.
    assert hub.emit_module_offline("MC-1").delivered


def test_malformed_client_frames_are_refused_and_counted() -> None:
    hub = Hub()
    with hub.connect_in_process() as tab:
        with pytest.raises(mcrt.MessageRefusedError) as refused:
            tab.send_raw(b"\xff\xfe not utf-8")
        assert refused.value.ack["code"] == refused.value.code
        with pytest.raises(mcrt.MessageRefusedError):
            tab.send("cart:move", {})  # before authenticating
    metrics = hub.metrics()
    assert metrics["bad_inputs"]["invalid_utf8"] == 1
