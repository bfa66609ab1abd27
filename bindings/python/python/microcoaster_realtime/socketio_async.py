"""Attach mode for an asyncio python-socketio server (``socketio.AsyncServer`` behind
ASGI or aiohttp); ``attach_socketio(hub, sio)`` picks this bridge for an
``AsyncServer``.

The hub calls a socket's ``send``/``close`` on the thread that made the emit, under its
emit lock, and cannot await there. So each attached socket gets an outbox: ``send``
and ``close`` hand their packet (or the close) to the server's event loop with
``loop.call_soon_threadsafe``, whichever thread they run on (the loop itself when a
coroutine emits, a worker thread, a library timer), and one task per socket writes
them with ``await sio.eio.send(eio_sid, packet)``, then disconnects after the last
packet queued before a close. ``call_soon_threadsafe`` runs callbacks in the order they
were scheduled and the hub schedules under its emit lock, so each socket receives its
frames in emit order. The loop is the one running the server, taken at the first
connect.

Inbound events are passed to the hub synchronously on the loop (like the hub's own
calls they take microseconds and release the GIL), which keeps each socket's events in
the order they arrived; so an ``authenticator`` or ``on_client_event`` hook they trigger
runs on the loop and must not block it (hand slow work to a thread). Emits may be
called directly from coroutines.
"""

import asyncio
import logging
from collections import deque
from typing import Any, Deque, Dict, Optional, Union

from ._native import Hub
from .socketio_bridge import SocketIOBridge, context_of

_log = logging.getLogger("microcoaster_realtime")


class _Close:
    """The marker an outbox disconnects at."""


_CLOSE = _Close()


class _Outbox:
    """What the hub sends one socket, written in order by one task on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sio: Any, sid: str, eio_sid: str, namespace: str) -> None:
        self.loop = loop
        self.sio = sio
        self.sid = sid
        self.eio_sid = eio_sid
        self.namespace = namespace
        self.items: Deque[Union[str, bytes, _Close]] = deque()
        self.writer: Optional["asyncio.Task[None]"] = None

    def send(self, packet: Union[str, bytes]) -> None:
        """The hub's ``send``: any thread, under the emit lock."""
        self._schedule(packet)

    def close(self, reason: str) -> None:
        """The hub's ``close``: disconnects after the packets queued before it."""
        self._schedule(_CLOSE)

    def _schedule(self, item: Union[str, bytes, _Close]) -> None:
        try:
            self.loop.call_soon_threadsafe(self._enqueue, item)
        except RuntimeError:
            # The loop is closed: the server is gone, and so is the socket.
            pass

    def _enqueue(self, item: Union[str, bytes, _Close]) -> None:
        self.items.append(item)
        if self.writer is None:
            self.writer = self.loop.create_task(self._write())

    async def _write(self) -> None:
        try:
            while self.items:
                item = self.items.popleft()
                if isinstance(item, _Close):
                    self.items.clear()
                    await self.sio.disconnect(self.sid, namespace=self.namespace)
                    return
                await self.sio.eio.send(self.eio_sid, item)
        except Exception:  # the socket went away mid-write; nothing else to do for it
            _log.warning("writing to socket %s failed", self.sid, exc_info=True)
        finally:
            self.writer = None
            if self.items:
                self.writer = self.loop.create_task(self._write())


class AsyncSocketIOBridge(SocketIOBridge):
    """The link between one ``socketio.AsyncServer`` namespace and a :class:`Hub`.

    ``connections`` maps each python-socketio ``sid`` to its :class:`HostConnection`.
    """

    def __init__(self, hub: Hub, sio: Any, namespace: str = "/") -> None:
        self.outboxes: Dict[str, _Outbox] = {}
        super().__init__(hub, sio, namespace)

    def _register(self) -> None:
        self.sio.on("connect", self._connect_async, namespace=self.namespace)
        self.sio.on("disconnect", self._disconnect_async, namespace=self.namespace)
        self.sio.on("*", self._event, namespace=self.namespace)

    async def _connect_async(self, sid: str, environ: Dict[str, Any], auth: Any = None) -> None:
        loop = asyncio.get_running_loop()
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, self.namespace)
        outbox = _Outbox(loop, self.sio, sid, eio_sid, self.namespace)
        self.outboxes[sid] = outbox
        try:
            self._admit(sid, self.hub.attach(outbox.send, outbox.close, context_of(environ)), auth)
        except BaseException:
            self.outboxes.pop(sid, None)
            raise

    async def _disconnect_async(self, sid: str, *reason: Any) -> None:
        self.outboxes.pop(sid, None)
        self._disconnect(sid)
