'use strict';
// Scale-out on Redis: three server processes on one real redis-server (started here on a
// free port, in a temp folder), real socket.io-client tabs spread over them. Every seed
// event reaches the right connections exactly once, racing identical emits give one
// event, sessions work across nodes, a SIGKILLed node leaves the cluster totals within
// the heartbeat expiry, and a Redis outage loses no local delivery.
//
// Needs `redis-server` (scripts/clients-test installs it); MCRT_REDIS_SERVER may name
// the binary. A missing binary fails the suite.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { after, before, test } = require('node:test');
const h = require('./helpers');
const { startRedis, stopRedis } = require('./redis');

const TEST_TIMEOUT = 30000;
/** The broker's heartbeat expiry (src/broker/redis.rs HEARTBEAT_TTL) plus one period. */
const HEARTBEAT_EXPIRY_MS = 3000 + 1000;

let redis;
let nodes = [];

before(async () => {
  redis = await startRedis();
  // Two nodes in memory, one with its own SQLite file (the server's default), so the
  // mirror's saves run too; admin stats every 500 ms for the cluster-totals check.
  const storage = [['--memory'], ['--memory'], []];
  nodes = await Promise.all(storage.map((extra) => h.startServer({
    args: [...extra, '--redis', redis.url, '--stats-interval-ms', '500'],
  })));
});

after(async () => {
  await Promise.all(nodes.map((node) => node.stop('SIGKILL')));
  stopRedis(redis);
});

function userTab(t, node, user, page = 'modules') {
  return h.connectAuthed(node.url, { auth: { token: h.mintToken({ sub: user }), page } }).then((socket) => {
    t.after(() => socket.close());
    return socket;
  });
}

function adminTab(t, node) {
  return h.connectAuthed(node.url, { auth: { token: h.mintToken({ sub: h.uid('admin'), role: 'admin' }), page: 'admin' } })
    .then((socket) => {
      t.after(() => socket.close());
      return socket;
    });
}

function count(socket, event, predicate = () => true) {
  return socket.received.filter((entry) => entry.event === event && predicate(entry.data)).length;
}

/** A sentinel through `via` to `user`, awaited on each socket: every event published earlier is in. */
async function sentinel(via, user, sockets) {
  const nonce = crypto.randomUUID();
  const waits = sockets.map((s) => h.received(s, 'test:sentinel', h.TIMEOUT_MS, (d) => d && d.nonce === nonce));
  await via.api('to_user', { userId: user, event: 'test:sentinel', data: { nonce } });
  await Promise.all(waits);
}

async function clusterView(node) {
  const response = await fetch(`${node.url}/api/v1/cluster`, { headers: { authorization: `Bearer ${h.API_KEY}` } });
  return { status: response.status, body: await response.json() };
}

test('seed events reach the user\'s tabs on every node exactly once, and no other user', { timeout: TEST_TIMEOUT }, async (t) => {
  const [a, b, c] = nodes;
  const user = h.uid('u');
  const other = h.uid('v');
  const tabs = [await userTab(t, a, user), await userTab(t, b, user), await userTab(t, c, user, 'dashboard')];
  const stranger = await userTab(t, b, other);
  const admin = await adminTab(t, c);
  const moduleId = h.uid('m');

  const added = await a.api('module_added', { id: moduleId, userId: user, name: 'Lift', type: 'Lift' });
  assert.equal(added.outcome, 'delivered');
  await b.api('module_online', { moduleId, userId: user });
  await c.api('telemetry_update', { moduleId, telemetry: { speed: 4 } });
  await a.api('admin_action', { adminId: 'root', action: 'inspect', details: { moduleId } });

  for (const via of nodes) await sentinel(via, user, tabs);
  for (const tab of tabs) {
    assert.equal(count(tab, 'module:status:changed', (d) => d.moduleId === moduleId && d.online === true), 1);
    assert.equal(count(tab, 'module:telemetry:updated', (d) => d.moduleId === moduleId), 1);
  }
  for (const tab of tabs.slice(0, 2)) assert.equal(count(tab, 'user:module:added', (d) => d.module.moduleId === moduleId), 1);
  await h.received(admin, 'admin:module:added', h.TIMEOUT_MS, (d) => d.module.moduleId === moduleId);
  await h.received(admin, 'admin:action', h.TIMEOUT_MS, (d) => d.details.moduleId === moduleId);
  assert.equal(count(admin, 'admin:module:added', (d) => d.module.moduleId === moduleId), 1);

  // The other user's tab: nothing of this module, then its own sentinel (sent by every node).
  for (const via of nodes) await sentinel(via, other, [stranger]);
  const leaked = stranger.received.filter((e) => JSON.stringify(e.data || '').includes(moduleId));
  assert.deepEqual(leaked, []);

  // Maintenance reaches every authenticated connection on every node, once.
  await b.api('maintenance_mode', { enabled: true, message: `m-${moduleId}`, adminId: 'root' });
  for (const socket of [...tabs, stranger, admin]) {
    await h.received(socket, 'system:maintenance', h.TIMEOUT_MS, (d) => d.message === `m-${moduleId}`);
  }
  await c.api('maintenance_mode', { enabled: false, message: '', adminId: 'root' });
  for (const via of nodes) await sentinel(via, user, tabs);
  for (const tab of tabs) assert.equal(count(tab, 'system:maintenance', (d) => d.message === `m-${moduleId}`), 1);

  // A fresh tab on a node that never handled this module sees it online in its snapshot.
  const late = await userTab(t, c, user);
  const snapshot = await h.received(late, 'page:snapshot');
  const mirrored = snapshot.modules.find((m) => m.moduleId === moduleId);
  assert.equal(mirrored && mirrored.online, true);
});

