"""Emit call overhead from Python (scripts/bench python): what one ``hub.emit_*`` costs a
Python caller, with persistence off and nobody subscribed, so the figure is the
binding plus the core's emit path (argument conversion, GIL release, change detection).

- ``unchanged``: ``emit_module_online`` of a module already online (nothing sent);
- ``changed/no_subscribers``: ``emit_telemetry_update`` with a new value each call;
- ``storm/8_threads``: 8 Python threads each updating their own module's telemetry; the
  figure is wall time per call over all threads (the hub serialises changes under its
  emit lock; the GIL is released while it works).

Prints µs per call (best of ``--repeat`` runs) next to an empty Python function call.
"""

import argparse
import threading
import time
from typing import Callable, List

from microcoaster_realtime import Hub


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    calls: int = args.calls
    hub = Hub()
    info = {"userId": 1, "type": "Station"}
    hub.emit_module_online("MC-BENCH", info)
    telemetry = [{"speed": i, "pos": [i, i + 1]} for i in range(calls)]

    def noop(module_id: str, data: object) -> None:
        return None

    def timed(body: Callable[[], None]) -> float:
        start = time.perf_counter()
        body()
        return (time.perf_counter() - start) / calls * 1e6

    def baseline() -> None:
        for _ in range(calls):
            noop("MC-BENCH", info)

    def unchanged() -> None:
        emit = hub.emit_module_online
        for _ in range(calls):
            emit("MC-BENCH", info)

    def changed() -> None:
        emit = hub.emit_telemetry_update
        for value in telemetry:
            emit("MC-BENCH", value)

    threads = 8
    modules = [f"MC-STORM-{i}" for i in range(threads)]
    for module in modules:
        hub.emit_module_online(module, info)
    per_thread = calls // threads

    def storm() -> float:
        barrier = threading.Barrier(threads + 1)

        def worker(module: str, offset: int) -> None:
            emit = hub.emit_telemetry_update
            values = telemetry[offset : offset + per_thread]
            barrier.wait()
            for value in values:
                emit(module, value)

        workers: List[threading.Thread] = [
            threading.Thread(target=worker, args=(m, i * per_thread)) for i, m in enumerate(modules)
        ]
        for w in workers:
            w.start()
        barrier.wait()
        start = time.perf_counter()
        for w in workers:
            w.join()
        return (time.perf_counter() - start) / (per_thread * threads) * 1e6

    print(f"python_call/baseline          {best(args.repeat, lambda: timed(baseline)):6.3f} µs/call")
    print(f"emit/unchanged                {best(args.repeat, lambda: timed(unchanged)):6.3f} µs/call")
    # A fresh value every call: reset the last telemetry between runs by alternating.
    results = []
    for run in range(args.repeat):
        if run % 2:
            telemetry.reverse()
        results.append(timed(changed))
    print(f"emit/changed/no_subscribers   {min(results):6.3f} µs/call")
    print(f"emit/storm/8_threads          {best(args.repeat, storm):6.3f} µs/call (wall, all threads)")
    metrics = hub.metrics()
    print(f"(emits changed {metrics['emits_changed']}, unchanged {metrics['emits_unchanged']})")


if __name__ == "__main__":
    main()
