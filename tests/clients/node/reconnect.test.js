'use strict';
// The official client reconnects by itself when the server restarts on the same port,
// and authenticates again with its `auth` object.

const assert = require('node:assert/strict');
const { after, test } = require('node:test');
const h = require('./helpers');

const TEST_TIMEOUT = 30000;
const running = new Set();

after(async () => {
  await Promise.all([...running].map((server) => server.stop('SIGKILL')));
});

async function start(options) {
  const server = await h.startServer(options);
  running.add(server);
  server.exited.then(() => running.delete(server));
  return server;
}

async function restartScenario(t, signal, transportOptions, expectedTransport) {
  let server = await start();
  const user = h.uid('user');
  const socket = h.connect(server.url, {
    ...transportOptions,
    auth: { token: h.mintToken({ sub: user }) },
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 250,
    randomizationFactor: 0,
  });
  t.after(() => socket.close());
  await h.once(socket, 'connect');
  await h.received(socket, 'auth:ok');
  if (expectedTransport === 'websocket' && socket.io.engine.transport.name !== 'websocket') {
    await h.once(socket.io.engine, 'upgrade');
  }
  const firstId = socket.id;

  const disconnected = h.once(socket, 'disconnect');
  await server.stop(signal);
  const reason = await disconnected;
  if (signal === 'SIGKILL') {
    // A crash may cut a pending long poll (an error) or close the websocket.
    assert.ok(['transport close', 'transport error'].includes(reason), reason);
  } else {
    assert.equal(reason, 'transport close');
  }
  assert.equal(socket.active, true, 'the client keeps trying');

  const reconnected = h.once(socket, 'connect', 15000);
  const authed = h.once(socket, 'auth:ok', 15000);
  server = await start({ port: server.port, dir: server.dir });
  await reconnected;
  assert.notEqual(socket.id, firstId);
  assert.equal((await authed).userId, user);
  if (expectedTransport === 'websocket' && socket.io.engine.transport.name !== 'websocket') {
    await h.once(socket.io.engine, 'upgrade');
  }
  assert.equal(socket.io.engine.transport.name, expectedTransport);

  // Events flow again on the new server.
  const got = h.once(socket, 'module:status:changed');
  const moduleId = h.uid('MC');
  await server.api('module_online', { moduleId, userId: user });
  assert.equal((await got).moduleId, moduleId);
  socket.close();
  await server.stop();
}

test('websocket client reconnects after a clean restart (SIGTERM)', { timeout: TEST_TIMEOUT }, async (t) => {
  await restartScenario(t, 'SIGTERM', { transports: ['websocket'] }, 'websocket');
});

test('default client (upgraded) reconnects after a crash (SIGKILL)', { timeout: TEST_TIMEOUT }, async (t) => {
  await restartScenario(t, 'SIGKILL', {}, 'websocket');
});

test('polling client reconnects after a clean restart (SIGTERM)', { timeout: TEST_TIMEOUT }, async (t) => {
  await restartScenario(t, 'SIGTERM', { transports: ['polling'] }, 'polling');
});

test('polling client reconnects after a crash (SIGKILL)', { timeout: TEST_TIMEOUT }, async (t) => {
  await restartScenario(t, 'SIGKILL', { transports: ['polling'] }, 'polling');
});

for (const transports of [['websocket'], ['polling']]) {
  test(`a clean shutdown delivers every event emitted before it (${transports})`, { timeout: TEST_TIMEOUT }, async (t) => {
    const server = await start();
    const user = h.uid('user');
    const socket = await h.connectAuthed(server.url, { transports, auth: { token: h.mintToken({ sub: user }) } });
    t.after(() => socket.close());
    const disconnected = h.once(socket, 'disconnect');
    for (let n = 0; n < 20; n += 1) {
      await server.api('to_user', { userId: user, event: 'cart:moved', data: { n } });
    }
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0);
    assert.equal(await disconnected, 'transport close');
    const moves = socket.received.filter((e) => e.event === 'cart:moved').map((e) => e.data.n);
    assert.deepEqual(moves, [...Array(20).keys()]);
  });
}
