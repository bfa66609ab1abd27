'use strict';
// The official socket.io-client connects to the real server over every transport.

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const h = require('./helpers');

const TEST_TIMEOUT = 20000;
let server;

before(async () => {
  server = await h.startServer();
});

after(async () => {
  if (server) await server.stop();
});

/**
 * Connects with `transportOptions` to `url`, checks the session works over
 * `expectedTransport`, and resolves to {socket, attempted}, `attempted` being the
 * transport the client opened first.
 */
async function roundTrip(t, transportOptions, expectedTransport, url = server.url) {
  const user = h.uid('user');
  const token = h.mintToken({ sub: user });
  const socket = h.connect(url, { ...transportOptions, auth: { token } });
  t.after(() => socket.close());
  // io() opens its first transport synchronously.
  const attempted = socket.io.engine.transport.name;
  await h.connected(socket);
  if (expectedTransport === 'websocket' && socket.io.engine.transport.name !== 'websocket') {
    await h.once(socket.io.engine, 'upgrade');
  }
  assert.equal(socket.io.engine.transport.name, expectedTransport);
  const ok = await h.received(socket, 'auth:ok');
  assert.equal(ok.userId, user);
  assert.equal(ok.role, 'user');
  assert.equal(ok.page, 'modules');
  const snapshot = await h.received(socket, 'page:snapshot');
  assert.equal(snapshot.page, 'modules');
  assert.deepEqual(snapshot.modules, []);
  // A host event reaches it over this transport, and it is still the same transport.
  const moduleId = h.uid('MC');
  const waiting = h.once(socket, 'module:status:changed');
  const answer = await server.api('module_online', { moduleId, userId: user, type: 'Station', name: 'Gare' });
  assert.deepEqual(answer, { outcome: 'delivered', connections: 1 });
  const status = await waiting;
  assert.equal(status.moduleId, moduleId);
  assert.equal(status.online, true);
  assert.equal(status.userId, user);
  assert.equal(socket.io.engine.transport.name, expectedTransport);
  // A second identical emit is no change: nothing is sent.
  assert.deepEqual(
    await server.api('module_online', { moduleId, userId: user, type: 'Station', name: 'Gare' }),
    { outcome: 'unchanged', connections: 0 },
  );
  await h.assertEventsThroughSentinel(server, socket, user, ['auth:ok', 'page:snapshot', 'module:status:changed']);
  assert.equal(socket.io.engine.transport.name, expectedTransport);
  return { socket, attempted };
}

test('websocket only', { timeout: TEST_TIMEOUT }, async (t) => {
  await roundTrip(t, { transports: ['websocket'] }, 'websocket');
});

test('long-polling only', { timeout: TEST_TIMEOUT }, async (t) => {
  await roundTrip(t, { transports: ['polling'] }, 'polling');
});

test('default: polling upgraded to websocket', { timeout: TEST_TIMEOUT }, async (t) => {
  await roundTrip(t, {}, 'websocket');
});

test('websocket first with polling as fallback (tryAllTransports): websocket when it works', { timeout: TEST_TIMEOUT }, async (t) => {
  const { attempted } = await roundTrip(t, { transports: ['websocket', 'polling'], tryAllTransports: true }, 'websocket');
  assert.equal(attempted, 'websocket');
});

test('websocket refused by a proxy: the client falls back to polling (tryAllTransports)', { timeout: TEST_TIMEOUT }, async (t) => {
  const proxy = await h.startNoWebsocketProxy(server);
  t.after(() => proxy.close());
  const { socket, attempted } = await roundTrip(
    t, { transports: ['websocket', 'polling'], tryAllTransports: true }, 'polling', proxy.url);
  assert.equal(attempted, 'websocket', 'the client tried websocket first');
  assert.equal(proxy.refusedUpgrades, 1, 'the proxy refused that websocket upgrade');
  assert.deepEqual(socket.io.engine.transports, ['polling'], 'the client gave up websocket for this connection');
});

test('CONNECT to an unknown namespace gets connect_error', { timeout: TEST_TIMEOUT }, async (t) => {
  const token = h.mintToken({ sub: h.uid('user') });
  for (const transports of [['websocket'], ['polling']]) {
    const socket = h.connect(`${server.url}/nope`, { transports, auth: { token } });
    t.after(() => socket.close());
    const error = await h.once(socket, 'connect_error');
    assert.match(error.message, /Invalid namespace/);
    assert.equal(socket.connected, false);
  }
});

test('two tabs of one user (websocket and polling) both receive', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const token = h.mintToken({ sub: user, sid: h.uid('sess') });
  const tabA = await h.connectAuthed(server.url, { transports: ['websocket'], auth: { token } });
  const tabB = await h.connectAuthed(server.url, { transports: ['polling'], auth: { token } });
  t.after(() => h.closeAll(tabA, tabB));
  const moduleId = h.uid('MC');
  const gotA = h.once(tabA, 'user:module:added');
  const gotB = h.once(tabB, 'user:module:added');
  const answer = await server.api('module_added', { id: moduleId, userId: user, type: 'Lift', name: 'Lift hill' });
  assert.deepEqual(answer, { outcome: 'delivered', connections: 2 });
  const [a, b] = await Promise.all([gotA, gotB]);
  assert.equal(a.module.moduleId, moduleId);
  assert.deepEqual(a, b);
  // A host event to the user reaches both tabs too.
  const toA = h.once(tabA, 'cart:moved');
  const toB = h.once(tabB, 'cart:moved');
  await server.api('to_user', { userId: user, event: 'cart:moved', data: { x: 1 } });
  assert.equal((await toA).x, 1);
  assert.equal((await toB).x, 1);
});

test('the HTTP API refuses a wrong key', { timeout: TEST_TIMEOUT }, async () => {
  await h.api(server.url, 'stats_update', { stats: { users: 1 } }, { key: 'wrong', expectStatus: 401 });
  const bad = await h.api(server.url, 'module_online', { userId: 1 }, { expectStatus: 400 });
  assert.equal(typeof bad.error.code, 'string');
});
