'use strict';
// Attach-mode delivery against plain socket.io rooms, interleaved, in one run: K
// socket.io-client websocket clients (one user's tabs) in this process, the server in a
// child process (benches/ffi/delivery_server.js), M telemetry events emitted as fast as
// the server's event loop allows. Reports deliveries/s (until every client got every
// event) and server CPU per delivery, median of 5 runs each. Run by `scripts/bench ffi`.

// socket.io and its client are the Node package's dev-dependencies.
const requireFromPackage = require('node:module').createRequire(
  require('node:path').join(__dirname, '..', '..', 'bindings', 'node', 'package.json'));
const path = require('node:path');
const { fork } = require('node:child_process');
const { io } = requireFromPackage('socket.io-client');

const K = Number(process.env.FFI_BENCH_CLIENTS || 50);
const M = Number(process.env.FFI_BENCH_EVENTS || 2000);
const RUNS = 5;

const nextMessage = (child) => new Promise((resolve) => child.once('message', resolve));

async function once(mode) {
  const child = fork(path.join(__dirname, 'delivery_server.js'), [mode]);
  const { port } = await nextMessage(child);
  const url = `http://127.0.0.1:${port}`;
  let received = 0;
  let finished;
  const done = new Promise((resolve) => { finished = resolve; });
  const clients = [];
  for (let k = 0; k < K; k++) {
    const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    clients.push(socket);
    await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
    if (mode === 'attach') {
      await socket.emitWithAck('client:authenticate', { userId: 123, page: 'modules', sessionId: 'sess-bench' });
    } else {
      await socket.emitWithAck('join', 'user:123');
    }
    socket.on('module:telemetry:updated', () => { if (++received === K * M) finished(); });
  }
  const start = process.hrtime.bigint();
  child.send({ go: true, events: M });
  await done;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  child.send({ done: true });
  const { cpu } = await nextMessage(child);
  for (const socket of clients) socket.close();
  child.kill();
  return { rate: (K * M) / seconds, cpuNs: ((cpu.user + cpu.system) * 1000) / (K * M) };
}

(async () => {
  const results = { attach: [], plain: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const mode of ['attach', 'plain']) results[mode].push(await once(mode));
  }
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = {};
  for (const mode of ['attach', 'plain']) {
    summary[mode] = { rate: median(results[mode].map((r) => r.rate)), cpuNs: median(results[mode].map((r) => r.cpuNs)) };
    console.log(`delivery/${mode.padEnd(6)} ${summary[mode].rate.toFixed(0).padStart(8)} deliveries/s, ` +
      `server CPU ${summary[mode].cpuNs.toFixed(0)} ns/delivery (median of ${RUNS}; ${K} clients x ${M} events)`);
  }
  console.log(`delivery/attach vs plain rooms: ${(summary.attach.rate / summary.plain.rate).toFixed(2)}x throughput, ` +
    `${(summary.plain.cpuNs / summary.attach.cpuNs).toFixed(2)}x less server CPU per delivery`);
})().catch((error) => { console.error(error); process.exit(1); });
