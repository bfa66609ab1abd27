'use strict';
// Authentication with the official client: a JWT in the Socket.IO `auth` object, the
// `client:authenticate` event with an ack, and the seed's own session payload.

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const h = require('./helpers');

const TEST_TIMEOUT = 20000;
let server;
let numericUser = 700000 + (process.pid % 100000) * 10;

before(async () => {
  server = await h.startServer();
});

after(async () => {
  if (server) await server.stop();
});

/** Connects with no credentials: the namespace is joined, nothing is authenticated. */
async function connectAnonymous(t, options = {}) {
  const socket = h.connect(server.url, options);
  t.after(() => socket.close());
  await h.once(socket, 'connect');
  return socket;
}

test('JWT in io(url, {auth: {token}}) authenticates at connect', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const sid = h.uid('sess');
  const socket = await h.connectAuthed(server.url, { auth: { token: h.mintToken({ sub: user, sid }), page: 'dashboard' } });
  t.after(() => socket.close());
  const ok = await h.received(socket, 'auth:ok');
  assert.equal(ok.userId, user);
  assert.equal(ok.role, 'user');
  assert.equal(ok.sessionId, sid);
  assert.equal(ok.page, 'dashboard');
  assert.equal(typeof ok.timestamp, 'number');
  const snapshot = await h.received(socket, 'page:snapshot');
  assert.equal(snapshot.page, 'dashboard');
  // auth:ok comes first, then the snapshot.
  assert.deepEqual(socket.received.slice(0, 2).map((e) => e.event), ['auth:ok', 'page:snapshot']);
});

test('a bad or expired token at connect gets connect_error', { timeout: TEST_TIMEOUT }, async (t) => {
  const cases = [
    [h.mintToken({ sub: 'x', secret: 'not the secret' }), 'bad_signature'],
    [h.mintToken({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 3600 }), 'expired_token'],
    ['not.a.jwt', 'invalid_token'],
  ];
  for (const [token, code] of cases) {
    const socket = h.connect(server.url, { transports: ['websocket'], auth: { token } });
    t.after(() => socket.close());
    const error = await h.once(socket, 'connect_error');
    assert.equal(error.data && error.data.code, code, `${error.message} ${JSON.stringify(error.data)}`);
    assert.equal(socket.connected, false);
  }
});

test('client:authenticate with emitWithAck gets the auth:ok body', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const socket = await connectAnonymous(t, { transports: ['websocket'] });
  const ack = await socket.timeout(h.TIMEOUT_MS).emitWithAck('client:authenticate', {
    token: h.mintToken({ sub: user }),
    page: 'modules',
  });
  assert.equal(ack.userId, user);
  assert.equal(ack.role, 'user');
  assert.equal(ack.page, 'modules');
  const ok = await h.received(socket, 'auth:ok');
  assert.equal(ok.userId, user);
  await h.received(socket, 'page:snapshot');
});

test('client:authenticate with a callback ack (polling)', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const socket = await connectAnonymous(t, { transports: ['polling'] });
  const ack = await new Promise((resolve, reject) => {
    socket.timeout(h.TIMEOUT_MS).emit('client:authenticate', { token: h.mintToken({ sub: user }) }, (err, body) =>
      err ? reject(err) : resolve(body));
  });
  assert.equal(ack.userId, user);
  assert.equal(ack.page, 'modules');
});

test('client:authenticate with a bad token: auth:error and the error as ack', { timeout: TEST_TIMEOUT }, async (t) => {
  const socket = await connectAnonymous(t, { transports: ['websocket'] });
  const ack = await socket.timeout(h.TIMEOUT_MS).emitWithAck('client:authenticate', { token: 'garbage' });
  assert.equal(ack.code, 'invalid_token');
  const error = await h.received(socket, 'auth:error');
  assert.equal(error.code, 'invalid_token');
  assert.equal(typeof error.message, 'string');
});

test("the seed's {userId, userType, page, sessionId} after user_logged_in (at connect and by event)", { timeout: TEST_TIMEOUT }, async (t) => {
  numericUser += 1;
  const userId = numericUser; // the seed uses numbers; they are sent as strings
  const sessionId = h.uid('sess');
  const login = await server.api('user_logged_in', { user: { id: userId, name: 'Ada', userType: 'user' }, sessionId });
  assert.equal(login.outcome === 'delivered' || login.outcome === 'unchanged', true, JSON.stringify(login));
  const payload = { userId, userType: 'user', page: 'modules', sessionId };

  const atConnect = await h.connectAuthed(server.url, { auth: payload });
  t.after(() => atConnect.close());
  const ok = await h.received(atConnect, 'auth:ok');
  assert.deepEqual(
    { userId: ok.userId, role: ok.role, sessionId: ok.sessionId, page: ok.page },
    { userId: String(userId), role: 'user', sessionId, page: 'modules' },
  );

  const byEvent = await connectAnonymous(t, { transports: ['polling'] });
  const ack = await byEvent.timeout(h.TIMEOUT_MS).emitWithAck('client:authenticate', payload);
  assert.equal(ack.userId, String(userId));
  assert.equal(ack.sessionId, sessionId);

  // Both are that user's connections now.
  const gotA = h.once(atConnect, 'module:status:changed');
  const gotB = h.once(byEvent, 'module:status:changed');
  const moduleId = h.uid('MC');
  assert.deepEqual(await server.api('module_online', { moduleId, userId }), { outcome: 'delivered', connections: 2 });
  assert.equal((await gotA).moduleId, moduleId);
  assert.equal((await gotB).moduleId, moduleId);
});