test('identical emits racing on all three nodes give exactly one event', { timeout: TEST_TIMEOUT }, async (t) => {
  const user = h.uid('u');
  const tabs = await Promise.all(nodes.map((node) => userTab(t, node, user)));
  const moduleId = h.uid('m');
  await nodes[0].api('module_added', { id: moduleId, userId: user });
  for (let round = 0; round < 5; round += 1) {
    const online = round % 2 === 0;
    const outcomes = await Promise.all(nodes.map((node) => node.api(online ? 'module_online' : 'module_offline', { moduleId, userId: user })));
    assert.equal(outcomes.filter((o) => o.outcome === 'delivered').length, 1, JSON.stringify(outcomes));
    const telemetry = { round, at: moduleId };
    const sent = await Promise.all(nodes.map((node) => node.api('telemetry_update', { moduleId, telemetry })));
    assert.equal(sent.filter((o) => o.outcome === 'delivered').length, 1, JSON.stringify(sent));
    // Telemetry is conflated per module, and two rounds decided on different nodes may
    // reach a third in either order (the older is then dropped as stale): each round is
    // awaited on every tab before the next, so exactly five must arrive.
    await Promise.all(tabs.map((tab) => h.received(tab, 'module:telemetry:updated', h.TIMEOUT_MS, (d) => d.moduleId === moduleId && d.telemetry && d.telemetry.round === round)));
  }
  await sentinel(nodes[0], user, tabs);
  for (const tab of tabs) {
    const statuses = tab.received.filter((e) => e.event === 'module:status:changed' && e.data.moduleId === moduleId);
    assert.deepEqual(statuses.map((e) => e.data.online), [true, false, true, false, true]);
    assert.equal(count(tab, 'module:telemetry:updated', (d) => d.moduleId === moduleId), 5);
  }
  const stats = { users: 1, nonce: moduleId };
  const once = await Promise.all(nodes.map((node) => node.api('stats_update', { stats })));
  assert.equal(once.filter((o) => o.outcome === 'delivered').length, 1, JSON.stringify(once));
});

test('a session logged in on one node authenticates and is logged out on the others', { timeout: TEST_TIMEOUT }, async (t) => {
  const [a, b, c] = nodes;
  const user = h.uid('u');
  const sessionId = h.uid('sid');
  await a.api('user_logged_in', { user: { id: user, name: 'Ada', userType: 'user' }, sessionId });
  const tab = await h.connectAuthed(c.url, { auth: { userId: user, userType: 'user', page: 'modules', sessionId } });
  t.after(() => tab.close());
  const ok = await h.received(tab, 'auth:ok');
  assert.equal(ok.userId, user);
  const disconnected = h.once(tab, 'disconnect');
  const out = await b.api('user_logged_out', { user: { id: user }, sessionId });
  assert.equal(out.outcome, 'delivered');
  await h.received(tab, 'user:session:ended');
  await disconnected;
  // The session id is refused everywhere afterwards.
  const again = h.connect(a.url, { auth: { userId: user, userType: 'user', page: 'modules', sessionId } });
  t.after(() => again.close());
  const refused = await h.once(again, 'connect_error');
  assert.equal(refused.data && refused.data.code, 'unknown_session');
});

