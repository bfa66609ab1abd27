'use strict';
// The installed npm package in the seed's app.js integration, run by scripts/package-test
// in an empty folder where `npm install <dist tgz>` put it: express + socket.io 4.8 +
// `new RealTimeAPI(io, databaseManager)`, a browser (real socket.io-client) that logs in
// and authenticates, and an ESP whose `esp:register` makes its module online; the
// browser must receive `module:status:changed`, then nothing but the allowed events up
// to a sentinel. Also checks that the library came from the package's native/ folder.
//
// Usage: node seed-app.cjs <expected version> <repository root>

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const express = require('express');
const { Server } = require('socket.io');
const { io } = require('socket.io-client');
const RealTimeAPI = require('microcoaster-realtime');

const TIMEOUT_MS = 5000;

/** A client that records every event so the test awaits them (never sleeps). */
function recorder(socket) {
  const events = [];
  const waiters = new Set();
  socket.onAny((name, data) => {
    events.push({ name, data });
    for (const wake of [...waiters]) wake();
  });
  return {
    events,
    next(name, from = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(look);
          reject(new Error(`timed out waiting for ${name}; got ${events.map((e) => e.name)}`));
        }, TIMEOUT_MS);
        function look() {
          const index = events.findIndex((event, i) => i >= from && event.name === name);
          if (index === -1) return;
          waiters.delete(look);
          clearTimeout(timer);
          resolve(index);
        }
        waiters.add(look);
        look();
      });
    },
  };
}

function checkInstalledPackage(expected, repository) {
  const pkgDir = path.dirname(require.resolve('microcoaster-realtime/package.json'));
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const platform = `${process.platform}-${process.arch}`;
  assert.equal(pkg.version, expected);
  assert.equal(RealTimeAPI.version(), expected, 'the native library has the package version');
  assert.equal(RealTimeAPI.libraryPath,
    path.join(pkgDir, 'native', platform, 'libmicrocoaster_realtime.so'));
  assert.ok(!RealTimeAPI.libraryPath.startsWith(repository), 'loaded from the repository');
  const carried = fs.readdirSync(path.join(pkgDir, 'native'));
  assert.deepEqual(carried.map((dir) => dir.split('-')[0]), pkg.os);
  assert.deepEqual(carried.map((dir) => dir.split('-')[1]), pkg.cpu);
}

async function main() {
  checkInstalledPackage(process.argv[2], process.argv[3]);
  const users = new Map([['ada', { id: 123, username: 'ada', name: 'Ada', userType: 'user' }]]);
  const databaseManager = { getStats: async () => ({ users: users.size, modules: 0 }) };

  // --- the seed's app.js ---
  const app = express();
  app.use(express.json());
  const server = http.createServer(app);
  const ioServer = new Server(server);
  const realTimeAPI = new RealTimeAPI(ioServer, databaseManager);
  realTimeAPI.initialize();
  app.locals.realTimeAPI = realTimeAPI;
  app.post('/login', (req, res) => {
    const user = users.get(req.body.username);
    const sessionId = `sess-${req.body.username}`;
    req.app.locals.realTimeAPI.emitUserLoggedIn(user, sessionId);
    res.json({ user, sessionId });
  });
  ioServer.on('connection', (socket) => {
    socket.on('esp:register', ({ moduleId, ...info }) => realTimeAPI.emitModuleOnline(moduleId, info));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const options = { transports: ['websocket'], forceNew: true, reconnection: false };
  const sockets = [];
  try {
    // --- the browser: login, then client:authenticate with the seed's payload ---
    const login = await (await fetch(`${url}/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'ada' }),
    })).json();
    const tab = io(url, options);
    sockets.push(tab);
    const seen = recorder(tab);
    await new Promise((resolve, reject) => { tab.once('connect', resolve); tab.once('connect_error', reject); });
    const ack = await tab.timeout(TIMEOUT_MS).emitWithAck('client:authenticate', {
      userId: login.user.id, userType: 'user', page: 'modules', sessionId: login.sessionId,
    });
    assert.equal(ack.userId, '123');
    const snapshot = await seen.next('page:snapshot');

    // --- an ESP registers: its owner's tab hears module:status:changed ---
    const esp = io(url, options);
    sockets.push(esp);
    await new Promise((resolve) => esp.once('connect', resolve));
    esp.emit('esp:register', { moduleId: 'MC-1234-STN', type: 'Station', userId: 123 });
    const changed = await seen.next('module:status:changed', snapshot + 1);
    assert.deepEqual(
      { moduleId: seen.events[changed].data.moduleId, online: seen.events[changed].data.online },
      { moduleId: 'MC-1234-STN', online: true });
    realTimeAPI.emitToUser(123, 'test:sentinel', {});
    const sentinel = await seen.next('test:sentinel', changed + 1);
    assert.deepEqual(seen.events.slice(snapshot + 1, sentinel).map((e) => e.name), ['module:status:changed']);
    // A library error is a RealTimeError with a stable code.
    assert.throws(() => realTimeAPI.emitToUser(123, 'admin:fake', {}),
      (error) => error instanceof RealTimeAPI.RealTimeError && error.code === 'reserved_event');
  } finally {
    for (const socket of sockets) socket.close();
    ioServer.close();
    await realTimeAPI.close();
  }
  console.log('npm package: the seed app.js integration received module:status:changed');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
