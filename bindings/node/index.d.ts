// Types of microcoaster-realtime for Node: the seed's RealTimeAPI over the C library.

import type { Server, Socket } from 'socket.io';

declare namespace RealTimeAPI {
  /** What an emit did: nothing changed (nothing sent), or how many connections got it.
   * The same `{outcome, connections}` as C's `McrtOutcome`, Python's `EmitOutcome` and
   * the HTTP API. */
  type EmitOutcome =
    | { outcome: 'unchanged'; connections: 0 }
    | { outcome: 'delivered'; connections: number };

  type Id = string | number;

  /** The verified identity a host authenticator returns to accept a connection. */
  interface Identity {
    userId: Id;
    role: 'user' | 'admin' | 'device';
    sessionId?: string;
    moduleId?: string;
  }

  /** What the authenticator sees about the connection. */
  interface HandshakeContext {
    remoteAddr: string | null;
    headers: Record<string, string>;
    query: Record<string, string>;
  }

  /** A client event the library does not handle, with the sender's verified identity. */
  interface ClientEvent {
    connection: number;
    userId: string;
    role: 'user' | 'admin' | 'device';
    sessionId: string | null;
    moduleId: string | null;
    page: string;
    event: string;
    /** The event's data; binary values a client sent arrive as Buffers, in place. */
    data: unknown;
  }

  interface AuditRecord {
    timestamp: number;
    kind: 'emit' | 'auth' | 'close' | 'bad_input';
    action: string;
    user_id: string | null;
    module_id: string | null;
    connection: number | null;
    outcome: { outcome: string; connections?: number; code?: string };
    detail: unknown;
  }

  /** Who an event goes to, as a before-emit filter sees it (it cannot change it). */
  interface Audience {
    kind: 'user' | 'session' | 'admins' | 'everyone';
    userId?: string;
  }

  /** Sees every event before it is routed, on the event loop, synchronously (also the
   * events the library emits from its own threads: they are run on the loop). Return
   * `undefined`/`null`/`true` to keep it, `false` to drop it, or the new JSON payload.
   * Throwing, or returning something JSON cannot carry (a function, a promise...), drops
   * the event, emits a warning and counts in `metrics().hook_panics`. */
  type BeforeEmit = (name: string, audience: Audience, payload: any) => unknown;

