'use strict';
// The emits of RealTimeAPI (realtime.js): the seed's twelve calls and the host's own
// events, each checking its arguments as the library names them and calling the C ABI
// with a reused outcome buffer. They are methods of RealTimeAPI (installed by
// installEmits) and use its handle (`_handle`) and stats provider (`_stats`); this file
// must not hold state of its own. Guarded by test/api.test.js, test/binary.test.js,
// test/everyone.test.js and the client suites (tests/clients/node/).

const { koffi, fn, check, byteLength } = require('./native');
const binary = require('./binary');
const args = require('./args');

// McrtOutcome as the C ABI lays it out: bool delivered at 0, uint8_t outcome at 1 (0
// unchanged, 1 delivered), then size_t connections aligned to its size. A reused buffer
// is read directly, cheaper than a decoded struct.
const SIZE_T = koffi.sizeof('size_t');
const OUTCOME_SIZE = 2 * SIZE_T;

/** `{outcome, connections}`, the shape of every binding and of the HTTP API. */
function outcome(out) {
  if (out[1] === 0) return { outcome: 'unchanged', connections: 0 };
  const connections = SIZE_T === 8
    ? out.readUInt32LE(8) + out.readUInt32LE(12) * 2 ** 32
    : out.readUInt32LE(4);
  return { outcome: 'delivered', connections };
}

/** An optional JSON argument: `undefined` or `null` crosses as NULL (the library's
 * "omitted", JSON null), anything else as its JSON text. */
function optionalJson(call, name, value, check = (v) => v) {
  if (value === undefined || value === null) return [null, 0];
  const json = args.json(call, name, check(value));
  return [json, byteLength(json)];
}

class Emits {
  _emit(call, native, ...rest) {
    // A hook (onAudit, onClientEvent) may emit while an emit is running: only the
    // outermost call uses the shared buffer.
    const out = this._emitting ? Buffer.alloc(OUTCOME_SIZE) : this._outcome;
    out[0] = 0;
    const outermost = !this._emitting;
    this._emitting = true;
    try {
      check(native(this._handle(call), ...rest, out), call);
    } finally {
      if (outermost) this._emitting = false;
    }
    return outcome(out);
  }

  emitModuleOnline(moduleId, info) {
    const c = 'emitModuleOnline';
    const id = args.text(c, 'moduleId', moduleId);
    const [json, len] = optionalJson(c, 'info', info, (v) => args.object(c, 'info', v));
    return this._emit(c, fn.moduleOnline, id, byteLength(id), json, len);
  }

  emitModuleOffline(moduleId, info) {
    const c = 'emitModuleOffline';
    const id = args.text(c, 'moduleId', moduleId);
    const [json, len] = optionalJson(c, 'info', info, (v) => args.object(c, 'info', v));
    return this._emit(c, fn.moduleOffline, id, byteLength(id), json, len);
  }

  emitModuleAdded(moduleData) {
    const c = 'emitModuleAdded';
    const json = args.json(c, 'moduleData', args.object(c, 'moduleData', moduleData));
    return this._emit(c, fn.moduleAdded, json, byteLength(json));
  }

  emitModuleRemoved(moduleData) {
    const c = 'emitModuleRemoved';
    const json = args.json(c, 'moduleData', args.object(c, 'moduleData', moduleData));
    return this._emit(c, fn.moduleRemoved, json, byteLength(json));
  }

  emitTelemetryUpdate(moduleId, telemetryData) {
    const c = 'emitTelemetryUpdate';
    const id = args.text(c, 'moduleId', moduleId);
    const json = args.json(c, 'telemetryData', telemetryData);
    return this._emit(c, fn.telemetryUpdate, id, byteLength(id), json, byteLength(json));
  }

  emitUserLoggedIn(userData, sessionId) {
    const c = 'emitUserLoggedIn';
    const json = args.json(c, 'userData', args.object(c, 'userData', userData));
    const sid = args.text(c, 'sessionId', sessionId);
    return this._emit(c, fn.userLoggedIn, json, byteLength(json), sid, byteLength(sid));
  }

  emitUserLoggedOut(userData, sessionId) {
    const c = 'emitUserLoggedOut';
    const json = args.json(c, 'userData', args.object(c, 'userData', userData));
    const sid = args.text(c, 'sessionId', sessionId);
    return this._emit(c, fn.userLoggedOut, json, byteLength(json), sid, byteLength(sid));
  }

  emitUserProfileUpdated(oldData, newData) {
    const c = 'emitUserProfileUpdated';
    const before = args.json(c, 'oldData', args.object(c, 'oldData', oldData));
    const after = args.json(c, 'newData', args.object(c, 'newData', newData));
    return this._emit(c, fn.userProfileUpdated, before, byteLength(before), after, byteLength(after));
  }

