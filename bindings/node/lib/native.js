'use strict';
// The C ABI as koffi sees it: loads the shared library, declares every function and
// callback type, and turns a status code into a thrown error. Nothing here knows about
// socket.io or the seed's API (that is realtime.js / attach.js).

const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');

const STATUS = [
  'OK', 'NULL_POINTER', 'INVALID_UTF8', 'INVALID_JSON', 'INVALID_ARGUMENT', 'REFUSED',
  'REENTRANT', 'NOT_CONFIGURED', 'NOT_FOUND', 'IO', 'CALLBACK_FAILED', 'PANIC',
];
// Statuses that mean "the caller passed something wrong": thrown as TypeError.
const ARGUMENT_STATUSES = new Set([1, 2, 3, 4]);

const errors = require('./errors');

const NAMES = {
  linux: 'libmicrocoaster_realtime.so',
  darwin: 'libmicrocoaster_realtime.dylib',
  win32: 'microcoaster_realtime.dll',
};
const PLATFORM = `${process.platform}-${process.arch}`;
const PACKAGE_DIR = path.join(__dirname, '..');
const LIBRARY = NAMES[process.platform] || NAMES.linux;

/** Where the shared library may be, in order: MCRT_LIBRARY (an explicit choice), the
 * library this package carries for this platform (the npm tarball's
 * native/<platform>-<arch>/), then, only when this package is bindings/node of a
 * repository checkout, that checkout's cargo target folders. */
function candidates() {
  if (process.env.MCRT_LIBRARY) return [process.env.MCRT_LIBRARY];
  const tried = [path.join(PACKAGE_DIR, 'native', PLATFORM, LIBRARY)];
  const root = path.resolve(PACKAGE_DIR, '..', '..');
  const inCheckout = path.basename(PACKAGE_DIR) === 'node'
    && fs.existsSync(path.join(root, 'Cargo.toml'))
    && fs.existsSync(path.join(root, 'include', 'microcoaster_realtime.h'));
  if (!inCheckout) return tried;
  const targets = [process.env.CARGO_TARGET_DIR, path.join(root, 'target')].filter(Boolean);
  for (const target of targets) {
    for (const profile of ['release', 'ci', 'debug']) {
      tried.push(path.resolve(root, target, profile, LIBRARY));
    }
  }
  return tried;
}

/** The platforms this package carries a library for (the folders of native/). */
function carried() {
  try {
    return fs.readdirSync(path.join(PACKAGE_DIR, 'native'));
  } catch {
    return [];
  }
}

function findLibrary() {
  const tried = candidates();
  const found = tried.find((file) => fs.existsSync(file));
  if (!found) {
    const has = carried();
    const error = new Error(
      `microcoaster-realtime: no native library for ${PLATFORM} ` +
      `(this package carries ${has.length ? has.join(', ') : 'none'}); ` +
      'install the package built for this platform, build the library with ' +
      `\`cargo build --release\` and set MCRT_LIBRARY to it. Tried:\n  ${tried.join('\n  ')}`);
    error.code = 'ERR_MCRT_NO_LIBRARY';
    throw error;
  }
  return found;
}

const libraryPath = findLibrary();
const lib = koffi.load(libraryPath);

koffi.opaque('McrtBuilder');
koffi.opaque('McrtHub');
koffi.opaque('McrtServer');
koffi.opaque('McrtReply');
// One binary value: a Buffer passed as the pointer, and its length.
koffi.struct('McrtBytes', { data: 'const uint8_t *', len: 'size_t' });
// The same, as the library hands it out (read with koffi.decode).
koffi.struct('McrtBytesOut', { data: 'void *', len: 'size_t' });
// An acknowledgement body with its binary values (mcrt_host_message_with_ack).
koffi.struct('McrtAck', { json: 'const char *', json_len: 'size_t', attachments: 'void *', count: 'size_t' });

// Callback types: strings the library NUL-terminates arrive decoded; the frame does not
// (it is the event's shared encoding), so it arrives as a pointer plus a length.
const FrameCallback = koffi.proto(
  'void McrtFrameCallback(void *user_data, const void *ids, size_t n, const void *frame, size_t len)');
