'use strict';
// One server for benches/ffi/delivery.js: socket.io 4.8.4 on 127.0.0.1, either with the
// library attached (`attach`: RealTimeAPI on the io server, emits through the C ABI) or
// plain socket.io rooms (`plain`: io.to(room).emit). On {go} it emits `events`
// telemetry events for one module, 100 per event-loop turn so the sockets can flush,
// and on {done} reports its CPU time since {go}.

// socket.io and its client are the Node package's dev-dependencies.
const requireFromPackage = require('node:module').createRequire(
  require('node:path').join(__dirname, '..', '..', 'bindings', 'node', 'package.json'));
const http = require('node:http');
const { Server } = requireFromPackage('socket.io');
const RealTimeAPI = require('../../bindings/node');

const mode = process.argv[2];
const server = http.createServer();
const io = new Server(server);
let api = null;
if (mode === 'attach') {
  api = new RealTimeAPI(io, null);
  api.initialize();
  api.emitUserLoggedIn({ id: 123, name: 'Ada' }, 'sess-bench');
  api.emitModuleOnline('MC-1', { userId: 123 });
} else {
  io.on('connection', (socket) => socket.on('join', (room, ack) => { socket.join(room); ack('joined'); }));
}

let cpuAtGo = null;
process.on('message', (message) => {
  if (message.go) {
    cpuAtGo = process.cpuUsage();
    let i = 0;
    const chunk = () => {
      for (let k = 0; k < 100 && i < message.events; k++, i++) {
        const telemetry = { speed: 12.5, tick: i };
        if (api) api.emitTelemetryUpdate('MC-1', telemetry);
        else io.to('user:123').emit('module:telemetry:updated', { moduleId: 'MC-1', telemetry, timestamp: Date.now() });
      }
      if (i < message.events) setImmediate(chunk);
    };
    chunk();
  } else if (message.done) {
    process.send({ cpu: process.cpuUsage(cpuAtGo) });
  }
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