test('an unknown session id is refused', { timeout: TEST_TIMEOUT }, async (t) => {
  const socket = h.connect(server.url, { auth: { userId: 1, userType: 'user', page: 'modules', sessionId: 'never-logged-in' } });
  t.after(() => socket.close());
  const error = await h.once(socket, 'connect_error');
  assert.equal(error.data && error.data.code, 'unknown_session');
});

test("a user's session claiming userType 'admin' is refused", { timeout: TEST_TIMEOUT }, async (t) => {
  numericUser += 1;
  const userId = numericUser;
  const sessionId = h.uid('sess');
  await server.api('user_logged_in', { user: { id: userId, userType: 'user' }, sessionId });
  const socket = h.connect(server.url, { auth: { userId, userType: 'admin', page: 'admin', sessionId } });
  t.after(() => socket.close());
  const error = await h.once(socket, 'connect_error');
  assert.equal(error.data && error.data.code, 'claims_mismatch');
});

test("a user's token claiming userType 'admin' gets connect_error / auth:error and no admin event", { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const token = h.mintToken({ sub: user, role: 'user' });

  // At connect: CONNECT_ERROR.
  const atConnect = h.connect(server.url, { transports: ['websocket'], auth: { token, userType: 'admin', page: 'admin' } });
  t.after(() => atConnect.close());
  const error = await h.once(atConnect, 'connect_error');
  assert.equal(error.data && error.data.code, 'claims_mismatch');

  // By event: auth:error, and the same body as the ack.
  const socket = await connectAnonymous(t, { transports: ['websocket'] });
  const ack = await socket.timeout(h.TIMEOUT_MS).emitWithAck('client:authenticate', { token, userType: 'admin', page: 'admin' });
  assert.equal(ack.code, 'claims_mismatch');
  assert.equal((await h.received(socket, 'auth:error')).code, 'claims_mismatch');

  const adminEvents = async () => {
    await server.api('stats_update', { stats: { users: Math.random() } });
    await server.api('user_registered', { id: h.uid('new'), name: 'Eve' });
    await server.api('admin_action', { adminId: 1, action: 'probe', details: {} });
    await server.api('to_admins', { event: 'ops:alert', data: { level: 1 } });
  };
  await adminEvents();
  // The same socket now authenticates honestly (a user on the admin page) and gets
  // the sentinel, but never any admin event (nor the admin monitoring feed): only the
  // refusal, then its welcome.
  const ok = await socket.timeout(h.TIMEOUT_MS).emitWithAck('client:authenticate', { token, page: 'admin' });
  assert.equal(ok.role, 'user');
  assert.equal(ok.page, 'admin');
  await adminEvents();
  await h.assertEventsThroughSentinel(server, socket, user, ['auth:error', 'auth:ok', 'page:snapshot']);
  const snapshot = socket.received.find((e) => e.event === 'page:snapshot');
  assert.equal(snapshot.data.stats, undefined, 'a user gets no admin stats in a snapshot');
});

test('an admin token on the admin page receives admin events', { timeout: TEST_TIMEOUT }, async (t) => {
  const admin = h.uid('admin');
  const socket = await h.connectAuthed(server.url, { auth: { token: h.mintToken({ sub: admin, role: 'admin' }), page: 'admin' } });
  t.after(() => socket.close());
  const ok = await h.received(socket, 'auth:ok');
  assert.equal(ok.role, 'admin');
  const got = h.once(socket, 'admin:user:registered');
  await server.api('user_registered', { id: h.uid('new'), name: 'Grace' });
  assert.equal((await got).user.name, 'Grace');
});

test('no event reaches a connection before it authenticates', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const socket = await connectAnonymous(t, { transports: ['websocket'] });
  const moduleId = h.uid('MC');
  await server.api('module_added', { id: moduleId, userId: user });
  await server.api('module_online', { moduleId, userId: user });
  await server.api('to_user', { userId: user, event: 'early:event', data: {} });
  await server.api('maintenance_mode', { enabled: true, message: 'm', adminId: 1 });
  await server.api('maintenance_mode', { enabled: false, message: '', adminId: 1 });
  await socket.timeout(h.TIMEOUT_MS).emitWithAck('client:authenticate', { token: h.mintToken({ sub: user }) });
  await h.assertEventsThroughSentinel(server, socket, user, ['auth:ok', 'page:snapshot']);
  // The snapshot carries what happened before.
  const snapshot = socket.received.find((e) => e.event === 'page:snapshot').data;
  assert.deepEqual(snapshot.modules.map((m) => [m.moduleId, m.online]), [[moduleId, true]]);
});
