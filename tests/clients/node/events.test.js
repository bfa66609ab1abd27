'use strict';
// The seed's events reach the right pages, and only the right people.

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

function userSocket(t, user, options = {}) {
  return h.connectAuthed(server.url, { auth: { token: h.mintToken({ sub: user }), page: 'modules' }, ...options })
    .then((socket) => {
      t.after(() => socket.close());
      return socket;
    });
}

function adminSocket(t, page = 'admin', options = {}, on = server) {
  const admin = h.uid('admin');
  return h.connectAuthed(on.url, { auth: { token: h.mintToken({ sub: admin, role: 'admin' }), page }, ...options })
    .then((socket) => {
      t.after(() => socket.close());
      socket.userId = admin;
      return socket;
    });
}

test('modules page: the owner sees added, online, telemetry, offline, removed', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const socket = await userSocket(t, user);
  const moduleId = h.uid('MC');
  const module = { id: moduleId, userId: user, type: 'Station', name: 'Station principale' };

  let got = h.once(socket, 'user:module:added');
  await server.api('module_added', module);
  const added = await got;
  assert.equal(added.module.moduleId, moduleId);
  assert.equal(added.module.userId, user);
  assert.equal(added.module.name, 'Station principale');

  got = h.once(socket, 'module:status:changed');
  await server.api('module_online', { moduleId, userId: user, type: 'Station', name: 'Station principale' });
  const online = await got;
  assert.equal(online.moduleId, moduleId);
  assert.equal(online.online, true);

  got = h.once(socket, 'module:telemetry:updated');
  await server.api('telemetry_update', { moduleId, telemetry: { speed: 3.5, laps: 2 } });
  const telemetry = await got;
  assert.equal(telemetry.moduleId, moduleId);
  assert.deepEqual(telemetry.telemetry, { speed: 3.5, laps: 2 });
  // Identical telemetry is no change.
  assert.deepEqual(await server.api('telemetry_update', { moduleId, telemetry: { speed: 3.5, laps: 2 } }), { outcome: 'unchanged', connections: 0 });

  got = h.once(socket, 'module:status:changed');
  await server.api('module_offline', { moduleId, userId: user });
  assert.equal((await got).online, false);

  got = h.once(socket, 'user:module:removed');
  await server.api('module_removed', module);
  assert.equal((await got).module.moduleId, moduleId);

  // Exactly these, in order: no admin:* event and nothing for the unchanged telemetry.
  await h.assertEventsThroughSentinel(server, socket, user, [
    'auth:ok', 'page:snapshot', 'user:module:added', 'module:status:changed',
    'module:telemetry:updated', 'module:status:changed', 'user:module:removed',
  ]);
});

test('a fresh tab gets the state in page:snapshot and client:page switches pages', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const moduleId = h.uid('MC');
  await server.api('module_added', { id: moduleId, userId: user, type: 'Lift', name: 'Lift' });
  await server.api('module_online', { moduleId, userId: user });
  await server.api('telemetry_update', { moduleId, telemetry: { speed: 1 } });
  const socket = await userSocket(t, user);
  const snapshot = await h.received(socket, 'page:snapshot');
  assert.equal(snapshot.modules.length, 1);
  assert.equal(snapshot.modules[0].moduleId, moduleId);
  assert.equal(snapshot.modules[0].online, true);
  assert.deepEqual(snapshot.modules[0].telemetry, { speed: 1 });

  const next = h.once(socket, 'page:snapshot', h.TIMEOUT_MS, (s) => s.page === 'dashboard');
  socket.emit('client:page', { page: 'dashboard' });
  assert.equal((await next).modules[0].moduleId, moduleId);
  // Telemetry also reaches the dashboard page.
  const telemetry = h.once(socket, 'module:telemetry:updated');
  await server.api('telemetry_update', { moduleId, telemetry: { speed: 2 } });
  assert.deepEqual((await telemetry).telemetry, { speed: 2 });
});

