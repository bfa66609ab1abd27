'use strict';
// The errors the library throws: every refusal is a RealTimeError (or a subclass chosen by
// its stable `code`, the same codes as the HTTP API, C and Python), so callers test
// `instanceof` or `code`. Arguments of the wrong kind stay TypeErrors with a `code`, as
// Node's own APIs throw them. Nothing here calls the library.

/** An error the library returned: `code` is its stable machine-readable code
 * (`unknown_module`, `reserved_event`, ...), `status` the C status name. */
class RealTimeError extends Error {
  constructor(message, code = 'error', status = 'REFUSED') {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** Telemetry for a module the hub has never seen: emit module online/added first. */
class UnknownModuleError extends RealTimeError {}
/** The call names another owner than the module has. */
class OwnerMismatchError extends RealTimeError {}
/** emitToUser / emitToAdmins with a name in a reserved prefix (`auth:`, `admin:`, ...). */
class ReservedEventError extends RealTimeError {}
/** emitStatsUpdate() without stats and without a stats provider, or the provider failed. */
class StatsProviderError extends RealTimeError {}
/** An emit from inside a before-emit filter, which runs under the emit lock. */
class ReentrantEmitError extends RealTimeError {}
/** The call was made on a RealTimeAPI after close(). */
class ClosedError extends RealTimeError {}

const BY_CODE = {
  unknown_module: UnknownModuleError,
  owner_mismatch: OwnerMismatchError,
  reserved_event: ReservedEventError,
  no_stats_provider: StatsProviderError,
  stats_provider_failed: StatsProviderError,
  reentrant_emit: ReentrantEmitError,
  closed: ClosedError,
};

/** The RealTimeError (subclass) for a library refusal with `code`. */
function libraryError(message, code, status) {
  const Class = BY_CODE[code] || RealTimeError;
  return new Class(message, code, status);
}

module.exports = {
  RealTimeError, UnknownModuleError, OwnerMismatchError, ReservedEventError,
  StatsProviderError, ReentrantEmitError, ClosedError, libraryError,
};