const CloseCallback = koffi.proto(
  'void McrtCloseCallback(void *user_data, uint64_t id, const char *reason, size_t reason_len)');
const AuthenticateCallback = koffi.proto(
  'int32_t McrtAuthenticateCallback(void *user_data, const char *request, size_t request_len, ' +
  'const char *context, size_t context_len, void *reply)');
const ClientEventCallback = koffi.proto(
  'void McrtClientEventCallback(void *user_data, const char *event, size_t len)');
const AnsweringClientEventCallback = koffi.proto(
  'void McrtAnsweringClientEventCallback(void *user_data, const char *event, size_t len, ' +
  'void *attachments, size_t count, void *answer)');
const AuditCallback = koffi.proto(
  'void McrtAuditCallback(void *user_data, const char *record, size_t len)');
const BeforeEmitCallback = koffi.proto(
  'int32_t McrtBeforeEmitCallback(void *user_data, const char *name, size_t name_len, ' +
  'const char *audience, size_t audience_len, const char *payload, size_t payload_len, void *reply)');
const WakeCallback = koffi.proto('void McrtWakeCallback(void *user_data)');
const StatsCallback = koffi.proto('int32_t McrtStatsCallback(void *user_data, void *reply)');

/** McrtFilterVerdict. */
const VERDICT = { KEEP: 0, DROP: 1, FAILED: 2 };