  interface Options {
    /** `attach` (default when `io` is given): the library rides on the host's socket.io
     * server. `standalone` (default when `io` is null): the library's own server listens. */
    mode?: 'attach' | 'standalone';
    /** Standalone mode: where to listen (default 127.0.0.1:3000; 0 picks a free port). */
    host?: string;
    port?: number;
    /** Standalone mode: server settings, the library's one server schema (see
     * ServerOptions); unknown keys throw. */
    server?: ServerOptions;
    /** Verifies `token`s as JWT HS256 (not empty). */
    jwtSecret?: string;
    /** More JWT keys and checks; every key of `jwt` is used together with `jwtSecret`. */
    jwt?: JwtOptions;
    /** Default `['modules', 'admin', 'dashboard']`. */
    pages?: string[];
    /** Also accepted: a map `{[event]: {users?, admins?}}`. */
    routes?: { event: string; userPages?: string[]; adminPages?: string[] }[]
      | Record<string, { users?: string[]; admins?: string[] }>;
    /** Frames a connection may have waiting before it is closed as slow: default 65536
     * (>= 1). A secondary safety for socket connections, which `queueMaxBytes` bounds
     * first. */
    queueCapacity?: number;
    /** Bytes of encoded frames a socket's connection may have waiting before it is
     * closed as slow: default 2097152 (2 MiB; >= 1); counted in
     * `mcrt_slow_consumer_closes_total{reason="bytes"}`. */
    queueMaxBytes?: number;
    /** Default 5 (>= 1). */
    maxAuthFailures?: number;
    /** Authenticated connections one user may have (default 100; 0: no limit); past it
     * `auth:error` `too_many_connections` and a close. Devices are not counted. */
    maxConnectionsPerUser?: number;
    /** Default 65536. */
    maxMessageBytes?: number;
    /** Modules per `page:snapshot` / `page:snapshot:more` page. Default 500 (>= 1). */
    snapshotPageSize?: number;
    /** Default 5000 (ms). */
    deviceOfflineGraceMs?: number;
    /** SQLite persistence: state survives restarts, everything is audited. */
    persist?: { path: string; durability?: 'off' | 'batched' | 'sync' };
    /** Redis URL: share state, events and sessions with the other backends on this
     * Redis (attach and standalone). One server `redis://[user:password@]host:port[/db]`
     * (or `rediss://`, `unix://`), a Cluster `redis+cluster://host:port[,host:port…]`, or
     * a Sentinel group `redis+sentinel://host:port[,host:port…]/<master name>[/db]`.
     * Default none: one process. */
    redis?: string;
    /** This node's id in the cluster (default random); two live nodes may not share one. */
    nodeId?: string;
    /** Synchronous host authenticator, tried before the built-in JWT and session ones:
     * return an Identity to accept, null/undefined to pass, false or
     * `{error: {code, message}}` to refuse. */
    authenticate?: (request: Record<string, unknown>, context: HandshakeContext) =>
      Identity | { error: { code: string; message: string } } | false | null | undefined;
    /** Client events the library does not handle (it may emit). What it returns answers
     * the client's ack, in both modes: a plain JSON value whose Buffers (anywhere inside)
     * reach socket.io-client as Buffers. `undefined` answers nothing (standalone: the ack
     * gets `null`; attach: the ack is not called), as does a Promise (not awaited: answer
     * synchronously). */
    onClientEvent?: (event: ClientEvent) => unknown;
    /** Every audit record. */
    onAudit?: (record: AuditRecord) => void;
    /** Before-emit filters, run in order: keep, drop or rewrite each event. */
    beforeEmit?: BeforeEmit | BeforeEmit[];
    /** The library's stats provider, asked by `emitStatsUpdate()` without stats (else
     * `databaseManager.getStats()`); an async one is settled on the event loop first. */
    getStats?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  }

  /** Server settings (`options.server`); every key optional, durations in ms, each key
   * also accepted in snake_case. Defaults: see `normalizeConfig({}).server`. */
  interface ServerOptions {
    /** Default 0: one per CPU the process may run on. */
    workerThreads?: number;
    pingIntervalMs?: number;
    pingTimeoutMs?: number;
    maxPayload?: number;
    maxMessageBytes?: number;
    /** Most binary attachments one Socket.IO packet may announce (default 10). */
    maxAttachments?: number;
    authDeadlineMs?: number;
    /** Time a Socket.IO session has to join a namespace (Socket.IO's `connectTimeout`;
     * default 45000). */
    connectTimeoutMs?: number;
    maxConnections?: number;
    /** Open connections from one remote IP before handshakes get HTTP 429 (default 0:
     * no limit). */
    maxConnectionsPerIp?: number;
    socketioPath?: string;
    nativePath?: string;
    shutdownDeadlineMs?: number;
    writeCoalesceMs?: number;
    /** A socket write that makes no progress (the socket takes no byte) for this long
     * closes the connection as a slow consumer: default 10000 (ms); counted in
     * `mcrt_slow_consumer_closes_total{reason="stalled"}`. */
    slowConsumerTimeoutMs?: number;
    apiKey?: string | null;
    /** Browser origins allowed besides the server's own (`*`: any page); any other
     * page's handshake gets 403. Standalone mode only: in attach mode the host's
     * socket.io server checks origins (its `cors` / `allowRequest`). */
    allowedOrigins?: string[];
    /** Handshakes per second from one remote IP before HTTP 429 (0: no limit). */
    handshakesPerSecond?: number;
    /** Largest HTTP request header block in bytes (>= 8192). */
    maxHeaderBytes?: number;
    /** Time a client has to send a request's headers (slow-loris guard). */
    headerTimeoutMs?: number;
    /** Proxy ranges (CIDR or one address) whose `X-Forwarded-For` names the client. */
    trustedProxies?: string[];
    /** Raise the process's soft open-file limit (RLIMIT_NOFILE) to its hard limit when
     * the server starts, so it can hold one socket per connection (default true; unix).
     * Node already raises it at start-up; `false` leaves the limit as it is. */
    raiseFdLimit?: boolean;
  }

