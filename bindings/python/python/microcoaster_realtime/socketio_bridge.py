"""Attach mode for python-socketio: a backend that already runs a ``socketio.Server``
keeps its sockets, and the hub authenticates, routes and encodes for them.

``attach_socketio(hub, sio)`` registers ``connect``, ``disconnect`` and a catch-all
handler on ``sio``'s namespace: each connecting socket is attached to the hub
(:meth:`Hub.attach`) and authenticated with its Socket.IO ``auth`` object when it gives
one (a refusal becomes the CONNECT error ``{"message", "data": {"code"}}``, as the hub's
own server answers), every event it sends is passed to the hub (acks answered with the
hub's reply, e.g. ``auth:ok``'s body for ``client:authenticate``), and every frame the hub
sends it is written with ``sio.eio.send(eio_sid, packet)``: the packet is encoded once
by the hub for all recipients. When the hub closes a connection (logout, too many failed
authentications, shutdown) the socket is disconnected from a background task, since the
hub calls ``close`` under its emit lock.

Frames for a socket that authenticates in its CONNECT are written from inside the
``connect`` handler, so they reach the client before python-socketio's CONNECT reply;
the official JavaScript client buffers them until the reply and python-socketio's client
handles them at once. Use ``socketio.Server(always_connect=True)`` if another client
needs the reply first (a refused ``auth`` then arrives as a disconnect).

``sio`` may be a synchronous ``socketio.Server`` (threading, eventlet or gevent) or a
``socketio.AsyncServer`` (asyncio: ASGI or aiohttp); ``attach_socketio`` picks the
bridge. With a ``socketio.Server`` the hub writes each frame synchronously on the
emitting thread. With an ``AsyncServer`` (see :mod:`.socketio_async`) frames are handed
to the server's event loop with ``loop.call_soon_threadsafe``, from whatever thread made
the emit (the loop itself, a worker thread, a library timer), and written in order per
socket.
"""

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qsl

from ._errors import MessageRefusedError
from ._native import HostConnection, Hub

if TYPE_CHECKING:
    from ._native import ContextArg


def context_of(environ: Dict[str, Any]) -> "ContextArg":
    headers: List[Tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            headers.append((key[5:].replace("_", "-").lower(), value))
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if isinstance(environ.get(key), str):
            headers.append((key.replace("_", "-").lower(), environ[key]))
    addr = environ.get("REMOTE_ADDR")
    port = environ.get("REMOTE_PORT")
    remote: Optional[str] = None
    if isinstance(addr, str) and addr:
        remote = f"[{addr}]:{port or 0}" if ":" in addr else f"{addr}:{port or 0}"
    query = parse_qsl(environ.get("QUERY_STRING") or "", keep_blank_values=True)
    return {"remote_addr": remote, "headers": headers, "query": query}


class SocketIOBridge:
    """The link between one ``socketio.Server`` namespace and a :class:`Hub`.

    ``connections`` maps each python-socketio ``sid`` to its :class:`HostConnection`.
    """

    def __init__(self, hub: Hub, sio: Any, namespace: str = "/") -> None:
        self.hub = hub
        self.sio = sio
        self.namespace = namespace
        self.connections: Dict[str, HostConnection] = {}
        self._register()

    def _register(self) -> None:
        sio, namespace = self.sio, self.namespace
        sio.on("connect", self._connect, namespace=namespace)
        sio.on("disconnect", self._disconnect, namespace=namespace)
        sio.on("*", self._event, namespace=namespace)

    def _connect(self, sid: str, environ: Dict[str, Any], auth: Any = None) -> None:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, self.namespace)
        send_packet = self.sio.eio.send

        def send(packet: Union[str, bytes]) -> None:
            send_packet(eio_sid, packet)

        def close(reason: str) -> None:
            # Called under the hub's emit lock: disconnect from another thread.
            self.sio.start_background_task(self.sio.disconnect, sid, namespace=self.namespace)

        self._admit(sid, self.hub.attach(send, close, context_of(environ)), auth)

    def _admit(self, sid: str, connection: HostConnection, auth: Any) -> None:
        """Keeps ``connection`` for ``sid`` and authenticates it with the CONNECT's
        ``auth``; a refusal detaches it and refuses the CONNECT."""
        from socketio.exceptions import ConnectionRefusedError  # type: ignore[import-untyped]

        self.connections[sid] = connection
        if auth:
            try:
                connection.authenticate_at_connect(auth)
            except MessageRefusedError as refused:
                self.connections.pop(sid, None)
                connection.detach()
                raise ConnectionRefusedError(str(refused), {"code": refused.code}) from None

    def _disconnect(self, sid: str, *reason: Any) -> None:
        connection = self.connections.pop(sid, None)
        if connection is not None:
            connection.detach()

    def _event(self, event: str, sid: str, *args: Any) -> Any:
        connection = self.connections.get(sid)
        if connection is None:
            return None
        data = args[0] if args else None
        try:
            return connection.message(event, data)
        except MessageRefusedError as refused:
            return refused.ack
        except (TypeError, ValueError) as invalid:
            return {"code": "invalid_payload", "message": str(invalid)}


def attach_socketio(hub: Hub, sio: Any, namespace: str = "/") -> SocketIOBridge:
    """Lets ``hub`` serve every socket of ``sio`` (a ``socketio.Server`` or a
    ``socketio.AsyncServer``) on ``namespace``; see the module documentation. Returns the
    bridge (its ``connections`` by sid)."""
    import socketio  # type: ignore[import-untyped]

    if isinstance(sio, socketio.AsyncServer):
        from .socketio_async import AsyncSocketIOBridge

        return AsyncSocketIOBridge(hub, sio, namespace)
    return SocketIOBridge(hub, sio, namespace)
