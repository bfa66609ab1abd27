'use strict';
// FFI overhead from Node: the same two emits as benches/ffi/emit.c through RealTimeAPI
// (argument checks, JSON.stringify, the koffi call and the outcome object), on a hub with
// no connection. Prints the median ns/call of 5 runs. Run by `scripts/bench ffi`.

const RealTimeAPI = require('../../bindings/node');

const n = Number(process.argv[2] || 200000);
const api = new RealTimeAPI(null, null, { mode: 'standalone' });
const info = { type: 'Station', name: 'Station principale', userId: 123 };
api.emitModuleOnline('MC-1234-STN', info);
const values = [{ speed: 12.5, tick: 0 }, { speed: 12.5, tick: 1 }];

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const unchanged = [];
const changed = [];
for (let run = 0; run < 5; run++) {
  let start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) api.emitModuleOnline('MC-1234-STN', info);
  unchanged.push(Number(process.hrtime.bigint() - start) / n);
  start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) api.emitTelemetryUpdate('MC-1234-STN', values[i & 1]);
  changed.push(Number(process.hrtime.bigint() - start) / n);
}
console.log(`node/emit_unchanged             ${median(unchanged).toFixed(0).padStart(6)} ns/call (median of 5 runs x ${n})`);
console.log(`node/emit_changed_no_subscriber ${median(changed).toFixed(0).padStart(6)} ns/call (median of 5 runs x ${n})`);
api.close();
