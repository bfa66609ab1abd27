"""Attach mode on asyncio: a ``socketio.AsyncServer`` behind ASGI keeps its sockets and
the hub authenticates, routes and encodes for them (``attach_socketio`` accepts an
``AsyncServer`` as well as a ``Server``). Routes call the hub from coroutines; worker
threads may call it too, and their frames reach the sockets through the event loop.

Run: ``pip install python-socketio uvicorn wsproto microcoaster-realtime``, then
``uvicorn attach_asgi:app --port 3000 --ws wsproto``. In a real backend the routes
would be FastAPI or Starlette handlers (``socketio.ASGIApp(sio, other_asgi_app=api)``).
"""

import json
import threading
from typing import Any, Awaitable, Callable, Dict

import socketio  # type: ignore[import-untyped]

from microcoaster_realtime import Hub, attach_socketio

Receive = Callable[[], Awaitable[Dict[str, Any]]]
Send = Callable[[Dict[str, Any]], Awaitable[None]]

hub = Hub(jwt_secret="change me")
sio = socketio.AsyncServer(async_mode="asgi")
attach_socketio(hub, sio)

ADA = {"id": 123, "name": "Ada"}


async def reply(send: Send, status: int, body: Dict[str, Any]) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def report_from_a_worker(user_id: str) -> threading.Thread:
    """Slow work on a thread whose result goes to the user's tabs."""

    def work() -> None:
        hub.emit_to_user(user_id, "report:ready", {"rows": 42})

    worker = threading.Thread(target=work)
    worker.start()
    return worker


async def api(scope: Dict[str, Any], receive: Receive, send: Send) -> None:
    """The backend's own routes: login and logout register and end the session."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/login":
        hub.emit_user_logged_in(ADA, "sess-ada")  # on the event loop: an emit takes microseconds
        await reply(send, 200, {"userId": "123", "sessionId": "sess-ada"})
    elif scope["path"] == "/logout":
        hub.emit_user_logged_out(ADA, "sess-ada")  # closes the session's sockets
        await reply(send, 200, {"ok": True})
    elif scope["path"] == "/report":
        report_from_a_worker("123")
        await reply(send, 202, {"queued": True})
    else:
        await reply(send, 404, {"error": "not found"})


app = socketio.ASGIApp(sio, other_asgi_app=api)
