"""Type stubs of the native module (``microcoaster_realtime._native``), re-exported by
``microcoaster_realtime``. Every method may be called from any thread and releases the
GIL while the hub works."""

from types import TracebackType
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, TypedDict, Union

from typing_extensions import Unpack

__version__: str

JSON = Any
"""A value ``json.dumps`` accepts: dict (str keys), list, tuple, str, int, float, bool, None."""

BinaryJSON = Any
"""A ``JSON`` value in which any value may also be ``bytes``, ``bytearray`` or
``memoryview``: a host event's data (Socket.IO clients receive those values as binary,
python-socketio as ``bytes``) and a client event's data (binary values arrive as
``bytes``, in place)."""

UserIdArg = Union[str, int]

class Identity(TypedDict, total=False):
    """What an authenticator returns to accept a credential."""

    userId: UserIdArg
    role: Literal["user", "admin", "device"]
    sessionId: Optional[str]
    moduleId: str

class HandshakeContext(TypedDict):
    """The connection's handshake, as authenticators see it."""

    remote_addr: Optional[str]
    headers: Dict[str, str]
    cookies: Dict[str, str]
    query: Dict[str, str]

class ClientEventDict(TypedDict):
    """A client event the library does not handle, with the sender's verified identity."""

    connection: int
    userId: str
    role: str
    sessionId: Optional[str]
    moduleId: Optional[str]
    page: str
    event: str
    data: JSON

Authenticator = Callable[[Dict[str, Any], Dict[str, Any]], Optional[Mapping[str, Any]]]
"""``authenticator(request, context)`` (``context`` as in ``HandshakeContext``): return an
identity dict (see ``Identity``) to accept, ``None`` to let the
next authenticator (JWT, then sessions) decide, or raise ``AuthRefused(code, message)``.
Called on the thread that delivered the client's message: a server thread under
``serve()``, the python-socketio handler's thread in attach mode, the caller's thread
for in-process connections. No hub lock is held."""

ClientEventHandler = Callable[[Dict[str, Any]], object]
"""``on_client_event(event)`` (``event`` as in ``ClientEventDict``): called on the same threads as the authenticator, with no
hub lock held; it may call ``emit_*``. A return value other than ``None`` answers the
event's ack (``bytes`` in it reach the client as binary)."""

StatsProvider = Callable[[], Mapping[str, Any]]
"""``stats_provider()``: called on the thread that called ``emit_stats_update()``, before
the emit lock is taken."""

BeforeEmit = Callable[[str, Dict[str, Any], JSON], Union[None, bool, JSON]]
"""``before_emit(name, audience, payload)``: ``None``/``True`` keeps the event, ``False``
drops it, any other value replaces the payload. Called on the emitting thread (or the
device grace timer's thread for ``module_offline``) under the emit lock: keep it quick
and never call ``emit_*`` from it (``ReentrantEmitError``)."""

AuditSink = Callable[[Dict[str, Any]], object]
"""``audit_sink(record)``: every audit record (emits, authentications, closes, bad
input), on the thread that caused it; never call ``emit_*`` from it."""

class Limits(TypedDict, total=False):
    queue_capacity: int  # frames (default 65536; for sockets a safety behind queue_max_bytes)
    queue_max_bytes: int  # bytes of encoded frames waiting (default 2 MiB)
    max_auth_failures: int
    max_message_bytes: int

class Route(TypedDict, total=False):
    users: List[str]
    admins: List[str]

class Persist(TypedDict, total=False):
    path: Any
    durability: Literal["off", "batched", "sync"]

class PublicKeyWithKid(TypedDict):
    """A ``public_keys`` entry chosen by tokens naming ``kid``."""

    pem: str  # PEM text or a PEM file path
    kid: str

class JwtConfig(TypedDict, total=False):
    """The ``jwt`` section: JWT keys beyond one HS256 secret (the algorithm is fixed by
    the key: an RSA key verifies RS256 only)."""

    secrets: List[str]  # HS256 secrets valid at once (rotation)
    # RS256 / ES256 / EdDSA public keys: PEM text or a PEM file path, or {"pem", "kid"}
    public_keys: List[Union[str, PublicKeyWithKid]]
    jwks: str  # a JWKS file path or http(s):// URL; keys chosen by the token's kid
    jwks_refresh_secs: int  # with a URL: seconds between scheduled fetches (default 600)
    jwks_min_refresh_secs: int  # with a URL: min seconds between unknown-kid fetches (30)
    jwks_timeout_ms: int  # with a URL: limit on one fetch in ms (default 5000)
    jwks_ca_file: str  # with an https URL: PEM file of the CAs to trust instead of public roots
    issuer: str  # when set, a token's iss must be this
    audience: str  # when set, a token's aud must contain this
    leeway_secs: int  # clock skew tolerated on exp / nbf (default 0)

