"""Attach mode: an existing python-socketio server keeps its sockets and the hub
authenticates, routes and encodes for them (``attach_socketio``). The browser code is
unchanged; frames are written with ``sio.eio.send``.

Run: ``pip install python-socketio simple-websocket werkzeug microcoaster-realtime``,
then ``python attach_socketio.py``.
"""

import socketio  # type: ignore[import-untyped]
from werkzeug.serving import run_simple

from microcoaster_realtime import Hub, attach_socketio


def build() -> "socketio.WSGIApp":
    hub = Hub(jwt_secret="change me")
    sio = socketio.Server(async_mode="threading")
    attach_socketio(hub, sio)

    # Your own handlers stay as they were; events the hub does not handle itself reach
    # the hub's on_client_event hook instead of per-event handlers.
    hub.emit_user_logged_in({"id": 123, "name": "Ada"}, "sess-ada")
    return socketio.WSGIApp(sio)


if __name__ == "__main__":
    run_simple("127.0.0.1", 3000, build(), threaded=True)