  emitUserRegistered(userData) {
    const c = 'emitUserRegistered';
    const json = args.json(c, 'userData', args.object(c, 'userData', userData));
    return this._emit(c, fn.userRegistered, json, byteLength(json));
  }

  /** The one stats call: with `stats`, sends them; without (or `null`), the library asks
   * its stats provider (`options.getStats`, else `databaseManager.getStats`, see
   * stats.js). Sends `admin:stats:updated` if they changed. */
  async emitStatsUpdate(stats) {
    const c = 'emitStatsUpdate';
    this._handle(c);
    if (stats === undefined || stats === null) {
      const ask = () => this._emit(c, fn.statsUpdate, null, 0);
      return this._stats ? this._stats.emit(ask) : ask();
    }
    const json = args.json(c, 'stats', args.object(c, 'stats', stats));
    return this._emit(c, fn.statsUpdate, json, byteLength(json));
  }

  emitAdminAction(adminId, action, details) {
    const c = 'emitAdminAction';
    const admin = args.json(c, 'adminId', args.id(c, 'adminId', adminId));
    const name = args.text(c, 'action', action);
    const [json, len] = optionalJson(c, 'details', details);
    return this._emit(c, fn.adminAction, admin, byteLength(admin), name, byteLength(name), json, len);
  }

  emitMaintenanceMode(enabled, message = '', adminId) {
    const c = 'emitMaintenanceMode';
    const on = args.boolean(c, 'enabled', enabled);
    const text = args.anyText(c, 'message', message);
    const admin = args.json(c, 'adminId', args.id(c, 'adminId', adminId));
    return this._emit(c, fn.maintenanceMode, on, text, byteLength(text), admin, byteLength(admin));
  }

  /** The host's own event to every connection of one user (not in a reserved prefix). */
  emitToUser(userId, event, data) {
    const c = 'emitToUser';
    const user = args.json(c, 'userId', args.id(c, 'userId', userId));
    const name = args.text(c, 'event', event);
    if (binary.hasBinary(data)) {
      // Buffers travel as Socket.IO attachments: socket.io-client receives Buffers.
      const { data: json, attachments } = binary.extract(data);
      const text = args.json(c, 'data', json);
      return this._emit(c, fn.toUserBinary, user, byteLength(user), name, byteLength(name),
        text, byteLength(text), binary.bytesArray(attachments), attachments.length);
    }
    const [json, len] = optionalJson(c, 'data', data);
    return this._emit(c, fn.toUser, user, byteLength(user), name, byteLength(name), json, len);
  }

  /** The host's own event to admin connections. */
  emitToAdmins(event, data) {
    const c = 'emitToAdmins';
    const name = args.text(c, 'event', event);
    if (binary.hasBinary(data)) {
      const { data: json, attachments } = binary.extract(data);
      const text = args.json(c, 'data', json);
      return this._emit(c, fn.toAdminsBinary, name, byteLength(name), text, byteLength(text),
        binary.bytesArray(attachments), attachments.length);
    }
    const [json, len] = optionalJson(c, 'data', data);
    return this._emit(c, fn.toAdmins, name, byteLength(name), json, len);
  }

  /** The host's own event to every authenticated user and admin connection. */
  emitToEveryone(event, data) {
    return this._emitToEveryone('emitToEveryone', event, data);
  }

  /** `emitToEveryone` under the seed's name (socket.io's `io.emit`). */
  emitToAll(event, data) {
    return this._emitToEveryone('emitToAll', event, data);
  }

  _emitToEveryone(c, event, data) {
    const name = args.text(c, 'event', event);
    if (binary.hasBinary(data)) {
      const { data: json, attachments } = binary.extract(data);
      const text = args.json(c, 'data', json);
      return this._emit(c, fn.toEveryoneBinary, name, byteLength(name), text, byteLength(text),
        binary.bytesArray(attachments), attachments.length);
    }
    const [json, len] = optionalJson(c, 'data', data);
    return this._emit(c, fn.toEveryone, name, byteLength(name), json, len);
  }
}

/** Puts the emit methods on `target`'s prototype as its own (non-enumerable, as class
 * methods are), so `RealTimeAPI` keeps one flat prototype. */
function installEmits(target) {
  for (const name of Object.getOwnPropertyNames(Emits.prototype)) {
    if (name === 'constructor') continue;
    Object.defineProperty(target.prototype, name, Object.getOwnPropertyDescriptor(Emits.prototype, name));
  }
}

module.exports = { OUTCOME_SIZE, installEmits };
