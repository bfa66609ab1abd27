'use strict';
// The JS before-emit hook (`options.beforeEmit`) and the executor that makes calling it
// synchronously safe. A before-emit filter runs under the library's emit lock, on the
// thread that emits. Emits the library starts itself (the device grace timer, a device
// connecting or sending telemetry to the standalone server, the HTTP API) would run it
// on a library thread, which would wait for this event loop while holding the lock,
// while the loop may be inside a synchronous emit waiting for that lock. So whenever a
// JS filter is registered the hub also gets the host executor: those emits are queued,
// the wake callback (any thread) schedules `mcrt_run_pending` with setImmediate, and
// they run here, on the loop, like every emit the host makes. The filter therefore only
// ever runs on the event loop, inside a synchronous library call.
//
// Contract (the same as the Python binding's `before_emit`):
//   beforeEmit(name, audience, payload) =>
//     undefined | null | true  keep the event as it is
//     false                    drop it (the state change stands; `connections` is 0)
//     anything else            keep it with this value (JSON) as its new payload
// `audience` is `{kind: 'user'|'session'|'admins'|'everyone', userId?}`; it cannot be
// changed. A filter that throws, or returns a value JSON cannot carry (a function, a
// symbol, a bigint, a promise, a cycle), fails: a warning is emitted, the library counts
// it in `metrics().hook_panics` and the event is dropped, as for Rust and Python filters
// (a failing filter never lets through what it may have been written to hide).

const { fn, byteLength, VERDICT, callbacks } = require('./native');

function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'object' && typeof value.then === 'function') return 'a promise';
  return typeof value;
}

/** The hooks of `options.beforeEmit`: a function or an array of functions. */
function beforeEmitHooks(option) {
  if (option === undefined) return [];
  const hooks = Array.isArray(option) ? option : [option];
  for (const hook of hooks) {
    if (typeof hook !== 'function') {
      throw new TypeError(`new RealTimeAPI: options.beforeEmit must be a function or an array of functions, got ${describe(hook)}`);
    }
  }
  return hooks;
}

/** The JSON text of a filter's new payload, or a TypeError. */
function rewritten(answer) {
  const kind = typeof answer;
  if (kind === 'function' || kind === 'symbol' || kind === 'bigint'
    || (answer && kind === 'object' && typeof answer.then === 'function')) {
    throw new TypeError(`beforeEmit must return undefined, a boolean or the new JSON payload, got ${describe(answer)}`);
  }
  let text;
  try {
    text = JSON.stringify(answer);
  } catch (error) {
    throw new TypeError(`beforeEmit returned a payload that is not JSON-serializable: ${error.message}`);
  }
  if (text === undefined) throw new TypeError('beforeEmit returned a payload that is not JSON-serializable');
  return text;
}

/** Installs the filters and, with them, the executor, on a builder being configured. */
function installBeforeEmit(api, builder, hooks, hookFailed, check) {
  if (hooks.length === 0) return;
  const wake = api._register(() => api._scheduleRunPending(), callbacks.WakeCallback);
  check(fn.builderSetExecutor(builder, wake, null), 'beforeEmit hook');
  for (const hook of hooks) {
    const filter = api._register((_, name, _nl, audience, _al, payload, _pl, reply) => {
      try {
        const answer = hook(name, JSON.parse(audience), JSON.parse(payload));
        if (answer === undefined || answer === null || answer === true) return VERDICT.KEEP;
        if (answer === false) return VERDICT.DROP;
        const text = rewritten(answer);
        fn.replySet(reply, text, byteLength(text));
        return VERDICT.KEEP;
      } catch (error) {
        hookFailed('beforeEmit', error);
        return VERDICT.FAILED;
      }
    }, callbacks.BeforeEmitCallback);
    check(fn.builderAddBeforeEmit(builder, filter, null), 'beforeEmit hook');
  }
}

/** Runs the emits the library queued for the loop (scheduled by the wake callback). */
function runPending(api) {
  api._runScheduled = false;
  if (api._closed) return;
  const ran = [0];
  const status = fn.runPending(api._hub, ran);
  if (status !== 0) {
    process.emitWarning(`microcoaster-realtime: mcrt_run_pending failed (${status}): ${fn.lastErrorMessage()}`);
  }
}

module.exports = { beforeEmitHooks, installBeforeEmit, runPending };