test('admin page: stats, module added, user registered, module status, admin action', { timeout: TEST_TIMEOUT }, async (t) => {
  // Monitoring off: its batched admin:activity and periodic admin:server:stats reach
  // admins on the admin page on a clock, which would make this page's exact event list
  // depend on timing (they have their own tests).
  const server = await h.startServer({ args: ['--no-monitor'] });
  t.after(() => server.stop());
  const admin = await adminSocket(t, 'admin', {}, server);
  const snapshot = await h.received(admin, 'page:snapshot');
  assert.equal(snapshot.page, 'admin');

  const stats = { users: 3, modules: Math.floor(Math.random() * 1e6) };
  let got = h.once(admin, 'admin:stats:updated');
  await server.api('stats_update', { stats });
  assert.deepEqual((await got).stats, stats);
  assert.deepEqual(await server.api('stats_update', { stats }), { outcome: 'unchanged', connections: 0 });

  const owner = h.uid('user');
  const moduleId = h.uid('MC');
  got = h.once(admin, 'admin:module:added');
  await server.api('module_added', { id: moduleId, userId: owner, type: 'Switch', name: 'Aiguillage' });
  const added = await got;
  assert.equal(added.module.moduleId, moduleId);
  assert.equal(added.module.userId, owner);

  got = h.once(admin, 'admin:user:registered');
  const newUser = h.uid('new');
  await server.api('user_registered', { id: newUser, name: 'Bob' });
  const registered = await got;
  assert.equal(registered.user.userId, newUser);
  assert.equal(registered.user.name, 'Bob');

  got = h.once(admin, 'module:status:changed');
  await server.api('module_online', { moduleId, userId: owner });
  assert.equal((await got).moduleId, moduleId);

  got = h.once(admin, 'admin:action');
  await server.api('admin_action', { adminId: admin.userId, action: 'user_promoted', details: { userId: newUser } });
  const action = await got;
  assert.equal(action.action, 'user_promoted');
  assert.deepEqual(action.details, { userId: newUser });

  got = h.once(admin, 'admin:user:logged_in');
  await server.api('user_logged_in', { user: { id: newUser, name: 'Bob' }, sessionId: h.uid('sess') });
  const login = await got;
  assert.equal(login.user.userId, newUser);
  assert.equal(JSON.stringify(login).includes('sess-'), false, 'no session id leaks to admins');

  // Telemetry is the owner's only: the admin page does not stream it, and the
  // unchanged stats sent nothing.
  await server.api('telemetry_update', { moduleId, telemetry: { speed: 9 } });
  await h.assertAdminEventsThroughSentinel(server, admin, [
    'auth:ok', 'page:snapshot', 'admin:stats:updated', 'admin:module:added', 'admin:user:registered',
    'module:status:changed', 'admin:action', 'admin:user:logged_in',
  ]);
});

test('an admin on the modules page gets no admin:* events', { timeout: TEST_TIMEOUT }, async (t) => {
  const admin = await adminSocket(t, 'modules');
  await server.api('stats_update', { stats: { probe: Math.random() } });
  await server.api('user_registered', { id: h.uid('new') });
  await h.assertEventsThroughSentinel(server, admin, admin.userId, ['auth:ok', 'page:snapshot']);
  // Moving to the admin page starts them.
  const snapshot = h.once(admin, 'page:snapshot', h.TIMEOUT_MS, (s) => s.page === 'admin');
  admin.emit('client:page', { page: 'admin' });
  await snapshot;
  const got = h.once(admin, 'admin:stats:updated');
  await server.api('stats_update', { stats: { probe: Math.random() } });
  await got;
});

