'use strict';
// emitToEveryone / emitToAll through the seed app (socket.io 4.8 in attach mode): every
// authenticated tab, users and admins, receives it; a socket that has not authenticated
// does not (checked by what arrives before its sentinel once it authenticates).

const test = require('node:test');
const assert = require('node:assert/strict');
const { startSeedApp } = require('./seed-app');
const { connect, browser, login } = require('./clients');

test('emitToAll reaches every authenticated user and admin tab, never a stranger', async (t) => {
  const seed = await startSeedApp();
  const api = seed.realTimeAPI;
  const ada = await login(seed.url, 'ada');
  const bob = await login(seed.url, 'bob');
  const root = await login(seed.url, 'root');
  const tabs = [
    [await browser(seed.url, ada, 'modules'), 123],
    [await browser(seed.url, bob, 'dashboard'), 456],
    [await browser(seed.url, root, 'admin'), 1],
  ];
  const stranger = connect(seed.url);
  await stranger.connected();
  t.after(async () => {
    for (const [tab] of tabs) tab.close();
    stranger.close();
    await seed.close();
  });

  // The seed's name and the long one are the same call; a host timestamp is kept.
  assert.deepEqual(api.emitToAll('park:closing', { in: 15, timestamp: 7 }), { outcome: 'delivered', connections: 3 });
  assert.deepEqual(api.emitToEveryone('park:closed'), { outcome: 'delivered', connections: 3 });
  for (const [tab, user] of tabs) {
    assert.deepEqual((await tab.next('park:closing')).data, { in: 15, timestamp: 7 });
    assert.equal((await tab.next('park:closed')).data, null);
    api.emitToUser(user, 'test:sentinel', {});
    assert.deepEqual(await tab.namesBefore('test:sentinel'), []);
  }

  // The stranger authenticates now: only its own auth:ok and snapshot came before.
  const late = await login(seed.url, 'bob');
  const payload = { userId: 456, userType: 'user', page: 'modules', sessionId: late.sessionId };
  await stranger.socket.timeout(5000).emitWithAck('client:authenticate', payload);
  api.emitToUser(456, 'test:sentinel', {});
  assert.deepEqual(await stranger.namesBefore('test:sentinel'), ['auth:ok', 'page:snapshot']);

  assert.throws(() => api.emitToAll('system:fake', {}), (error) => error.code === 'reserved_event');
  assert.throws(() => api.emitToEveryone(''), (error) => error instanceof TypeError && /emitToEveryone: event/.test(error.message));
});