class Config(TypedDict, total=False):
    """``Hub(config)``: the core's one schema (shared with C and Node; see
    ``normalize_config``). Every key is optional; an unknown key raises ``ValueError``
    and a value of the wrong type ``TypeError``, naming the key. The C/Node camelCase keys
    (``jwtSecret``, ``queueCapacity``, ``deviceOfflineGraceMs`` in ms, routes as a list of
    ``{event, userPages, adminPages}``) and flat snake_case limits are accepted too; a
    setting given under two names is refused."""

    jwt_secret: Union[str, bytes]
    jwt: JwtConfig
    pages: List[str]
    routes: Dict[str, Route]
    limits: Limits
    device_grace: float  # seconds (default 5.0): the setting C and Node call deviceOfflineGraceMs
    snapshot_page_size: int  # modules per page:snapshot page (default 500)
    max_connections_per_user: int  # authenticated connections per user (default 100)
    persist: Persist
    # share state, events and sessions with other processes: redis://host:port (or
    # rediss://, unix://), redis+cluster://host:port[,host:port...] (a Cluster's seed
    # nodes) or redis+sentinel://host:port[,host:port...]/<master name>[/db]
    redis: str
    node_id: str  # this node's id in the cluster (default random)
    authenticator: Union[Authenticator, Sequence[Authenticator]]
    on_client_event: ClientEventHandler
    stats_provider: StatsProvider
    before_emit: Union[BeforeEmit, Sequence[BeforeEmit]]
    audit_sink: Union[AuditSink, Sequence[AuditSink]]

class ServeOptions(TypedDict, total=False):
    """``Hub.serve`` / ``normalize_serve_config`` keywords: the keys of the core's one server
    schema in snake_case (camelCase is accepted too). Durations are ``*_ms`` in
    milliseconds, or in seconds for ``ping_interval``, ``ping_timeout``,
    ``auth_deadline`` and ``connect_timeout``; ``None`` means not given. Defaults: ``normalize_serve_config()``."""

    worker_threads: Optional[int]  # default 0: one per CPU the process may run on
    ping_interval: Optional[float]
    ping_interval_ms: Optional[float]
    ping_timeout: Optional[float]
    ping_timeout_ms: Optional[float]
    max_payload: Optional[int]
    max_message_bytes: Optional[int]
    max_attachments: Optional[int]  # binary attachments one Socket.IO packet may announce
    auth_deadline: Optional[float]
    auth_deadline_ms: Optional[float]
    connect_timeout: Optional[float]  # Socket.IO's connectTimeout (seconds)
    connect_timeout_ms: Optional[float]
    max_connections: Optional[int]
    max_connections_per_ip: Optional[int]  # open connections per remote IP (0: no limit)
    socketio_path: Optional[str]
    native_path: Optional[str]
    shutdown_deadline_ms: Optional[float]
    write_coalesce_ms: Optional[float]
    slow_consumer_timeout_ms: Optional[float]  # a write without progress this long closes (default 10000)
    api_key: Optional[str]
    allowed_origins: Optional[Sequence[str]]
    handshakes_per_second: Optional[float]
    max_header_bytes: Optional[int]
    header_timeout_ms: Optional[float]
    trusted_proxies: Optional[Sequence[str]]  # CIDR ranges whose X-Forwarded-For counts
    raise_fd_limit: Optional[bool]  # raise the soft open-file limit to the hard one at start (default True)

class ContextArg(TypedDict, total=False):
    remote_addr: Optional[str]
    headers: Union[Mapping[str, str], Sequence[Tuple[str, str]]]
    query: Union[Mapping[str, str], Sequence[Tuple[str, str]]]

