"""microcoaster_realtime: the real-time core of MicroCoaster for Python backends.

Build one :class:`Hub` per process, call its ``emit_*`` methods from your request
handlers and worker threads (they are thread-safe and release the GIL), and either let
the hub serve Socket.IO itself (:meth:`Hub.serve`) or keep your own python-socketio
server (``socketio.Server`` or ``socketio.AsyncServer``) and attach its sockets
(:func:`attach_socketio`)::

    from microcoaster_realtime import Hub

    with Hub(jwt_secret="change me") as hub, hub.serve("127.0.0.1", 3000) as server:
        hub.emit_user_logged_in({"id": 123, "name": "Ada"}, "sess-ada")  # login route
        hub.emit_module_online("MC-1234-STN", {"userId": 123, "type": "Station"})

The configuration is keyword arguments (``Hub(jwt_secret=..., persist={"path": ...})``;
``Hub({...})`` with the same keys as one dict is an alias). ``serve()`` returns a
:class:`Server` with ``port``, ``url`` and ``close()``; both are context managers.

Hooks (``authenticator``, ``on_client_event``, ``stats_provider``, ``before_emit``,
``audit_sink``) are plain callables given as keyword arguments. They run on library
threads or on the thread of the call that caused them (each key's documentation in
``_native.pyi`` says which) with the GIL held for the call only. An exception raised by
a hook is logged on the ``microcoaster_realtime`` logger and counted in
``metrics()["hook_panics"]``; the hub keeps serving.

From asyncio, never await inside a hook: hand the work to your loop with
``loop.call_soon_threadsafe``::

    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict] = asyncio.Queue()
    hub = Hub(on_client_event=lambda event: loop.call_soon_threadsafe(events.put_nowait, event))

and call blocking hub methods from coroutines with ``await asyncio.to_thread(hub.emit_...)``
(or directly: an emit takes microseconds).
"""

from ._errors import (
    AuthRefused,
    ConnectionClosedError,
    InvalidArgumentError,
    MessageRefusedError,
    OwnerMismatchError,
    PersistenceError,
    RealtimeError,
    ReentrantEmitError,
    ReservedEventError,
    ServeError,
    StatsProviderError,
    UnknownModuleError,
)
from ._native import (
    EmitOutcome,
    HostConnection,
    Hub,
    InProcessConnection,
    Server,
    __version__,
    normalize_config,
    normalize_serve_config,
)
from .socketio_async import AsyncSocketIOBridge
from .socketio_bridge import SocketIOBridge, attach_socketio

__all__ = [
    "AsyncSocketIOBridge",
    "AuthRefused",
    "ConnectionClosedError",
    "EmitOutcome",
    "HostConnection",
    "Hub",
    "InProcessConnection",
    "InvalidArgumentError",
    "MessageRefusedError",
    "OwnerMismatchError",
    "PersistenceError",
    "RealtimeError",
    "ReentrantEmitError",
    "ReservedEventError",
    "ServeError",
    "Server",
    "SocketIOBridge",
    "StatsProviderError",
    "UnknownModuleError",
    "__version__",
    "attach_socketio",
    "normalize_config",
    "normalize_serve_config",
]