  /** The `jwt` section: keys beyond one HS256 secret (the algorithm is fixed by the key). */
  interface JwtOptions {
    /** HS256 secrets valid at once (rotation), each not empty. */
    secrets?: string[];
    /** RS256 / ES256 / EdDSA public keys: PEM text or the path of a PEM file, or
     * `{pem, kid}` for a key chosen by tokens naming that `kid`. */
    publicKeys?: (string | { pem: string; kid: string })[];
    /** A JWKS document, its keys chosen by the token's `kid`: a file path, or an
     * `http(s)://` URL fetched at start, on an interval and on an unknown `kid`. */
    jwks?: string;
    /** With a JWKS URL: seconds between scheduled fetches (default 600). */
    jwksRefreshSecs?: number;
    /** With a JWKS URL: shortest time between fetches caused by unknown kids (default 30). */
    jwksMinRefreshSecs?: number;
    /** With a JWKS URL: limit on one fetch in ms (default 5000). */
    jwksTimeoutMs?: number;
    /** With an https JWKS URL: PEM file of the CAs to trust instead of the public roots. */
    jwksCaFile?: string;
    /** When set, a token's `iss` must be this. */
    issuer?: string;
    /** When set, a token's `aud` must contain this. */
    audience?: string;
    /** Clock skew tolerated on `exp` / `nbf`, in seconds (default 0). */
    leewaySecs?: number;
  }

  /** A configuration as the library reads it: canonical keys, every default filled in. */
  interface NormalizedConfig {
    hub: {
      jwtSecret: string | number[] | null;
      jwt: {
        secrets: (string | number[])[];
        publicKeys: (string | { pem: string; kid: string })[];
        jwks: string | null;
        jwksRefreshSecs: number;
        jwksMinRefreshSecs: number;
        jwksTimeoutMs: number;
        jwksCaFile: string | null;
        issuer: string | null;
        audience: string | null;
        leewaySecs: number;
      } | null;
      pages: string[];
      routes: { event: string; userPages: string[]; adminPages: string[] }[];
      queueCapacity: number;
      queueMaxBytes: number;
      maxAuthFailures: number;
      maxConnectionsPerUser: number;
      maxMessageBytes: number;
      snapshotPageSize: number;
      deviceOfflineGraceMs: number;
      persist: { path: string; durability: 'off' | 'batched' | 'sync' } | null;
      redis: string | null;
      nodeId: string | null;
    };
    server: Required<ServerOptions>;
  }

  /** The configuration `new RealTimeAPI(io, db, options)` would use (the library's one
   * schema, shared with C and Python); throws as the constructor would on an unknown
   * key or a bad value. */
  function normalizeConfig(options?: Options): NormalizedConfig;

  /** An error the library returned; `code` is stable (`unknown_module`, `reserved_event`...). */
  class RealTimeError extends Error {
    code: string;
    status: string;
  }
  /** `unknown_module`: telemetry for a module the hub has never seen. */
  class UnknownModuleError extends RealTimeError {}
  /** `owner_mismatch`: the call names another owner than the module has. */
  class OwnerMismatchError extends RealTimeError {}
  /** `reserved_event`: emitToUser / emitToAdmins with a reserved prefix. */
  class ReservedEventError extends RealTimeError {}
  /** `no_stats_provider` / `stats_provider_failed`. */
  class StatsProviderError extends RealTimeError {}
  /** `reentrant_emit`: an emit from inside a before-emit filter. */
  class ReentrantEmitError extends RealTimeError {}
  /** `closed`: a call on a RealTimeAPI after close(). */
  class ClosedError extends RealTimeError {}

  function version(): string;
  const libraryPath: string;
}

