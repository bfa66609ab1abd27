"""Every emit of DESIGN §5 from Python, received by python-socketio clients connected to
``hub.serve()`` and to a python-socketio server in attach mode: the right recipients,
isolation between users, admin-only events, and unchanged emits that send nothing."""

import microcoaster_realtime
import pytest

from conftest import Setup, mint_token, uid


def test_the_installed_wheel_is_tested() -> None:
    assert "site-packages" in microcoaster_realtime.__file__


def test_module_online_offline_reach_only_the_owner_and_admins(setup: Setup) -> None:
    ada, bob, admin_id = uid("ada"), uid("bob"), uid("admin")
    ada_tab = setup.user(ada)
    bob_tab = setup.user(bob)
    admin = setup.user(admin_id, page="admin", role="admin")
    module = uid("MC")
    outcome = setup.hub.emit_module_online(module, {"userId": ada, "type": "Station", "name": "Station"})
    assert (outcome.unchanged, outcome.delivered, outcome.connections) == (False, True, 2)
    status = ada_tab.wait_event("module:status:changed")
    assert (status["moduleId"], status["online"], status["userId"]) == (module, True, ada)
    assert admin.wait_event("module:status:changed")["moduleId"] == module
    # Already online: unchanged, nothing sent (sentinel proves the connection is live).
    again = setup.hub.emit_module_online(module, {"userId": ada})
    assert again.unchanged and again.connections == 0
    assert setup.hub.emit_module_offline(module).connections == 2
    ada_tab.wait_event("module:status:changed", lambda d: d["online"] is False)
    assert setup.hub.emit_module_offline(module, {"userId": ada}).unchanged
    setup.assert_events_through_sentinel(ada_tab, ada, ["module:status:changed", "module:status:changed"])
    setup.assert_events_through_sentinel(bob_tab, bob, [])


def test_module_added_and_removed(setup: Setup) -> None:
    ada, admin_id = uid("ada"), uid("admin")
    ada_tab = setup.user(ada)
    admin = setup.user(admin_id, page="admin", role="admin")
    module = {"id": uid("MC"), "userId": ada, "name": "Lift", "type": "Lift"}
    assert setup.hub.emit_module_added(module).connections == 2
    added = ada_tab.wait_event("user:module:added")
    assert added["module"]["moduleId"] == module["id"]
    assert admin.wait_event("admin:module:added")["module"]["moduleId"] == module["id"]
    assert setup.hub.emit_module_added(module).unchanged
    assert setup.hub.emit_module_removed(module).connections == 2
    ada_tab.wait_event("user:module:removed")
    admin.wait_event("admin:module:removed")
    assert setup.hub.emit_module_removed(module).unchanged
    setup.assert_events_through_sentinel(ada_tab, ada, ["user:module:added", "user:module:removed"])


def test_telemetry_reaches_the_owner_only_and_equal_values_are_unchanged(setup: Setup) -> None:
    ada, bob = uid("ada"), uid("bob")
    ada_tab, bob_tab = setup.user(ada), setup.user(bob)
    module = uid("MC")
    setup.hub.emit_module_online(module, {"userId": ada})
    telemetry = {"speed": 4.5, "sensors": [1, 2, 3], "ok": True, "note": None}
    assert setup.hub.emit_telemetry_update(module, telemetry).connections == 1
    assert ada_tab.wait_event("module:telemetry:updated")["telemetry"] == telemetry
    assert setup.hub.emit_telemetry_update(module, dict(telemetry)).unchanged
    setup.assert_events_through_sentinel(ada_tab, ada, ["module:status:changed", "module:telemetry:updated"])
    setup.assert_events_through_sentinel(bob_tab, bob, [])


def test_sessions_login_logout_and_the_seed_payload(setup: Setup) -> None:
    user_id = int(uid("n").rsplit("-", 1)[1]) + 700000  # the seed's numeric ids
    admin = setup.user(uid("admin"), page="admin", role="admin")
    session, other = uid("sess"), uid("sess")
    user = {"id": user_id, "name": "Ada", "userType": "user"}
    assert not setup.hub.emit_user_logged_in(user, session).unchanged
    assert admin.wait_event("admin:user:logged_in")["user"]["userId"] == str(user_id)
    assert setup.hub.emit_user_logged_in(user, session).unchanged
    tab = setup.client({"userId": user_id, "userType": "user", "page": "modules", "sessionId": session})
    assert tab.wait_event("auth:ok")["userId"] == str(user_id)
    # Another session of the same user: the first tab hears about it.
    assert setup.hub.emit_user_logged_in(user, other).connections >= 1
    tab.wait_event("user:session:started")
    # Logging the first session out ends it and closes its socket.
    assert setup.hub.emit_user_logged_out(user, session).connections >= 1
    tab.wait_event("user:session:ended")
    tab.wait(lambda: tab.disconnects, "the socket closed after logout")
    admin.wait_event("admin:user:logged_out")
    assert setup.hub.emit_user_logged_out(user, session).unchanged


def test_profile_updates_send_only_changes(setup: Setup) -> None:
    ada = uid("ada")
    tab = setup.user(ada)
    old = {"id": ada, "name": "Ada", "email": "ada@example.org"}
    new = dict(old, name="Ada L.")
    assert setup.hub.emit_user_profile_updated(old, new).connections == 1
    assert tab.wait_event("user:profile:updated")["changes"] == {"name": "Ada L."}
    assert setup.hub.emit_user_profile_updated(new, dict(new)).unchanged
    setup.assert_events_through_sentinel(tab, ada, ["user:profile:updated"])


