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
    /** Default `['modules', 'admin', 'dashboard']`. */
    pages?: string[];
    /** Also accepted: a map `{[event]: {users?, admins?}}`. */
    routes?: { event: string; userPages?: string[]; adminPages?: string[] }[]
      | Record<string, { users?: string[]; admins?: string[] }>;
    /** Default 1024 (>= 1). */
    queueCapacity?: number;
    /** Default 5 (>= 1). */
    maxAuthFailures?: number;
    /** Default 65536. */
    maxMessageBytes?: number;
    /** Default 5000 (ms). */
    deviceOfflineGraceMs?: number;
    /** SQLite persistence: state survives restarts, everything is audited. */
    persist?: { path: string; durability?: 'off' | 'batched' | 'sync' };
    /** Synchronous host authenticator, tried before the built-in JWT and session ones:
     * return an Identity to accept, null/undefined to pass, false or
     * `{error: {code, message}}` to refuse. */
    authenticate?: (request: Record<string, unknown>, context: HandshakeContext) =>
      Identity | { error: { code: string; message: string } } | false | null | undefined;
    /** Client events the library does not handle (it may emit). */
    onClientEvent?: (event: ClientEvent) => void;
    /** Every audit record. */
    onAudit?: (record: AuditRecord) => void;
    /** Before-emit filters, run in order: keep, drop or rewrite each event. */
    beforeEmit?: BeforeEmit | BeforeEmit[];
    /** Stats for emitStatsUpdate (else `databaseManager.getStats()`). */
    getStats?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  }

  /** Server settings (`options.server`); every key optional, durations in ms, each key
   * also accepted in snake_case. Defaults: see `normalizeConfig({}).server`. */
  interface ServerOptions {
    workerThreads?: number;
    pingIntervalMs?: number;
    pingTimeoutMs?: number;
    maxPayload?: number;
    maxMessageBytes?: number;
    authDeadlineMs?: number;
    maxConnections?: number;
    socketioPath?: string;
    nativePath?: string;
    shutdownDeadlineMs?: number;
    writeCoalesceMs?: number;
    apiKey?: string | null;
  }

  /** A configuration as the library reads it: canonical keys, every default filled in. */
  interface NormalizedConfig {
    hub: {
      jwtSecret: string | number[] | null;
      pages: string[];
      routes: { event: string; userPages: string[]; adminPages: string[] }[];
      queueCapacity: number;
      maxAuthFailures: number;
      maxMessageBytes: number;
      deviceOfflineGraceMs: number;
      persist: { path: string; durability: 'off' | 'batched' | 'sync' } | null;
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

  /** `info` is optional (omitted or null: none), as in C, Rust and Python. */
  emitModuleOnline(moduleId: string, info?: Record<string, unknown> | null): RealTimeAPI.EmitOutcome;
  emitModuleOffline(moduleId: string, info?: Record<string, unknown> | null): RealTimeAPI.EmitOutcome;
  emitModuleAdded(moduleData: Record<string, unknown>): RealTimeAPI.EmitOutcome;
  emitModuleRemoved(moduleData: Record<string, unknown>): RealTimeAPI.EmitOutcome;
  emitTelemetryUpdate(moduleId: string, telemetryData: unknown): RealTimeAPI.EmitOutcome;
  emitUserLoggedIn(userData: Record<string, unknown>, sessionId: string): RealTimeAPI.EmitOutcome;
  emitUserLoggedOut(userData: Record<string, unknown>, sessionId: string): RealTimeAPI.EmitOutcome;
  emitUserProfileUpdated(oldData: Record<string, unknown>, newData: Record<string, unknown>): RealTimeAPI.EmitOutcome;
  emitUserRegistered(userData: Record<string, unknown>): RealTimeAPI.EmitOutcome;
  /** Stats from `options.getStats()` or `databaseManager.getStats()`. */
  emitStatsUpdate(): Promise<RealTimeAPI.EmitOutcome>;
  emitAdminAction(adminId: RealTimeAPI.Id, action: string, details?: unknown): RealTimeAPI.EmitOutcome;
  emitMaintenanceMode(enabled: boolean, message: string, adminId: RealTimeAPI.Id): RealTimeAPI.EmitOutcome;
  /** `data` is optional (omitted: null, as in C, Rust and Python). */
  emitToUser(userId: RealTimeAPI.Id, event: string, data?: unknown): RealTimeAPI.EmitOutcome;
  emitToAdmins(event: string, data?: unknown): RealTimeAPI.EmitOutcome;

  metrics(): Record<string, unknown>;
  auditQuery(filter?: Record<string, unknown>): unknown[];
  registerDeviceKey(moduleId: string, ownerId: RealTimeAPI.Id, key: string): void;
  /** Forgets a module's device key; true if there was one. */
  revokeDeviceKey(moduleId: string): boolean;
  /** Stops serving, detaches every socket, frees the hub. */
  close(): Promise<void>;
}

export = RealTimeAPI;