test("another user receives none of a user's events", { timeout: TEST_TIMEOUT }, async (t) => {
  const alice = h.uid('alice');
  const bob = h.uid('bob');
  const aliceTab = await userSocket(t, alice, { transports: ['websocket'] });
  const bobWs = await userSocket(t, bob, { transports: ['websocket'] });
  const bobPolling = await userSocket(t, bob, { transports: ['polling'] });
  const moduleId = h.uid('MC');
  const aliceGot = h.once(aliceTab, 'private:note');
  await server.api('module_added', { id: moduleId, userId: alice, type: 'Station', name: 'Alice' });
  await server.api('module_online', { moduleId, userId: alice });
  await server.api('telemetry_update', { moduleId, telemetry: { secret: 42 } });
  await server.api('user_profile_updated', { old: { id: alice, name: 'A' }, new: { id: alice, name: 'Alice' } });
  await server.api('to_user', { userId: alice, event: 'private:note', data: { text: 'hi' } });
  await server.api('module_offline', { moduleId, userId: alice });
  await server.api('module_removed', { id: moduleId, userId: alice });
  assert.equal((await aliceGot).text, 'hi');
  // Both of Bob's tabs got nothing but their own welcome; Alice got all of hers, in order.
  await h.assertEventsThroughSentinel(server, [bobWs, bobPolling], bob, ['auth:ok', 'page:snapshot']);
  await h.assertEventsThroughSentinel(server, aliceTab, alice, [
    'auth:ok', 'page:snapshot', 'user:module:added', 'module:status:changed', 'module:telemetry:updated',
    'user:profile:updated', 'private:note', 'module:status:changed', 'user:module:removed',
  ]);
});

test('maintenance mode reaches every authenticated connection and new ones', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = await userSocket(t, h.uid('user'));
  const admin = await adminSocket(t);
  const gotUser = h.once(user, 'system:maintenance');
  const gotAdmin = h.once(admin, 'system:maintenance');
  await server.api('maintenance_mode', { enabled: true, message: 'Mise à jour', adminId: admin.userId });
  assert.equal((await gotUser).message, 'Mise à jour');
  assert.equal((await gotAdmin).enabled, true);
  const late = await userSocket(t, h.uid('user'));
  const maintenance = await h.received(late, 'system:maintenance');
  assert.equal(maintenance.enabled, true);
  const off = h.once(user, 'system:maintenance', h.TIMEOUT_MS, (m) => m.enabled === false);
  await server.api('maintenance_mode', { enabled: false, message: '', adminId: admin.userId });
  await off;
});

test('to_everyone (HTTP API): every authenticated user and admin socket, never an unauthenticated one', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const socket = await userSocket(t, user);
  const admin = await adminSocket(t, 'modules');
  const stranger = h.connect(server.url, { transports: ['websocket'] });
  t.after(() => stranger.close());
  await h.once(stranger, 'connect');

  const answer = await server.api('to_everyone', { event: 'park:closing', data: { in: 15, timestamp: 7 } });
  assert.equal(answer.outcome, 'delivered');
  assert.ok(answer.connections >= 2, JSON.stringify(answer));
  assert.deepEqual(await h.received(socket, 'park:closing'), { in: 15, timestamp: 7 });
  assert.deepEqual(await h.received(admin, 'park:closing'), { in: 15, timestamp: 7 });
  await h.assertEventsThroughSentinel(server, socket, user, ['auth:ok', 'page:snapshot', 'park:closing']);
  await h.assertEventsThroughSentinel(server, admin, admin.userId, ['auth:ok', 'page:snapshot', 'park:closing']);

  // The stranger authenticates after it: its own welcome is all it received.
  const late = h.uid('late');
  await stranger.timeout(h.TIMEOUT_MS).emitWithAck('client:authenticate', { token: h.mintToken({ sub: late }), page: 'modules' });
  await h.assertEventsThroughSentinel(server, stranger, late, ['auth:ok', 'page:snapshot']);

  const refused = await h.api(server.url, 'to_everyone', { event: 'system:fake' }, { expectStatus: 400 });
  assert.equal(refused.error.code, 'reserved_event');
});
