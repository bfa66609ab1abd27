'use strict';
// RealTimeAPI: the seed's surface (`new RealTimeAPI(io, databaseManager, options?)`,
// `initialize()`, the twelve camelCase emits) over the C ABI. This file owns the hub
// handle, the JS hooks and the mode; emits.js the emit methods (installed on this
// class), attach.js the socket.io glue, before-emit.js the before-emit filter and the
// executor that runs every emit on the event loop, stats.js the stats provider the
// library asks.

const { promisify } = require('node:util');
const { koffi, fn, check, takeString, byteLength, callbacks } = require('./native');
const { libraryError } = require('./errors');
const args = require('./args');
const { SocketIoAttachment } = require('./attach');
const { beforeEmitHooks, installBeforeEmit, runPending } = require('./before-emit');
const { statsSource, StatsProvider } = require('./stats');
const { installClientEvents } = require('./client-events');
const { OUTCOME_SIZE, installEmits } = require('./emits');

// The options that are the Node package's own (the mode, where to listen, the JS hooks);
// every other key is hub configuration and goes to the library's one schema as is
// (src/config.rs: camelCase, durations in milliseconds, unknown keys refused), so Node
// has no list of its own to drift from C's and Python's.
const BINDING_OPTIONS = new Set([
  'mode', 'host', 'port', 'server', 'authenticate', 'onClientEvent', 'onAudit', 'beforeEmit',
  'getStats',
]);

/** The hub configuration JSON: `options` without the binding's own keys. */
function hubConfigJson(options) {
  const config = {};
  for (const [key, value] of Object.entries(options)) {
    if (BINDING_OPTIONS.has(key) || value === undefined) continue;
    // JSON would drop a function silently; as text, a misspelt hook is still an
    // unknown key the library names.
    config[key] = typeof value === 'function' ? '<function>' : value;
  }
  return args.json('new RealTimeAPI', 'options', config);
}

/** The server configuration JSON: `options.server`, whole. */
function serveConfigJson(options) {
  const server = options.server === undefined ? {} : options.server;
  return args.json('new RealTimeAPI', 'options.server', args.object('new RealTimeAPI', 'options.server', server));
}

/** Reports an exception thrown by a host hook without letting it cross into C. */
function hookFailed(hook, error) {
  process.emitWarning(`microcoaster-realtime: the ${hook} hook threw: ${error && error.stack ? error.stack : error}`);
}