def test_admin_only_events_never_reach_users(setup: Setup) -> None:
    ada = uid("ada")
    tab = setup.user(ada)
    admin = setup.user(uid("admin"), page="admin", role="admin")
    new_user = {"id": uid("new"), "name": "Neo"}
    assert setup.hub.emit_user_registered(new_user).connections == 1
    assert admin.wait_event("admin:user:registered")["user"]["name"] == "Neo"
    assert setup.hub.emit_user_registered(new_user).unchanged
    stats = {"modules": 3, "users": 2}
    assert setup.hub.emit_stats_update(stats).connections == 1
    assert admin.wait_event("admin:stats:updated")["stats"] == stats
    assert setup.hub.emit_stats_update(dict(stats)).unchanged
    assert setup.hub.emit_admin_action(1, "ban", {"user": ada}).connections == 1
    assert admin.wait_event("admin:action")["action"] == "ban"
    assert setup.hub.emit_to_admins("ops:alert", {"level": "high"}).connections == 1
    admin.wait_event("ops:alert")
    setup.assert_events_through_sentinel(tab, ada, [])


def test_maintenance_reaches_everyone_and_new_connections(setup: Setup) -> None:
    ada = uid("ada")
    tab = setup.user(ada)
    admin = setup.user(uid("admin"), page="admin", role="admin")
    assert setup.hub.emit_maintenance_mode(True, "back soon", "root").connections == 2
    assert tab.wait_event("system:maintenance") == admin.wait_event("system:maintenance")
    assert setup.hub.emit_maintenance_mode(True, "back soon", "root").unchanged
    late = setup.user(uid("late"))
    assert late.wait_event("system:maintenance")["enabled"] is True
    assert setup.hub.emit_maintenance_mode(False, "", "root").connections == 3


def test_emit_to_user_reaches_every_tab_of_that_user_only(setup: Setup) -> None:
    ada, bob = uid("ada"), uid("bob")
    tabs = [setup.user(ada), setup.user(ada, page="dashboard")]
    bob_tab = setup.user(bob)
    outcome = setup.hub.emit_to_user(ada, "cart:moved", {"x": 1})
    assert repr(outcome) == "EmitOutcome(delivered, connections=2)"
    for tab in tabs:
        assert tab.wait_event("cart:moved")["x"] == 1
    setup.assert_events_through_sentinel(bob_tab, bob, [])


def test_emit_to_everyone_reaches_users_and_admins_but_not_the_unauthenticated(setup: Setup) -> None:
    ada, root = uid("ada"), uid("root")
    tab = setup.user(ada)
    admin = setup.user(root, page="admin", role="admin")
    stranger = setup.client()
    outcome = setup.hub.emit_to_everyone("park:closing", {"in": 15, "timestamp": 7})
    assert outcome.connections == 2
    for recorder in (tab, admin):
        assert recorder.wait_event("park:closing") == {"in": 15, "timestamp": 7}
    setup.assert_events_through_sentinel(tab, ada, ["park:closing"])
    setup.assert_events_through_sentinel(admin, root, ["park:closing"])
    # The stranger then authenticates: its first events are auth:ok and its snapshot,
    # and the sentinel that follows shows nothing else arrived before or between.
    stranger.client.emit("client:authenticate", {"token": mint_token(uid("late")), "page": "modules"})
    late = stranger.wait_event("auth:ok")["userId"]
    setup.assert_events_through_sentinel(stranger, late, ["auth:ok", "page:snapshot"])
    with pytest.raises(microcoaster_realtime.ReservedEventError):
        setup.hub.emit_to_everyone("system:fake", {})


def test_a_second_sentinel_check_sees_what_arrived_after_the_first_sentinel(setup: Setup) -> None:
    # The check reads up to the sentinel carrying its own nonce, not to the first
    # sentinel the recorder ever got: an event between two checks is seen by the second.
    ada = uid("ada")
    tab = setup.user(ada)
    setup.assert_events_through_sentinel(tab, ada, [])
    assert setup.hub.emit_to_user(ada, "cart:moved", {"x": 1}).connections == 1
    with pytest.raises(AssertionError, match="cart:moved"):
        setup.assert_events_through_sentinel(tab, ada, [])
    # Any event fails an empty check, whatever its name.
    assert setup.hub.emit_to_user(ada, "anything:else", {}).connections == 1
    with pytest.raises(AssertionError, match="anything:else"):
        setup.assert_events_through_sentinel(tab, ada, [])


def test_in_process_connection_receives_the_same_events() -> None:
    hub = microcoaster_realtime.Hub()
    hub.emit_user_logged_in({"id": 123, "name": "Ada"}, "sess-ada")
    with hub.connect_in_process() as tab:
        ack = tab.authenticate({"userId": 123, "page": "modules", "sessionId": "sess-ada"})
        assert ack["userId"] == "123"
        assert tab.recv(1.0)[0] == "auth:ok"  # type: ignore[index]
        assert tab.recv(1.0)[0] == "page:snapshot"  # type: ignore[index]
        hub.emit_module_online("MC-1", {"userId": 123})
        event, data = tab.recv(1.0)  # type: ignore[misc]
        assert (event, data["moduleId"]) == ("module:status:changed", "MC-1")
        assert tab.recv(0.05) is None
        hub.emit_user_logged_out({"id": 123}, "sess-ada")
        assert tab.recv(1.0)[0] == "user:session:ended"  # type: ignore[index]
        try:
            tab.recv(1.0)
            raise AssertionError("the connection should be closed")
        except microcoaster_realtime.ConnectionClosedError as closed:
            assert closed.code == "logged_out"
        assert tab.closed == "logged_out"