const S = 'const char *';
const fn = {
  version: lib.func('const char *mcrt_version()'),
  lastErrorMessage: lib.func('const char *mcrt_last_error_message()'),
  lastErrorCode: lib.func('const char *mcrt_last_error_code()'),
  stringFree: lib.func('void mcrt_string_free(void *string)'),
  replySet: lib.func(`int mcrt_reply_set(void *reply, ${S} data, size_t len)`),

  hubConfigNormalize: lib.func(`int mcrt_hub_config_normalize(${S} config, size_t len, _Out_ void **out)`),
  serveConfigNormalize: lib.func(`int mcrt_serve_config_normalize(${S} config, size_t len, _Out_ void **out)`),
  builderNew: lib.func(`int mcrt_builder_new(${S} config, size_t len, _Out_ McrtBuilder **out)`),
  builderSetAuthenticator: lib.func('int mcrt_builder_set_authenticator(McrtBuilder *b, McrtAuthenticateCallback *cb, void *user_data)'),
  builderSetClientEventHandler: lib.func('int mcrt_builder_set_client_event_handler(McrtBuilder *b, McrtClientEventCallback *cb, void *user_data)'),
  builderSetAnsweringClientEventHandler: lib.func('int mcrt_builder_set_answering_client_event_handler(McrtBuilder *b, McrtAnsweringClientEventCallback *cb, void *user_data)'),
  answerSet: lib.func(`int mcrt_answer_set(void *answer, ${S} data, size_t len, const McrtBytes *values, size_t count)`),
  builderAddAuditSink: lib.func('int mcrt_builder_add_audit_sink(McrtBuilder *b, McrtAuditCallback *cb, void *user_data)'),
  builderAddBeforeEmit: lib.func('int mcrt_builder_add_before_emit(McrtBuilder *b, McrtBeforeEmitCallback *cb, void *user_data)'),
  builderSetStatsProvider: lib.func('int mcrt_builder_set_stats_provider(McrtBuilder *b, McrtStatsCallback *cb, void *user_data)'),
  builderSetExecutor: lib.func('int mcrt_builder_set_executor(McrtBuilder *b, McrtWakeCallback *wake, void *user_data)'),
  runPending: lib.func('int mcrt_run_pending(McrtHub *hub, _Out_ size_t *ran)'),
  builderSetHostTransport: lib.func('int mcrt_builder_set_host_transport(McrtBuilder *b, int32_t format, McrtFrameCallback *frame, McrtCloseCallback *close, void *user_data)'),
  builderBuild: lib.func('int mcrt_builder_build(McrtBuilder *b, _Out_ McrtHub **out)'),
  builderFree: lib.func('void mcrt_builder_free(McrtBuilder *b)'),
  hubFree: lib.func('void mcrt_hub_free(McrtHub *hub)'),
  hubShutdown: lib.func('int mcrt_hub_shutdown(McrtHub *hub, uint64_t deadline_ms)'),
  hubMetrics: lib.func('int mcrt_hub_metrics(McrtHub *hub, _Out_ void **out)'),
  hubAuditQuery: lib.func(`int mcrt_hub_audit_query(McrtHub *hub, ${S} filter, size_t len, _Out_ void **out)`),
  hubRegisterDeviceKey: lib.func(`int mcrt_hub_register_device_key(McrtHub *hub, ${S} m, size_t ml, ${S} o, size_t ol, ${S} k, size_t kl)`),
  hubRevokeDeviceKey: lib.func(`int mcrt_hub_revoke_device_key(McrtHub *hub, ${S} m, size_t ml, _Out_ bool *revoked)`),
  serve: lib.func(`int mcrt_serve(McrtHub *hub, ${S} addr, size_t addr_len, ${S} config, size_t config_len, _Out_ McrtServer **out)`),
  serverPort: lib.func('int mcrt_server_port(McrtServer *server, _Out_ uint16_t *port)'),
  serverFree: lib.func('void mcrt_server_free(McrtServer *server)'),

  hostAttach: lib.func(`int mcrt_host_attach(McrtHub *hub, ${S} context, size_t len, _Out_ uint64_t *id)`),
  hostMessage: lib.func(`int mcrt_host_message(McrtHub *hub, uint64_t id, ${S} event, size_t event_len, ${S} data, size_t data_len, _Out_ void **ack)`),
  hostAuthenticate: lib.func(`int mcrt_host_authenticate(McrtHub *hub, uint64_t id, ${S} auth, size_t len, _Out_ void **ack)`),
  hostDetach: lib.func('int mcrt_host_detach(McrtHub *hub, uint64_t id)'),

  moduleOnline: lib.func(`int mcrt_emit_module_online(McrtHub *hub, ${S} id, size_t id_len, ${S} info, size_t info_len, void *out)`),
  moduleOffline: lib.func(`int mcrt_emit_module_offline(McrtHub *hub, ${S} id, size_t id_len, ${S} info, size_t info_len, void *out)`),
  moduleAdded: lib.func(`int mcrt_emit_module_added(McrtHub *hub, ${S} module, size_t len, void *out)`),
  moduleRemoved: lib.func(`int mcrt_emit_module_removed(McrtHub *hub, ${S} module, size_t len, void *out)`),
  telemetryUpdate: lib.func(`int mcrt_emit_telemetry_update(McrtHub *hub, ${S} id, size_t id_len, ${S} t, size_t t_len, void *out)`),
  userLoggedIn: lib.func(`int mcrt_emit_user_logged_in(McrtHub *hub, ${S} user, size_t user_len, ${S} sid, size_t sid_len, void *out)`),
  userLoggedOut: lib.func(`int mcrt_emit_user_logged_out(McrtHub *hub, ${S} user, size_t user_len, ${S} sid, size_t sid_len, void *out)`),
  userProfileUpdated: lib.func(`int mcrt_emit_user_profile_updated(McrtHub *hub, ${S} old, size_t old_len, ${S} new_, size_t new_len, void *out)`),
  userRegistered: lib.func(`int mcrt_emit_user_registered(McrtHub *hub, ${S} user, size_t len, void *out)`),
  statsUpdate: lib.func(`int mcrt_emit_stats_update(McrtHub *hub, ${S} stats, size_t len, void *out)`),
  adminAction: lib.func(`int mcrt_emit_admin_action(McrtHub *hub, ${S} admin, size_t admin_len, ${S} action, size_t action_len, ${S} details, size_t details_len, void *out)`),
  maintenanceMode: lib.func(`int mcrt_emit_maintenance_mode(McrtHub *hub, bool enabled, ${S} message, size_t message_len, ${S} admin, size_t admin_len, void *out)`),
  toUser: lib.func(`int mcrt_emit_to_user(McrtHub *hub, ${S} user, size_t user_len, ${S} event, size_t event_len, ${S} data, size_t data_len, void *out)`),
  toAdmins: lib.func(`int mcrt_emit_to_admins(McrtHub *hub, ${S} event, size_t event_len, ${S} data, size_t data_len, void *out)`),
  toEveryone: lib.func(`int mcrt_emit_to_everyone(McrtHub *hub, ${S} event, size_t event_len, ${S} data, size_t data_len, void *out)`),
  toUserBinary: lib.func(`int mcrt_emit_binary_to_user(McrtHub *hub, ${S} user, size_t user_len, ${S} event, size_t event_len, ${S} data, size_t data_len, const McrtBytes *values, size_t count, void *out)`),
  toAdminsBinary: lib.func(`int mcrt_emit_binary_to_admins(McrtHub *hub, ${S} event, size_t event_len, ${S} data, size_t data_len, const McrtBytes *values, size_t count, void *out)`),
  toEveryoneBinary: lib.func(`int mcrt_emit_binary_to_everyone(McrtHub *hub, ${S} event, size_t event_len, ${S} data, size_t data_len, const McrtBytes *values, size_t count, void *out)`),
  hostMessageWithAck: lib.func(`int mcrt_host_message_with_ack(McrtHub *hub, uint64_t id, ${S} event, size_t event_len, ${S} data, size_t data_len, const McrtBytes *values, size_t count, _Out_ void **ack)`),
  ackFree: lib.func('void mcrt_ack_free(void *ack)'),
  hostMessageBinary: lib.func(`int mcrt_host_message_binary(McrtHub *hub, uint64_t id, ${S} event, size_t event_len, ${S} data, size_t data_len, const McrtBytes *values, size_t count, _Out_ void **ack)`),
};