class RealTimeAPI {
  /**
   * @param io the host's socket.io Server (attach mode), or null in standalone mode
   * @param databaseManager the host's database; its `getStats()` is the library's stats
   *   provider unless `options.getStats` is given
   * @param options see index.d.ts
   */
  constructor(io, databaseManager, options = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('new RealTimeAPI: options must be an object');
    }
    const mode = options.mode || (io ? 'attach' : 'standalone');
    if (mode !== 'attach' && mode !== 'standalone') {
      throw new TypeError(`new RealTimeAPI: options.mode must be "attach" or "standalone", got ${JSON.stringify(mode)}`);
    }
    if (mode === 'attach' && (!io || typeof io.on !== 'function')) {
      throw new TypeError('new RealTimeAPI: attach mode needs the socket.io Server as its first argument');
    }
    for (const hook of ['authenticate', 'onClientEvent', 'onAudit', 'getStats']) {
      if (options[hook] !== undefined && typeof options[hook] !== 'function') {
        throw new TypeError(`new RealTimeAPI: options.${hook} must be a function`);
      }
    }
    const beforeEmit = beforeEmitHooks(options.beforeEmit);
    this.io = io;
    this.databaseManager = databaseManager;
    this.options = options;
    this.mode = mode;
    this.port = null;
    this._closed = false;
    this._initialized = false;
    this._server = null;
    this._keepAlive = null;
    this._registered = [];
    this._outcome = Buffer.alloc(OUTCOME_SIZE);
    this._emitting = false;
    this._runScheduled = false;
    this._attachment = mode === 'attach' ? new SocketIoAttachment(this) : null;
    const source = statsSource(options, databaseManager);
    this._stats = source ? new StatsProvider(source) : null;
    this._hub = this._build(beforeEmit);
  }

  _register(fnc, proto) {
    const pointer = koffi.register(fnc, koffi.pointer(proto));
    this._registered.push(pointer);
    return pointer;
  }

  _build(beforeEmit) {
    const config = hubConfigJson(this.options);
    const builderOut = [null];
    check(fn.builderNew(config, byteLength(config), builderOut), 'new RealTimeAPI');
    const builder = builderOut[0];
    try {
      const o = this.options;
      if (o.authenticate) {
        const cb = this._register((_, request, _rl, context, _cl, reply) => this._authenticate(request, context, reply),
          callbacks.AuthenticateCallback);
        check(fn.builderSetAuthenticator(builder, cb, null), 'authenticate hook');
      }
      if (o.onClientEvent) installClientEvents(this, builder, o.onClientEvent, hookFailed, check);
      if (o.onAudit) {
        const cb = this._register((_, text) => {
          try { o.onAudit(JSON.parse(text)); } catch (error) { hookFailed('onAudit', error); }
        }, callbacks.AuditCallback);
        check(fn.builderAddAuditSink(builder, cb, null), 'onAudit hook');
      }
      if (this._stats) this._stats.install(this, builder, check);
      installBeforeEmit(this, builder, beforeEmit, hookFailed, check);
      if (this._attachment) {
        const attachment = this._attachment;
        const frame = this._register((_, ids, n, packet, len) => {
          try { attachment.onFrame(ids, n, packet, len); } catch (error) { hookFailed('frame delivery', error); }
        }, callbacks.FrameCallback);
        const close = this._register((_, id) => attachment.onClose(id), callbacks.CloseCallback);
        check(fn.builderSetHostTransport(builder, 0, frame, close, null), 'attach mode');
      }
    } catch (error) {
      fn.builderFree(builder);
      this._unregister();
      throw error;
    }
    const hubOut = [null];
    try {
      check(fn.builderBuild(builder, hubOut), 'new RealTimeAPI');
    } catch (error) {
      this._unregister();
      throw error;
    }
    return hubOut[0];
  }

  _authenticate(request, context, reply) {
    const answer = (value) => {
      const text = JSON.stringify(value);
      fn.replySet(reply, text, byteLength(text));
    };
    try {
      const decision = this.options.authenticate(JSON.parse(request), JSON.parse(context));
      if (decision === undefined || decision === null) return 0;
      if (decision === false) return 2;
      if (typeof decision.then === 'function') {
        answer({ code: 'authenticator_failed', message: 'options.authenticate must return synchronously' });
        return 2;
      }
      if (decision.error) {
        answer(decision.error);
        return 2;
      }
      answer(decision);
      return 1;
    } catch (error) {
      hookFailed('authenticate', error);
      answer({ code: 'authenticator_failed', message: String(error && error.message ? error.message : error) });
      return 2;
    }
  }

  /** The executor's wake callback (any thread, through koffi): the queued emits run on
   * the loop, once per batch. */
  _scheduleRunPending() {
    if (this._runScheduled || this._closed) return;
    this._runScheduled = true;
    setImmediate(() => runPending(this));
  }

  _unregister() {
    for (const pointer of this._registered) koffi.unregister(pointer);
    this._registered = [];
  }

  _handle(call) {
    if (this._closed) throw libraryError(`${call}: this RealTimeAPI is closed`, 'closed', 'CLOSED');
    return this._hub;
  }

  /** Attaches to `io` (attach mode) or starts the library's own server (standalone mode,
   * `options.host` / `options.port`, default 127.0.0.1:3000; `this.port` is the bound port). */
  initialize() {
    const hub = this._handle('initialize');
    if (this._initialized) return this;
    this._initialized = true;
    if (this._attachment) {
      for (const socket of this.io.of('/').sockets.values()) this._attachment.connect(socket);
      this.io.on('connection', (socket) => this._attachment.connect(socket));
      return this;
    }
    const host = this.options.host || '127.0.0.1';
    const port = this.options.port === undefined ? 3000 : this.options.port;
    const addr = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const config = serveConfigJson(this.options);
    const serverOut = [null];
    check(fn.serve(hub, addr, byteLength(addr), config, byteLength(config), serverOut), 'initialize');
    this._server = serverOut[0];
    const portOut = [0];
    check(fn.serverPort(this._server, portOut), 'initialize');
    this.port = portOut[0];
    // The library's server threads do not keep Node alive; this does, until close().
    this._keepAlive = setInterval(() => {}, 1 << 30);
    return this;
  }

  /** Every counter (connections, emits, bad inputs, ...). */
  metrics() {
    const out = [null];
    check(fn.hubMetrics(this._handle('metrics'), out), 'metrics');
    return JSON.parse(takeString(out[0]));
  }

  /** Audit rows (needs `options.persist`). */
  auditQuery(filter = {}) {
    const json = args.json('auditQuery', 'filter', args.object('auditQuery', 'filter', filter));
    const out = [null];
    check(fn.hubAuditQuery(this._handle('auditQuery'), json, byteLength(json), out), 'auditQuery');
    return JSON.parse(takeString(out[0]));
  }

  /** Lets an ESP board authenticate itself with `{moduleId, deviceKey}`. */
  registerDeviceKey(moduleId, ownerId, key) {
    const c = 'registerDeviceKey';
    const id = args.text(c, 'moduleId', moduleId);
    const owner = args.json(c, 'ownerId', args.id(c, 'ownerId', ownerId));
    const text = args.text(c, 'key', key);
    check(fn.hubRegisterDeviceKey(this._handle(c), id, byteLength(id), owner, byteLength(owner), text, byteLength(text)), c);
  }

  /** Forgets a module's device key; returns whether there was one. */
  revokeDeviceKey(moduleId) {
    const c = 'revokeDeviceKey';
    const id = args.text(c, 'moduleId', moduleId);
    const out = [false];
    check(fn.hubRevokeDeviceKey(this._handle(c), id, byteLength(id), out), c);
    return Boolean(out[0]);
  }

  /** Stops the server (standalone), detaches every socket and frees the hub. The waits
   * happen off the event loop, so callbacks still queued for it can run meanwhile. */
  async close() {
    if (this._closed) return;
    this._closed = true;
    if (this._keepAlive) clearInterval(this._keepAlive);
    if (this._server) await promisify(fn.serverFree.async)(this._server);
    await promisify(fn.hubFree.async)(this._hub);
    this._unregister();
  }
}

/** The configuration `new RealTimeAPI(io, db, options)` would use, as the library reads
 * it: `{hub, server}` in canonical form (camelCase, milliseconds, every default filled
 * in). Throws as the constructor would on an unknown key or a bad value. */
RealTimeAPI.normalizeConfig = function normalizeConfig(options = {}) {
  args.object('normalizeConfig', 'options', options);
  const read = (native, json) => {
    const out = [null];
    check(native(json, byteLength(json), out), 'normalizeConfig');
    return JSON.parse(takeString(out[0]));
  };
  return {
    hub: read(fn.hubConfigNormalize, hubConfigJson(options)),
    server: read(fn.serveConfigNormalize, serveConfigJson(options)),
  };
};

installEmits(RealTimeAPI);

module.exports = { RealTimeAPI };