test('a Redis outage loses no local delivery and the cluster recovers', { timeout: 60000 }, async (t) => {
  const [a, b] = nodes;
  const user = h.uid('u');
  const local = await userTab(t, a, user);
  const remote = await userTab(t, b, user);
  const moduleId = h.uid('m');
  await a.api('module_added', { id: moduleId, userId: user });
  redis.child.kill('SIGSTOP');
  const stoppedAt = Date.now();
  let delivered = 0;
  let i = 0;
  let slowest = 0;
  try {
    while (Date.now() - stoppedAt < 3000) {
      i += 1;
      const started = Date.now();
      const answer = await a.api('telemetry_update', { moduleId, telemetry: { i } });
      assert.equal(answer.outcome, 'delivered');
      await h.received(local, 'module:telemetry:updated', h.TIMEOUT_MS, (d) => d.telemetry.i === i);
      delivered += 1;
      slowest = Math.max(slowest, Date.now() - started);
    }
  } finally {
    redis.child.kill('SIGCONT');
  }
  assert.ok(delivered >= 3, `only ${delivered} local deliveries during the outage`);
  t.diagnostic(`local deliveries during a 3 s Redis outage: ${delivered}/${i}, slowest emit ${slowest} ms`);
  const metrics = await (await fetch(`${a.url}/metrics`)).text();
  const fallbacks = Number(/mcrt_broker_fallback_total (\d+)/.exec(metrics)?.[1] ?? 0);
  assert.ok(fallbacks >= 1, `no fallback counted:\n${metrics}`);
  // Recovery: a cross-node event arrives again (each try waits for the event itself).
  const resumedAt = Date.now();
  for (let attempt = 0; ; attempt += 1) {
    const nonce = crypto.randomUUID();
    const waiting = h.received(remote, 'test:sentinel', 1000, (d) => d && d.nonce === nonce);
    await a.api('to_user', { userId: user, event: 'test:sentinel', data: { nonce } });
    try {
      await waiting;
      break;
    } catch (error) {
      if (attempt >= 15) throw error;
    }
  }
  t.diagnostic(`cross-node delivery resumed ${Date.now() - resumedAt} ms after SIGCONT`);
  // Change detection is shared again: the value decided locally during the outage was
  // re-asserted, so repeating it on another node is unchanged.
  const repeat = await b.api('telemetry_update', { moduleId, telemetry: { i } });
  assert.equal(repeat.outcome, 'unchanged');
});

test('a SIGKILLed node leaves the cluster totals within the heartbeat expiry; the others serve on', { timeout: TEST_TIMEOUT }, async (t) => {
  const [a, b, c] = nodes;
  const user = h.uid('u');
  const survivor = await userTab(t, b, user);
  const admin = await adminTab(t, a);
  // A user whose only tabs are on the node that will die: its leaving is exact, whatever
  // the other nodes' counts do meanwhile.
  const doomed = h.uid('doomed');
  await userTab(t, c, doomed);
  await userTab(t, c, doomed);
  await userTab(t, c, user);
  // Heartbeats are periodic reports (no event to await): poll until they show the tabs.
  let before;
  const openedAt = Date.now();
  for (;;) {
    before = await clusterView(a);
    assert.equal(before.status, 200);
    const online = before.body.onlineUsers;
    if (before.body.nodes === 3 && online.includes(user) && online.includes(doomed)) break;
    assert.ok(Date.now() - openedAt < HEARTBEAT_EXPIRY_MS, `tabs not in the view: ${JSON.stringify(before.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await c.stop('SIGKILL');
  const killedAt = Date.now();
  let view;
  for (;;) {
    view = await clusterView(a);
    if (view.body.nodes === 2 && !view.body.onlineUsers.includes(doomed)) break;
    assert.ok(Date.now() - killedAt < HEARTBEAT_EXPIRY_MS + 1000, `node still counted: ${JSON.stringify(view.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const gone = Date.now() - killedAt;
  t.diagnostic(`killed node left the totals after ${gone} ms`);
  assert.ok(gone <= HEARTBEAT_EXPIRY_MS, `took ${gone} ms`);
  assert.ok(view.body.onlineUsers.includes(user), 'the survivor tab on node b still counts');
  // Admin stats carry the same cluster-wide totals.
  const stats = await h.received(admin, 'admin:server:stats', HEARTBEAT_EXPIRY_MS,
    (d) => d.cluster && d.cluster.nodes === 2);
  assert.ok(stats.cluster.onlineUsers.includes(user));
  assert.ok(!stats.cluster.onlineUsers.includes(doomed));
  assert.ok(stats.cluster.connections.admins >= 1);
  // The others keep serving, across nodes.
  const moduleId = h.uid('m');
  await a.api('module_added', { id: moduleId, userId: user });
  await h.received(survivor, 'user:module:added', h.TIMEOUT_MS, (d) => d.module.moduleId === moduleId);
});
