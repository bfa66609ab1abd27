"""Concurrent emits from 8 Python threads: every changed emit reaches its owner exactly
once, in per-module order; and every emit_* releases the GIL while it waits inside the
hub, so other Python threads run meanwhile."""

import subprocess
import sys
import threading
from typing import Any, Dict, List

import pytest
from microcoaster_realtime import Hub

from conftest import Setup, uid

THREADS = 8
PER_THREAD = 200


def test_concurrent_emits_from_8_threads_over_sockets(setup: Setup) -> None:
    owners = [uid("owner") for _ in range(THREADS)]
    tabs = [setup.user(owner) for owner in owners]
    modules = [uid("MC") for _ in range(THREADS)]
    for owner, module in zip(owners, modules):
        setup.hub.emit_module_online(module, {"userId": owner})
    start = threading.Barrier(THREADS)
    results: Dict[int, List[Any]] = {}

    def worker(index: int) -> None:
        start.wait()
        results[index] = [
            setup.hub.emit_telemetry_update(modules[index], {"seq": seq}) for seq in range(PER_THREAD)
        ]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, tab in enumerate(tabs):
        assert all(outcome.connections == 1 for outcome in results[index])
        last = tab.wait_event("module:telemetry:updated", lambda d: d["telemetry"]["seq"] == PER_THREAD - 1)
        assert last["moduleId"] == modules[index]
        seqs = [d["telemetry"]["seq"] for e, d in tab.events if e == "module:telemetry:updated"]
        assert seqs == sorted(seqs)  # conflation may skip values, never reorders them
        assert {d["moduleId"] for e, d in tab.events if e == "module:telemetry:updated"} == {modules[index]}


# Run in a fresh interpreter by the test below. For each emit_*: a "holder" emit sits in
# a before_emit hook (under the emit lock) until `release` is set; the emit under test
# is then called on a second thread and blocks on that lock, inside the hub. Only the
# main thread sets `release`, and it can do so only if the blocked emit gave the GIL
# up. A switch interval of 60 s stops CPython from handing the GIL over on a timer, so
# the main thread runs only where another thread releases the GIL itself. If an emit
# held the GIL, the interpreter would deadlock (that emit waits for the lock, the
# lock's holder and the main thread for the GIL); the parent's timeout turns that into
# a failure naming the emit.
GIL_PROBE = """
import sys, threading
from microcoaster_realtime import Hub

WAIT = 10.0
sys.setswitchinterval(60.0)
held = threading.Event()
release = threading.Event()


def before_emit(name, audience, payload):
    if name == "test:hold":
        held.set()
        release.wait(WAIT)
    return None


hub = Hub({"before_emit": before_emit})
ada = {"id": "ada", "name": "Ada"}
calls = [
    ("emit_module_online", lambda: hub.emit_module_online("MC-1", {"userId": "ada"})),
    ("emit_telemetry_update", lambda: hub.emit_telemetry_update("MC-1", {"speed": 1})),
    ("emit_module_added", lambda: hub.emit_module_added({"id": "MC-2", "userId": "ada"})),
    ("emit_module_removed", lambda: hub.emit_module_removed({"id": "MC-2", "userId": "ada"})),
    ("emit_module_offline", lambda: hub.emit_module_offline("MC-1")),
    ("emit_user_logged_in", lambda: hub.emit_user_logged_in(ada, "s1")),
    ("emit_user_profile_updated", lambda: hub.emit_user_profile_updated(ada, {"id": "ada", "name": "Ada L."})),
    ("emit_user_registered", lambda: hub.emit_user_registered(ada)),
    ("emit_user_logged_out", lambda: hub.emit_user_logged_out(ada, "s1")),
    ("emit_stats_update", lambda: hub.emit_stats_update({"users": 1})),
    ("emit_admin_action", lambda: hub.emit_admin_action("root", "ban", {"userId": "bob"})),
    ("emit_maintenance_mode", lambda: hub.emit_maintenance_mode(True, "back soon", "root")),
    ("emit_to_user", lambda: hub.emit_to_user("ada", "cart:moved", {"x": 1})),
    ("emit_to_admins", lambda: hub.emit_to_admins("ops:alert", {"level": "high"})),
    ("emit_to_everyone", lambda: hub.emit_to_everyone("ops:notice", {"level": "info"})),
]
print("calls", ",".join(name for name, _ in calls), flush=True)
for name, call in calls:
    held.clear()
    release.clear()
    holder = threading.Thread(target=hub.emit_to_user, args=("holder", "test:hold", {}))
    holder.start()
    if not held.wait(WAIT):
        sys.exit(f"the holding emit never reached its before_emit hook (before {name})")
    entering = threading.Lock()
    entering.acquire()
    finished_after_release = []

    def blocked():
        entering.release()
        call()
        finished_after_release.append(release.is_set())

    thread = threading.Thread(target=blocked)
    thread.start()
    if not entering.acquire(timeout=WAIT):
        sys.exit(f"{name}: its thread never started")
    # This line runs while `name` waits for the emit lock: it gave the GIL up.
    release.set()
    holder.join(WAIT)
    thread.join(WAIT)
    if holder.is_alive() or thread.is_alive():
        sys.exit(f"{name}: an emit did not return")
    if finished_after_release != [True]:
        sys.exit(f"{name} did not wait for the emit lock: {finished_after_release}")
    print("released", name, flush=True)
"""


def test_every_emit_waiting_for_the_emit_lock_lets_other_python_threads_run() -> None:
    try:
        run = subprocess.run([sys.executable, "-c", GIL_PROBE], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout or b""
        lines = (output.decode() if isinstance(output, bytes) else output).splitlines()
        calls = lines[0].split()[1].split(",") if lines else []
        released = [line.split()[1] for line in lines[1:]]
        stuck = calls[len(released)] if len(released) < len(calls) else "?"
        pytest.fail(f"deadlock: {stuck} held the GIL while waiting for the emit lock (released: {released})")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    calls = lines[0].split()[1].split(",")
    assert sorted(calls) == sorted(name for name in dir(Hub) if name.startswith("emit_")), "probe every emit_*"
    assert [line.split()[1] for line in lines[1:]] == calls


def test_send_from_one_thread_while_another_waits_in_recv() -> None:
    hub = Hub()
    hub.emit_user_logged_in({"id": "ada"}, "s1")
    tab = hub.connect_in_process()
    got: List[Any] = []
    reader = threading.Thread(target=lambda: got.append(tab.recv(10.0)))
    reader.start()
    # The reader holds the connection in short slices only: this send does not wait 10 s.
    ack = tab.authenticate({"userId": "ada", "sessionId": "s1"})
    reader.join(5)
    assert not reader.is_alive()
    assert ack["userId"] == "ada" and got[0][0] == "auth:ok"
    tab.close()
