"""One backend of the two-backend suite (test_cluster.py), in its own process: a Hub
with the configuration given as JSON in argv[2] (``redis``, ``node_id``, ...), behind a
threaded python-socketio ``Server`` (argv[1] ``attach``) or its own server (``serve``).
Prints ``{"url": ...}`` once listening, then answers each stdin line
``{"method", "args"}`` (a Hub emit) with one stdout line ``{"result"}`` or ``{"error"}``.
Not collected by pytest (no ``test_`` prefix)."""

import json
import sys
import threading
from typing import Any

import socketio
from werkzeug.serving import make_server

from microcoaster_realtime import Hub, attach_socketio


def main() -> None:
    mode, config = sys.argv[1], json.loads(sys.argv[2])
    hub = Hub(config)
    server: Any = None
    if mode == "serve":
        # Kept referenced: the server stops when its object goes away.
        server = hub.serve("127.0.0.1", 0)
        url = server.url
    else:
        sio = socketio.Server(async_mode="threading")
        attach_socketio(hub, sio)
        http = make_server("127.0.0.1", 0, socketio.WSGIApp(sio), threaded=True)
        url = f"http://127.0.0.1:{http.server_port}"
        threading.Thread(target=http.serve_forever, daemon=True).start()
    print(json.dumps({"url": url}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        answer: Any
        try:
            result = getattr(hub, request["method"])(*request["args"])
            answer = {"result": result.to_dict() if hasattr(result, "to_dict") else result}
        except Exception as error:  # reported to the test, which fails on it
            answer = {"error": repr(error)}
        print(json.dumps(answer), flush=True)
    del server


if __name__ == "__main__":
    main()
