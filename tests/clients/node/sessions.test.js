'use strict';
// Login sessions: every tab of a session, logout closing exactly that session's sockets.

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

/** Resolves to the API's answer ({outcome, …}). */
function login(user, sessionId) {
  return server.api('user_logged_in', { user: { id: user, name: 'Ada', userType: 'user' }, sessionId });
}

function seedTab(t, user, sessionId, options = {}) {
  return h.connectAuthed(server.url, {
    auth: { userId: user, userType: 'user', page: 'modules', sessionId },
    reconnection: true,
    reconnectionDelay: 50,
    ...options,
  }).then((socket) => {
    t.after(() => socket.close());
    return socket;
  });
}

/** Resolves with the disconnect reason once `socket` got `user:session:ended` and then disconnected. */
async function endedThenDisconnected(socket, user) {
  const disconnected = h.once(socket, 'disconnect');
  const ended = await h.received(socket, 'user:session:ended');
  assert.equal(ended.userId, user);
  const reason = await disconnected;
  const names = socket.received.map((e) => e.event);
  assert.equal(names.at(-1), 'user:session:ended', `user:session:ended is the last event: ${names}`);
  return reason;
}

test("logout closes that session's sockets (websocket and polling), not the other session's", { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const ended = h.uid('sess');
  const kept = h.uid('sess');
  await login(user, ended);
  await login(user, kept);
  const wsTab = await seedTab(t, user, ended, { transports: ['websocket'] });
  const pollingTab = await seedTab(t, user, ended, { transports: ['polling'] });
  const upgradedTab = await seedTab(t, user, ended);
  const otherSession = await seedTab(t, user, kept);
  const admin = await h.connectAuthed(server.url, {
    auth: { token: h.mintToken({ sub: h.uid('admin'), role: 'admin' }), page: 'admin' },
  });
  t.after(() => admin.close());

  const closing = [wsTab, pollingTab, upgradedTab].map((socket) => endedThenDisconnected(socket, user));
  const adminSaw = h.once(admin, 'admin:user:logged_out');
  const answer = await server.api('user_logged_out', { user: { id: user }, sessionId: ended });
  assert.equal(answer.outcome, 'delivered');
  for (const reason of await Promise.all(closing)) {
    assert.equal(reason, 'io server disconnect');
  }
  for (const socket of [wsTab, pollingTab, upgradedTab]) {
    assert.equal(socket.connected, false);
    // A server disconnect is final: the client does not reconnect by itself.
    assert.equal(socket.active, false);
  }
  assert.equal((await adminSaw).user.userId, user);

  // The other session's tab stays connected and got nothing (no session:ended).
  await h.assertEventsThroughSentinel(server, otherSession, user, ['auth:ok', 'page:snapshot']);
  assert.ok(otherSession.connected);

  // The ended session no longer authenticates.
  const again = h.connect(server.url, { auth: { userId: user, userType: 'user', page: 'modules', sessionId: ended } });
  t.after(() => again.close());
  const error = await h.once(again, 'connect_error');
  assert.equal(error.data && error.data.code, 'unknown_session');
});

test('logout closes a socket authenticated with a JWT naming that session', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const sid = h.uid('sess');
  const socket = await h.connectAuthed(server.url, { auth: { token: h.mintToken({ sub: user, sid }) } });
  t.after(() => socket.close());
  const closing = endedThenDisconnected(socket, user);
  await server.api('user_logged_out', { user: { id: user }, sessionId: sid });
  assert.equal(await closing, 'io server disconnect');
});

test('a new login notifies the user\'s other sessions, not its own', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const first = h.uid('sess');
  const second = h.uid('sess');
  await login(user, first);
  const firstTab = await seedTab(t, user, first);
  // A tab of the new session that is connected before the login is announced (a JWT
  // naming its session needs no prior login), so the announcement could reach it.
  const secondTab = await h.connectAuthed(server.url, { auth: { token: h.mintToken({ sub: user, sid: second }) } });
  t.after(() => secondTab.close());
  const started = h.once(firstTab, 'user:session:started');
  assert.equal((await login(user, second)).outcome, 'delivered');
  assert.equal((await started).userId, user);
  assert.equal(JSON.stringify(firstTab.received).includes(second), false, 'the new session id is not leaked');
  // One sentinel to the user reaches both tabs: the other session got the announcement,
  // the new session's own tab got nothing.
  const [firstEvents, secondEvents] = await h.eventsThroughSentinel(server, [firstTab, secondTab], 'to_user', { userId: user });
  assert.deepEqual(firstEvents, ['auth:ok', 'page:snapshot', 'user:session:started', 'test:sentinel']);
  assert.deepEqual(secondEvents, ['auth:ok', 'page:snapshot', 'test:sentinel']);

  // The seed's own tab of the new session, authenticated by event after the login, is
  // welcomed too; the same session logging in again is no change and reaches no one.
  const seedSecond = h.connect(server.url, {});
  t.after(() => seedSecond.close());
  await h.connected(seedSecond);
  await seedSecond.timeout(h.TIMEOUT_MS).emitWithAck('client:authenticate', {
    userId: user, userType: 'user', page: 'modules', sessionId: second,
  });
  assert.equal((await login(user, second)).outcome, 'unchanged');
  const [firstAgain, secondAgain, seedEvents] = await h.eventsThroughSentinel(
    server, [firstTab, secondTab, seedSecond], 'to_user', { userId: user });
  assert.deepEqual(firstAgain, [...firstEvents, 'test:sentinel']);
  assert.deepEqual(secondAgain, [...secondEvents, 'test:sentinel']);
  assert.deepEqual(seedEvents, ['auth:ok', 'page:snapshot', 'test:sentinel']);
});

test('logging out a session of another user is refused and closes nothing', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('user');
  const sid = h.uid('sess');
  await login(user, sid);
  const tab = await seedTab(t, user, sid);
  await h.api(server.url, 'user_logged_out', { user: { id: h.uid('mallory') }, sessionId: sid }, { expectStatus: 400 });
  await h.assertEventsThroughSentinel(server, tab, user, ['auth:ok', 'page:snapshot']);
  assert.ok(tab.connected);
});
