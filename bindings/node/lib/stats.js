'use strict';
// The stats provider: `options.getStats`, else `databaseManager.getStats`, registered with
// the library (`mcrt_builder_set_stats_provider`) so that `emitStatsUpdate()` is the same
// one call as in Rust, C and Python: without stats, the library asks its provider, and
// validates, counts (`emits_failed`, `hook_panics`) and reports its failures as it does
// for every binding.
//
// The library asks synchronously, on the thread that called `mcrt_emit_stats_update`
// (the event loop for `emitStatsUpdate()`). A source declared `async` cannot answer
// there, so `emitStatsUpdate()` settles its promise on the loop first and the provider
// answers the library's ask with that value. A plain function is called by the provider
// itself, inside the library's ask; if it returns a promise anyway, that ask fails, the
// promise is settled, and the library is asked once more with its value (the first ask
// counts in `emits_failed`: declare such a source `async`).

const { fn, byteLength, callbacks } = require('./native');
const args = require('./args');

const AsyncFunction = (async () => {}).constructor;

/** The source of stats: `options.getStats`, else `databaseManager.getStats`, else null. */
function statsSource(options, databaseManager) {
  if (options.getStats) return options.getStats;
  if (databaseManager && typeof databaseManager.getStats === 'function') {
    // Bound, not wrapped: a bound async method is still recognised as async.
    return databaseManager.getStats.bind(databaseManager);
  }
  return null;
}

class StatsProvider {
  constructor(source) {
    this.source = source;
    this.async = source instanceof AsyncFunction;
    // What the ask in progress answers with: `{value}` settled beforehand, else the
    // source is called; a promise or error the source produced is left here for
    // `emitStatsUpdate` (a hook may emit during an ask, so each ask saves the last).
    this.ask = null;
  }

  /** Registers the provider on a builder being configured. */
  install(api, builder, check) {
    const cb = api._register((_, reply) => this.answer(reply), callbacks.StatsCallback);
    check(fn.builderSetStatsProvider(builder, cb, null), 'getStats hook');
  }

  /** McrtStatsCallback: 0 after replying with the stats' JSON, 1 after the reason. */
  answer(reply) {
    const ask = this.ask || {};
    const say = (text) => fn.replySet(reply, text, byteLength(text));
    try {
      const stats = 'value' in ask ? ask.value : this.source();
      if (stats && typeof stats.then === 'function') {
        ask.promise = stats;
        say('getStats returned a promise where the library asked synchronously');
        return 1;
      }
      say(args.json('emitStatsUpdate', 'stats', args.object('emitStatsUpdate', 'stats', stats)));
      return 0;
    } catch (error) {
      ask.error = error;
      say(String(error && error.message ? error.message : error));
      return 1;
    }
  }

  /** Runs `emit()` (the library call without stats) with `ask` as the ask in progress. */
  _asking(ask, emit) {
    const outer = this.ask;
    this.ask = ask;
    try {
      return emit();
    } catch (error) {
      throw ask.error || error;
    } finally {
      this.ask = outer;
    }
  }

  /** `emitStatsUpdate()` without stats: `emit()` asks the library, which asks this. */
  async emit(emit) {
    if (this.async) return this._asking({ value: await this.source() }, emit);
    const ask = {};
    try {
      return this._asking(ask, emit);
    } catch (error) {
      if (!ask.promise) throw error;
      return this._asking({ value: await ask.promise }, emit);
    }
  }
}

module.exports = { statsSource, StatsProvider };