/** Throws the library's last error for a failed `status` (TypeError for bad arguments). */
function check(status, what) {
  if (status === 0) return;
  const code = fn.lastErrorCode() || STATUS[status] || 'unknown';
  const message = `${what}: ${fn.lastErrorMessage()}`;
  if (ARGUMENT_STATUSES.has(status)) {
    const error = new TypeError(message);
    error.code = code;
    error.status = STATUS[status];
    throw error;
  }
  throw errors.libraryError(message, code, STATUS[status]);
}

/** Reads and frees a string the library returned through a `void **` out-parameter. */
function takeString(pointer) {
  if (!pointer) return null;
  try {
    return koffi.decode.string(pointer);
  } finally {
    fn.stringFree(pointer);
  }
}

/** Copies `count` McrtBytes at `pointer` (the library's, valid during the call) into
 * Buffers. */
function takeValues(pointer, count) {
  const n = Number(count);
  if (!pointer || n === 0) return [];
  return koffi.decode(pointer, 'McrtBytesOut', n).map(({ data, len }) => (Number(len) === 0
    ? Buffer.alloc(0)
    : Buffer.from(koffi.decode(data, 'uint8_t', Number(len)))));
}

/** Reads and frees an McrtAck: `{json, values}`, or null for a NULL pointer. */
function takeAck(pointer) {
  if (!pointer) return null;
  try {
    const ack = koffi.decode(pointer, 'McrtAck');
    return { json: ack.json, values: takeValues(ack.attachments, ack.count) };
  } finally {
    fn.ackFree(pointer);
  }
}

const byteLength = (text) => Buffer.byteLength(text, 'utf8');

module.exports = {
  koffi, lib, fn, check, takeString, takeValues, takeAck, byteLength, libraryPath, RealTimeError: errors.RealTimeError, STATUS, VERDICT,
  callbacks: {
    FrameCallback, CloseCallback, AuthenticateCallback, ClientEventCallback,
    AnsweringClientEventCallback, AuditCallback,
    BeforeEmitCallback, WakeCallback, StatsCallback,
  },
};