class EmitOutcome:
    """What an emit did: ``outcome`` and ``connections``, the shape of every binding
    (C ``McrtOutcome``, Node ``{outcome, connections}``, the HTTP API). Compares by
    value."""

    @property
    def outcome(self) -> Literal["delivered", "unchanged"]:
        """``"delivered"`` (sent, possibly to 0 connections) or ``"unchanged"``."""
    def to_dict(self) -> Dict[str, Any]:
        """``{"outcome": ..., "connections": ...}``."""

    @property
    def unchanged(self) -> bool:
        """Nothing changed; nothing was sent. Alias of ``outcome == "unchanged"``."""
    @property
    def delivered(self) -> bool:
        """The change was sent (possibly to 0 connections). Alias of ``outcome == "delivered"``."""
    @property
    def connections(self) -> int:
        """Frames queued, summed over the call's events (0 when unchanged)."""

class Server:
    """A running server; a context manager that shuts it down on exit."""

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
    @property
    def host(self) -> str:
        """The bound host address."""
    @property
    def address(self) -> Tuple[str, int]:
        """The bound ``(host, port)``."""
    @property
    def url(self) -> str:
        """``http://host:port``."""
    @property
    def config(self) -> Dict[str, Any]:
        """The server configuration it was started with, as the core read it (the form of
        ``normalize_serve_config``)."""
    @property
    def connections(self) -> int:
        """Open connections."""
    def shutdown(self) -> None:
        """Stops accepting, flushes and closes every connection (idempotent)."""
    def close(self) -> None:
        """The same as ``shutdown()``."""
    def __enter__(self) -> "Server": ...
    def __exit__(
        self,
        kind: Optional[type],
        value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

class InProcessConnection:
    """A connection with no socket, for tests and in-process consumers."""

    @property
    def id(self) -> int: ...
    @property
    def closed(self) -> Optional[str]:
        """The close reason once seen by ``recv``/``drain``."""
    def send(self, event: str, data: JSON = None) -> JSON:
        """Sends a client event; returns the ack body or ``None``; raises
        ``MessageRefusedError``."""
    def authenticate(self, payload: Dict[str, Any]) -> JSON:
        """``send("client:authenticate", payload)``."""
    def send_raw(self, frame: Union[bytes, str]) -> JSON:
        """Sends a raw native-protocol frame."""
    def recv(self, timeout: float = 1.0) -> Optional[Tuple[str, JSON]]:
        """The next ``(event, data)``, ``None`` on timeout; ``ConnectionClosedError`` once
        closed."""
    def drain(self) -> List[Tuple[str, JSON]]:
        """Everything queued now."""
    def close(self) -> None:
        """Detaches from the hub."""
    def __enter__(self) -> "InProcessConnection": ...
    def __exit__(
        self,
        kind: Optional[type],
        value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

class HostConnection:
    """A socket your own server owns, attached with ``Hub.attach``."""

    @property
    def id(self) -> int: ...
    @property
    def authenticated(self) -> bool: ...
    def message(self, event: str, data: BinaryJSON = None) -> JSON:
        """Passes one client event; returns the ack body or ``None``; raises
        ``MessageRefusedError`` (its ``ack`` answers an ack)."""
    def authenticate_at_connect(self, auth: Dict[str, Any]) -> JSON:
        """Authenticates with the Socket.IO ``auth`` object; a refusal raises
        ``MessageRefusedError`` and sends nothing."""
    def receive(self, frame: Union[bytes, str]) -> JSON:
        """Passes a raw native-protocol frame."""
    def detach(self) -> None:
        """Detaches from the hub (idempotent)."""
    def __enter__(self) -> "HostConnection": ...
    def __exit__(
        self,
        kind: Optional[type],
        value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

def normalize_config(config: Optional[Config] = None) -> Dict[str, Any]:
    """The configuration ``Hub(config)`` would use, as the core reads it: camelCase keys,
    durations in milliseconds, every default filled in (the same as C's
    ``mcrt_hub_config_normalize`` and Node's ``RealTimeAPI.normalizeConfig``); hooks are
    left out. Raises as ``Hub(config)`` would."""

def normalize_serve_config(**options: Unpack[ServeOptions]) -> Dict[str, Any]:
    """The server configuration ``Hub.serve(**options)`` would use, as the core reads it."""

class Hub:
    """The real-time hub: the seed's emit API, thread-safe, releasing the GIL.

    Hooks may refer to the hub itself: the garbage collector sees the callables a hub
    holds. A hub that is collected (or whose last reference goes) stops the servers
    ``serve`` started and shuts down; it supports ``weakref``."""

    def __init__(self, config: Optional[Config] = None, **options: Unpack[Config]) -> None:
        """``Hub(jwt_secret=..., stats_provider=..., persist=...)``: the keys of ``Config`` as
        keyword arguments; ``Hub({...})`` takes the same keys as one dict. A key given in both
        raises ``TypeError``."""
    def __enter__(self) -> "Hub": ...
    def __exit__(
        self,
        kind: Optional[type],
        value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool:
        """Leaving ``with Hub(...) as hub:`` calls ``shutdown()``."""
    def emit_module_online(self, module_id: str, info: Optional[Dict[str, Any]] = None) -> EmitOutcome:
        """A module came online (seed: ``emitModuleOnline(id, info)``). ``info`` is
        ``{userId, name?, type?, …}``; ``userId`` is required the first time a module is seen, and
        ``info`` may be omitted afterwards.

        Sends ``module:status:changed {moduleId, online: true, …}`` to the owner's connections on
        ``modules`` and ``dashboard`` and to admins on ``admin``, unless the module was already
        online: then the outcome is ``unchanged`` and nothing is sent."""
    def emit_module_offline(self, module_id: str, info: Optional[Dict[str, Any]] = None) -> EmitOutcome:
        """A module went offline (seed: ``emitModuleOffline(id, info)``); ``info`` is optional, as for
        ``module_online``.

        Sends ``module:status:changed {moduleId, online: false, …}`` to the owner's connections
        and to admins on ``admin``, unless the module was already offline. A module never seen
        before is recorded as offline and nothing is sent."""
    def emit_module_added(self, module: Dict[str, Any]) -> EmitOutcome:
        """A module was added (seed: ``emitModuleAdded(module)``). ``module`` has ``id`` or ``moduleId``,
        ``userId`` (its owner) and any other fields.

        Sends ``user:module:added {module}`` to the owner and ``admin:module:added {module}`` to
        admins on ``admin``, unless the module was already added (``unchanged``)."""
    def emit_module_removed(self, module: Dict[str, Any]) -> EmitOutcome:
        """A module was removed (seed: ``emitModuleRemoved(module)``). ``module`` has ``id`` or
        ``moduleId``.

        Sends ``user:module:removed`` to the owner and ``admin:module:removed`` to admins on
        ``admin``; an unknown module is ``unchanged``."""
    def emit_telemetry_update(self, module_id: str, telemetry: JSON) -> EmitOutcome:
        """New telemetry for a known module (seed: ``emitTelemetryUpdate(id, telemetry)``).

        Sends ``module:telemetry:updated {moduleId, telemetry}`` to the owner's connections on
        ``modules`` and ``dashboard``, unless it equals the last value (``unchanged``). A slow
        connection keeps only the latest telemetry per module. An unknown module is refused
        (``unknown_module``): its owner, hence its audience, is unknown."""
    def emit_user_logged_in(self, user: Dict[str, Any], session_id: str) -> EmitOutcome:
        """A user logged in with a session (seed: ``emitUserLoggedIn(user, sessionId)``). ``user`` has
        ``id`` or ``userId``, ``role`` or ``userType`` (default ``user``) and profile fields.

        Registers the session for the session authenticator (the session id is then a
        credential), then sends ``user:session:started`` to the user's connections of other
        sessions and ``admin:user:logged_in`` to admins. The same session logging in twice is
        ``unchanged``."""
    def emit_user_logged_out(self, user: Dict[str, Any], session_id: str) -> EmitOutcome:
        """A session logged out (seed: ``emitUserLoggedOut(user, sessionId)``).

        Sends ``user:session:ended`` to that session's connections, then closes them (reason
        ``logged_out``), on every node, and sends ``admin:user:logged_out`` to admins. The session
        id is refused by both built-in authenticators afterwards. A session that is neither
        logged in nor connected is ``unchanged``."""
    def emit_user_profile_updated(self, old: Dict[str, Any], new: Dict[str, Any]) -> EmitOutcome:
        """A user's profile changed (seed: ``emitUserProfileUpdated(old, new)``).

        Sends ``user:profile:updated {userId, changes}`` to the user's connections with only the
        fields that differ from the stored profile (or from ``old`` the first time); ``unchanged``
        when none differs."""
    def emit_user_registered(self, user: Dict[str, Any]) -> EmitOutcome:
        """A new account (seed: ``emitUserRegistered(user)``). ``user`` has ``id`` or ``userId``.

        Sends ``admin:user:registered {user}`` to admins on ``admin``, unless that user was already
        registered (``unchanged``)."""
    def emit_stats_update(self, stats: Optional[Dict[str, Any]] = None) -> EmitOutcome:
        """New statistics for admins (seed: ``emitStatsUpdate()``): the given stats object, or, when
        none is given, what the hub's stats provider returns.

        Sends ``admin:stats:updated {stats}`` to admins on ``admin``, only if the stats differ from
        the last sent (``unchanged`` otherwise)."""
    def emit_admin_action(self, admin_id: UserIdArg, action: str, details: JSON = None) -> EmitOutcome:
        """An administrator acted (seed: ``emitAdminAction(adminId, action, details)``); ``details`` is
        optional (``null`` when omitted).

        Always sends ``admin:action {adminId, action, details}`` to admins on ``admin``."""
    def emit_maintenance_mode(self, enabled: bool, message: str, admin_id: UserIdArg) -> EmitOutcome:
        """Maintenance mode switched (seed: ``emitMaintenanceMode(enabled, message, adminId)``).

        Sends ``system:maintenance {enabled, message, adminId}`` to every authenticated
        connection, unless already in that state with that message (``unchanged``). While on,
        newly authenticated connections receive it too."""
    def emit_to_user(self, user_id: UserIdArg, event: str, data: BinaryJSON = None) -> EmitOutcome:
        """A host event for every connection of one user (seed: ``emitToUser(userId, event, data)``),
        for anything the twelve calls don't cover: the seed's "an action on one device is
        visible on all the others".

        Names in a reserved prefix (``auth:``, ``page:``, ``system:``, ``admin:``, ``user:``, ``module:``)
        are refused (``reserved_event``); ``data`` is optional (``null`` when omitted); object data
        gets a ``timestamp`` unless it carries one."""
    def emit_to_admins(self, event: str, data: BinaryJSON = None) -> EmitOutcome:
        """A host event for admin connections (seed: ``emitToAdmins(event, data)``), on every page
        unless a route limits it.

        Names in a reserved prefix are refused (``reserved_event``); ``data`` is optional (``null``
        when omitted); object data gets a ``timestamp`` unless it carries one."""
    def emit_to_everyone(self, event: str, data: BinaryJSON = None) -> EmitOutcome:
        """A host event for every authenticated user and admin connection, on every page unless a
        route limits it (seed: ``emitToAll(event, data)``; socket.io's ``io.emit``). Connections that
        have not authenticated and devices never receive it.

        Names in a reserved prefix are refused (``reserved_event``); ``data`` is optional (``null``
        when omitted); object data gets a ``timestamp`` unless it carries one."""
    def register_device_key(self, module_id: str, owner: UserIdArg, key: str) -> None:
        """Lets a device authenticate with ``{"moduleId", "deviceKey"}``."""
    def revoke_device_key(self, module_id: str) -> bool:
        """Forgets a device key; whether there was one."""
    def metrics(self) -> Dict[str, Any]:
        """Every counter (``hook_panics`` counts hook exceptions, ``bad_inputs`` by kind,
        ``host_send_failures`` for attach mode)."""
    def audit(
        self,
        *,
        since: Optional[int] = None,
        until: Optional[int] = None,
        user_id: Optional[UserIdArg] = None,
        module_id: Optional[str] = None,
        kind: Optional[Literal["emit", "auth", "close", "bad_input"]] = None,
        after_id: Optional[int] = None,
        newest_first: bool = False,
        limit: int = 100,
    ) -> List[Dict[str, Any]]:
        """Audit rows; needs ``persist`` (else ``PersistenceError``)."""
    def connect_in_process(self, context: Optional[ContextArg] = None) -> InProcessConnection:
        """A connection with no socket."""
    def attach(
        self,
        send: Callable[[str], object],
        close: Optional[Callable[[str], object]] = None,
        context: Optional[ContextArg] = None,
    ) -> HostConnection:
        """Attach mode: ``send(packet)`` runs on the emitting Python thread under the emit
        lock (write it with ``sio.eio.send(eio_sid, packet)``; never emit from it), or on
        the hub's delivery thread for frames caused on library threads (device grace timer,
        served devices); ``close(reason)`` when the hub ends the connection."""
    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Unpack[ServeOptions],
    ) -> Server:
        """Serves Socket.IO, the native ``/ws`` protocol and (with ``api_key``) the HTTP
        emit API; the GIL stays free while it serves. ``options`` are the server schema's
        keys (``ServeOptions``), handed to the core as given; its defaults are
        ``normalize_serve_config()``."""
    def shutdown(self, timeout: float = 5.0) -> None:
        """Stops the servers ``serve`` started, closes connections, saves and closes
        persistence."""
