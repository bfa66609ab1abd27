'use strict';
// Two Node backends in attach mode, each a process with its own socket.io server and
// the library configured with `{redis, nodeId}`, sharing one real redis-server (started
// here): a user's tabs on both backends get every seed event once, racing identical
// emits give one event, a logout on one backend ends the session on both, and another
// user's tab gets none of it (allow-list through a sentinel).
//
// Needs `redis-server` (scripts/node-test installs it); MCRT_REDIS_SERVER may name the
// binary. A missing binary fails the suite.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { after, before, test } = require('node:test');
const { startRedis, stopRedis } = require('../../../tests/clients/node/redis');
const RealTimeAPI = require('../');
const { browser, connect, login, logout } = require('./clients');

let redis;
let nodes = [];

function startNode(options) {
  const child = spawn(process.execPath, [path.join(__dirname, 'seed-node.js'), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('exit', (code) => reject(new Error(`backend ${options.nodeId} exited (${code})`)));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const line = output.split('\n')[0];
      if (output.includes('\n')) resolve({ child, url: JSON.parse(line).url, id: options.nodeId });
    });
  });
}

/** Calls `realTimeAPI[method](...args)` on `node` and returns its result. */
async function emit(node, method, ...args) {
  const response = await fetch(`${node.url}/test/emit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ method, args }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${method} on ${node.id}: ${body.error}`);
  return body.result;
}

before(async () => {
  redis = await startRedis();
  nodes = await Promise.all(['backend-a', 'backend-b'].map((nodeId) => startNode({ redis: redis.url, nodeId, deviceOfflineGraceMs: 0 })));
});

after(() => {
  for (const node of nodes) node.child.kill('SIGKILL');
  stopRedis(redis);
});

/** A sentinel to `user` through each backend, awaited on each of `tabs` (all the user's
 * tabs, so none is left behind for the next check): returns, per tab, what came first. */
async function namesBeforeSentinels(tabs, user) {
  const names = tabs.map(() => []);
  for (const node of nodes) {
    await emit(node, 'emitToUser', user, 'test:sentinel', { via: node.id });
    for (const [i, tab] of tabs.entries()) names[i].push(...await tab.namesBefore('test:sentinel'));
  }
  return names;
}

/** What `client:authenticate` with `session` answers on `url` (a fresh socket). */
async function authenticateAck(t, url, session) {
  const tab = connect(url);
  t.after(() => tab.close());
  await tab.connected();
  const payload = { userId: session.user.id, userType: session.user.userType, page: 'modules', sessionId: session.sessionId };
  return tab.socket.timeout(5000).emitWithAck('client:authenticate', payload);
}

test('two attach-mode backends on one Redis act as one', { timeout: 30000 }, async (t) => {
  const [a, b] = nodes;
  const ada = await login(a.url, 'ada');
  const bob = await login(b.url, 'bob');
  const adaOnA = await browser(a.url, ada, 'modules');
  const adaOnB = await browser(b.url, ada, 'dashboard');
  const bobOnB = await browser(b.url, bob, 'modules');
  const tabs = [adaOnA, adaOnB];
  t.after(() => { for (const tab of [...tabs, bobOnB]) tab.close(); });

  await t.test('every seed event reaches the tabs on both backends once', async () => {
    const module = { moduleId: 'MC-7000-LFT', type: 'Lift', name: 'Lift', userId: 123 };
    assert.equal((await emit(a, 'emitModuleAdded', module)).outcome, 'delivered');
    assert.equal((await emit(b, 'emitModuleOnline', module.moduleId, module)).outcome, 'delivered');
    assert.equal((await emit(a, 'emitTelemetryUpdate', module.moduleId, { speed: 3 })).outcome, 'delivered');
    assert.equal((await emit(b, 'emitTelemetryUpdate', module.moduleId, { speed: 3 })).outcome, 'unchanged');
    // Once each; events of different emitting backends may interleave either way.
    for (const names of await namesBeforeSentinels(tabs, 123)) {
      assert.deepEqual(names.sort(), ['module:status:changed', 'module:telemetry:updated', 'user:module:added']);
    }
  });

  await t.test('identical emits racing on both backends give one event', async () => {
    for (let round = 0; round < 6; round += 1) {
      const method = round % 2 === 0 ? 'emitModuleOffline' : 'emitModuleOnline';
      const outcomes = await Promise.all(nodes.map((node) => emit(node, method, 'MC-7000-LFT', { userId: 123 })));
      assert.deepEqual(outcomes.map((o) => o.outcome).sort(), ['delivered', 'unchanged'], JSON.stringify(outcomes));
      // Two changes of one state decided on two backends may cross in Redis: the older
      // is then dropped as stale (the last value wins), so each round is awaited first.
      for (const tab of tabs) {
        const { data, skipped } = await tab.next('module:status:changed');
        assert.deepEqual([data.online, skipped], [round % 2 === 1, []]);
      }
    }
    for (const names of await namesBeforeSentinels(tabs, 123)) assert.deepEqual(names, []);
  });

  await t.test('a logout on one backend ends the session on both', async (st) => {
    const closing = tabs.map((tab) => tab.disconnected());
    await logout(a.url, ada);
    for (const tab of tabs) await tab.next('user:session:ended');
    assert.deepEqual(await Promise.all(closing), ['io server disconnect', 'io server disconnect']);
    // The ended session no longer authenticates on either backend.
    for (const node of nodes) {
      const ack = await authenticateAck(st, node.url, ada);
      assert.equal(ack.code, 'unknown_session', JSON.stringify(ack));
    }
  });

  await t.test('a standalone backend joins the same cluster', async (st) => {
    const standalone = new RealTimeAPI(null, {}, { mode: 'standalone', port: 0, redis: redis.url, nodeId: 'backend-standalone' });
    standalone.initialize();
    st.after(() => standalone.close());
    // A session logged in (on backend-a) once this node is in the cluster.
    const bobAgain = await login(a.url, 'bob');
    const bobThere = await browser(`http://127.0.0.1:${standalone.port}`, bobAgain, 'modules');
    st.after(() => bobThere.close());
    const module = { moduleId: 'MC-7001-STN', type: 'Station', name: 'Station', userId: 456 };
    assert.equal((await emit(a, 'emitModuleAdded', module)).outcome, 'delivered');
    assert.equal(standalone.emitModuleAdded(module).outcome, 'unchanged');
    assert.deepEqual(await namesBeforeSentinels([bobOnB, bobThere], 456),
      [['user:session:started', 'user:module:added'], ['user:module:added']]);
  });

  await t.test('the other user got none of it', async () => {
    assert.deepEqual(await namesBeforeSentinels([bobOnB], 456), [[]]);
    assert.equal(bobOnB.socket.connected, true);
  });
});
