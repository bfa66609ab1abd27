"""Concurrent emits from 8 Python threads: every changed emit reaches its owner exactly
once, in per-module order, while the GIL is released during the hub's work."""

import threading
from typing import Any, Dict, List

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


def test_other_python_threads_run_while_emits_work() -> None:
    hub = Hub()
    stop = threading.Event()
    ticks = [0]

    def counter() -> None:
        while not stop.is_set():
            ticks[0] += 1

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        hub.emit_user_logged_in({"id": "u"}, "s")
        for seq in range(20000):
            hub.emit_to_user("u", "cart:tick", {"seq": seq})
    finally:
        stop.set()
        thread.join()
    assert ticks[0] > 0


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