declare class RealTimeAPI {
  constructor(io: Server | null, databaseManager?: unknown, options?: RealTimeAPI.Options);
  readonly mode: 'attach' | 'standalone';
  /** Standalone mode: the bound port after initialize(). */
  readonly port: number | null;
  /** Attaches to `io` (attach mode) or starts listening (standalone mode). */
  initialize(): this;

  /**
   * A module came online (seed: `emitModuleOnline(id, info)`). `info` is
   * `{userId, name?, type?, …}`; `userId` is required the first time a module is seen, and
   * `info` may be omitted afterwards.
   *
   * Sends `module:status:changed {moduleId, online: true, …}` to the owner's connections on
   * `modules` and `dashboard` and to admins on `admin`, unless the module was already
   * online: then the outcome is `unchanged` and nothing is sent.
   */
  emitModuleOnline(moduleId: string, info?: Record<string, unknown> | null): RealTimeAPI.EmitOutcome;
  /**
   * A module went offline (seed: `emitModuleOffline(id, info)`); `info` is optional, as for
   * `module_online`.
   *
   * Sends `module:status:changed {moduleId, online: false, …}` to the owner's connections
   * and to admins on `admin`, unless the module was already offline. A module never seen
   * before is recorded as offline and nothing is sent.
   */
  emitModuleOffline(moduleId: string, info?: Record<string, unknown> | null): RealTimeAPI.EmitOutcome;
  /**
   * A module was added (seed: `emitModuleAdded(module)`). `module` has `id` or `moduleId`,
   * `userId` (its owner) and any other fields.
   *
   * Sends `user:module:added {module}` to the owner and `admin:module:added {module}` to
   * admins on `admin`, unless the module was already added (`unchanged`).
   */
  emitModuleAdded(moduleData: Record<string, unknown>): RealTimeAPI.EmitOutcome;
  /**
   * A module was removed (seed: `emitModuleRemoved(module)`). `module` has `id` or
   * `moduleId`.
   *
   * Sends `user:module:removed` to the owner and `admin:module:removed` to admins on
   * `admin`; an unknown module is `unchanged`.
   */
  emitModuleRemoved(moduleData: Record<string, unknown>): RealTimeAPI.EmitOutcome;
  /**
   * New telemetry for a known module (seed: `emitTelemetryUpdate(id, telemetry)`).
   *
   * Sends `module:telemetry:updated {moduleId, telemetry}` to the owner's connections on
   * `modules` and `dashboard`, unless it equals the last value (`unchanged`). A slow
   * connection keeps only the latest telemetry per module. An unknown module is refused
   * (`unknown_module`): its owner, hence its audience, is unknown.
   */
  emitTelemetryUpdate(moduleId: string, telemetryData: unknown): RealTimeAPI.EmitOutcome;
  /**
   * A user logged in with a session (seed: `emitUserLoggedIn(user, sessionId)`). `user` has
   * `id` or `userId`, `role` or `userType` (default `user`) and profile fields.
   *
   * Registers the session for the session authenticator (the session id is then a
   * credential), then sends `user:session:started` to the user's connections of other
   * sessions and `admin:user:logged_in` to admins. The same session logging in twice is
   * `unchanged`.
   */
  emitUserLoggedIn(userData: Record<string, unknown>, sessionId: string): RealTimeAPI.EmitOutcome;
  /**
   * A session logged out (seed: `emitUserLoggedOut(user, sessionId)`).
   *
   * Sends `user:session:ended` to that session's connections, then closes them (reason
   * `logged_out`), on every node, and sends `admin:user:logged_out` to admins. The session
   * id is refused by both built-in authenticators afterwards. A session that is neither
   * logged in nor connected is `unchanged`.
   */
  emitUserLoggedOut(userData: Record<string, unknown>, sessionId: string): RealTimeAPI.EmitOutcome;
  /**
   * A user's profile changed (seed: `emitUserProfileUpdated(old, new)`).
   *
   * Sends `user:profile:updated {userId, changes}` to the user's connections with only the
   * fields that differ from the stored profile (or from `old` the first time); `unchanged`
   * when none differs.
   */
  emitUserProfileUpdated(oldData: Record<string, unknown>, newData: Record<string, unknown>): RealTimeAPI.EmitOutcome;
  /**
   * A new account (seed: `emitUserRegistered(user)`). `user` has `id` or `userId`.
   *
   * Sends `admin:user:registered {user}` to admins on `admin`, unless that user was already
   * registered (`unchanged`).
   */
  emitUserRegistered(userData: Record<string, unknown>): RealTimeAPI.EmitOutcome;
  /**
   * New statistics for admins (seed: `emitStatsUpdate()`): the given stats object, or, when
   * none is given, what the hub's stats provider returns.
   *
   * Sends `admin:stats:updated {stats}` to admins on `admin`, only if the stats differ from
   * the last sent (`unchanged` otherwise).
   */
  emitStatsUpdate(stats?: Record<string, unknown> | null): Promise<RealTimeAPI.EmitOutcome>;
  /**
   * An administrator acted (seed: `emitAdminAction(adminId, action, details)`); `details` is
   * optional (`null` when omitted).
   *
   * Always sends `admin:action {adminId, action, details}` to admins on `admin`.
   */
  emitAdminAction(adminId: RealTimeAPI.Id, action: string, details?: unknown): RealTimeAPI.EmitOutcome;
  /**
   * Maintenance mode switched (seed: `emitMaintenanceMode(enabled, message, adminId)`).
   *
   * Sends `system:maintenance {enabled, message, adminId}` to every authenticated
   * connection, unless already in that state with that message (`unchanged`). While on,
   * newly authenticated connections receive it too.
   */
  emitMaintenanceMode(enabled: boolean, message: string, adminId: RealTimeAPI.Id): RealTimeAPI.EmitOutcome;
  /**
   * A host event for every connection of one user (seed: `emitToUser(userId, event, data)`),
   * for anything the twelve calls don't cover: the seed's "an action on one device is
   * visible on all the others".
   *
   * Names in a reserved prefix (`auth:`, `page:`, `system:`, `admin:`, `user:`, `module:`)
   * are refused (`reserved_event`); `data` is optional (`null` when omitted); object data
   * gets a `timestamp` unless it carries one.
   */
  emitToUser(userId: RealTimeAPI.Id, event: string, data?: unknown /* Buffers and Uint8Arrays anywhere are sent as binary */): RealTimeAPI.EmitOutcome;
  /**
   * A host event for admin connections (seed: `emitToAdmins(event, data)`), on every page
   * unless a route limits it.
   *
   * Names in a reserved prefix are refused (`reserved_event`); `data` is optional (`null`
   * when omitted); object data gets a `timestamp` unless it carries one.
   */
  emitToAdmins(event: string, data?: unknown /* Buffers and Uint8Arrays anywhere are sent as binary */): RealTimeAPI.EmitOutcome;
  /**
   * A host event for every authenticated user and admin connection, on every page unless a
   * route limits it (seed: `emitToAll(event, data)`; socket.io's `io.emit`). Connections that
   * have not authenticated and devices never receive it.
   *
   * Names in a reserved prefix are refused (`reserved_event`); `data` is optional (`null`
   * when omitted); object data gets a `timestamp` unless it carries one.
   */
  emitToEveryone(event: string, data?: unknown /* Buffers and Uint8Arrays anywhere are sent as binary */): RealTimeAPI.EmitOutcome;
  /** `emitToEveryone` under the seed's name (socket.io's `io.emit`). */
  emitToAll(event: string, data?: unknown /* Buffers and Uint8Arrays anywhere are sent as binary */): RealTimeAPI.EmitOutcome;

  metrics(): Record<string, unknown>;
  auditQuery(filter?: Record<string, unknown>): unknown[];
  registerDeviceKey(moduleId: string, ownerId: RealTimeAPI.Id, key: string): void;
  /** Forgets a module's device key; true if there was one. */
  revokeDeviceKey(moduleId: string): boolean;
  /** Stops serving, detaches every socket, frees the hub. */
  close(): Promise<void>;
}

export = RealTimeAPI;
