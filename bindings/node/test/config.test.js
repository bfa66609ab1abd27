'use strict';
// The options are the library's one configuration schema (src/config.rs), shared with C
// (tests/c/test_ffi.c) and Python (bindings/python/tests/test_config.py): the same keys,
// the same defaults, unknown keys refused by name. And the arguments every binding makes
// optional, with the one outcome shape {outcome, connections}.

const test = require('node:test');
const assert = require('node:assert/strict');
const RealTimeAPI = require('../');
const { startSeedApp } = require('./seed-app');
const { browser, login } = require('./clients');

const HUB_DEFAULTS = {
  jwtSecret: null,
  jwt: null,
  pages: ['modules', 'admin', 'dashboard'],
  routes: [],
  queueCapacity: 65536,
  queueMaxBytes: 2097152,
  maxAuthFailures: 5,
  maxConnectionsPerUser: 100,
  maxMessageBytes: 65536,
  snapshotPageSize: 500,
  deviceOfflineGraceMs: 5000,
  persist: null,
  redis: null,
  nodeId: null,
};
const SERVE_DEFAULTS = {
  workerThreads: 0,
  pingIntervalMs: 25000,
  pingTimeoutMs: 20000,
  maxPayload: 1000000,
  maxMessageBytes: 65536,
  maxAttachments: 10,
  authDeadlineMs: 10000,
  connectTimeoutMs: 45000,
  maxConnections: 100000,
  maxConnectionsPerIp: 0,
  socketioPath: '/socket.io/',
  nativePath: '/ws',
  shutdownDeadlineMs: 5000,
  writeCoalesceMs: 2,
  slowConsumerTimeoutMs: 10000,
  apiKey: null,
  allowedOrigins: [],
  handshakesPerSecond: 0,
  maxHeaderBytes: 32768,
  headerTimeoutMs: 10000,
  trustedProxies: [],
  raiseFdLimit: true,
};

test('the options have the same keys and defaults as in C and Python', () => {
  assert.deepEqual(RealTimeAPI.normalizeConfig(), { hub: HUB_DEFAULTS, server: SERVE_DEFAULTS });
  // The binding's own options (mode, address, JS hooks) are not configuration.
  const own = {
    mode: 'standalone', host: '127.0.0.1', port: 0, authenticate() {}, onClientEvent() {},
    onAudit() {}, beforeEmit() {}, getStats() {},
  };
  assert.deepEqual(RealTimeAPI.normalizeConfig(own), { hub: HUB_DEFAULTS, server: SERVE_DEFAULTS });

  const routes = [{ event: 'cart:moved', userPages: ['dashboard'], adminPages: [] }];
  const given = RealTimeAPI.normalizeConfig({
    jwtSecret: 's3cret', queueCapacity: 16, deviceOfflineGraceMs: 250, routes,
    persist: { path: '/tmp/x.db' }, server: { pingIntervalMs: 1500, apiKey: 'k' },
  });
  assert.deepEqual(given.hub, {
    ...HUB_DEFAULTS, jwtSecret: 's3cret', queueCapacity: 16, deviceOfflineGraceMs: 250, routes,
    persist: { path: '/tmp/x.db', durability: 'batched' },
  });
  assert.deepEqual(given.server, { ...SERVE_DEFAULTS, pingIntervalMs: 1500, apiKey: 'k' });
  // Python's forms are documented aliases of the same keys.
  const python = RealTimeAPI.normalizeConfig({
    limits: { queue_capacity: 16 }, device_grace: 0.25, routes: { 'cart:moved': { users: ['dashboard'] } },
    server: { ping_interval: 1.5, connect_timeout: 2 },
  });
  assert.deepEqual(python.hub, { ...HUB_DEFAULTS, queueCapacity: 16, deviceOfflineGraceMs: 250, routes });
  assert.equal(python.server.pingIntervalMs, 1500);
  assert.equal(python.server.connectTimeoutMs, 2000);
  assert.deepEqual(RealTimeAPI.normalizeConfig({ server: { connectTimeoutMs: 1000, maxAttachments: 2 } }).server,
    { ...SERVE_DEFAULTS, connectTimeoutMs: 1000, maxAttachments: 2 });
  assert.throws(() => RealTimeAPI.normalizeConfig({ server: { connectTimeoutMs: 0 } }), /connectTimeoutMs/);
});

test('an unknown option is refused with an error naming it', async () => {
  const cases = [
    [{ jwtSecert: 'x' }, 'jwtSecert'],
    [{ onAuidt() {} }, 'onAuidt'], // a misspelt hook is not silently dropped
    [{ persist: { path: 'x', durabilty: 'sync' } }, 'persist.durabilty'],
    [{ server: { pingIntervalSecs: 1 } }, 'pingIntervalSecs'],
  ];
  for (const [options, key] of cases) {
    assert.throws(() => RealTimeAPI.normalizeConfig(options),
      (e) => e instanceof TypeError && e.message.includes(`unknown key "${key}"`), key);
  }
  assert.throws(() => new RealTimeAPI(null, null, { mode: 'standalone', jwtSecert: 'x' }),
    (e) => e instanceof TypeError && e.message.includes('unknown key "jwtSecert"'));
  assert.throws(() => RealTimeAPI.normalizeConfig({ queueCapacity: 'many' }),
    /queueCapacity: expected .*, got string "many"/);
  const api = new RealTimeAPI(null, null, { mode: 'standalone', port: 0, server: { pingIntervalSecs: 1 } });
  assert.throws(() => api.initialize(), /unknown key "pingIntervalSecs"/);
  await api.close();
});

test('info, details and data may be omitted; every outcome is {outcome, connections}', async (t) => {
  const seed = await startSeedApp();
  const api = seed.realTimeAPI;
  const tab = await browser(seed.url, await login(seed.url, 'ada'), 'modules');
  t.after(async () => { tab.close(); await seed.close(); });

  assert.deepEqual(api.emitModuleOnline('MC-9', { userId: 123 }), { outcome: 'delivered', connections: 1 });
  assert.deepEqual(api.emitModuleOnline('MC-9'), { outcome: 'unchanged', connections: 0 });
  assert.deepEqual(api.emitModuleOffline('MC-9', null), { outcome: 'delivered', connections: 1 });
  assert.equal(api.emitAdminAction(1, 'purge').outcome, 'delivered');
  assert.deepEqual(api.emitToUser(123, 'cart:ping'), { outcome: 'delivered', connections: 1 });
  assert.equal((await tab.next('cart:ping')).data, null); // omitted: null, as in C and Python
  assert.deepEqual(api.emitToAdmins('ops:ping'), { outcome: 'delivered', connections: 0 });
});

test('server.connectTimeoutMs and server.maxAttachments reach the standalone server', async (t) => {
  const { Manager } = require('socket.io-client');
  const { connect } = require('./clients');
  const api = new RealTimeAPI(null, {}, {
    mode: 'standalone', port: 0, onClientEvent: () => 'ok',
    server: { connectTimeoutMs: 300, maxAttachments: 2 },
  });
  api.initialize();
  t.after(() => api.close());
  const url = `http://127.0.0.1:${api.port}`;

  // An Engine.IO session that never joins a namespace is closed after 300 ms (the
  // default, 45 s, would outlast the 5 s wait).
  const manager = new Manager(url, { transports: ['websocket'], reconnection: false, autoConnect: false });
  t.after(() => manager.engine && manager.engine.close());
  const opened = Date.now();
  const closed = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the session was not closed within 5 s')), 5000);
    manager.once('close', (reason) => { clearTimeout(timer); resolve(reason); });
  });
  manager.open();
  await closed;
  assert.ok(Date.now() - opened < 4000, `closed after ${Date.now() - opened} ms`);

  // Two attachments pass; three close that connection, counted as binary bad input.
  api.emitUserLoggedIn({ id: 123, name: 'Ada' }, 'sess-ada');
  const ada = connect(url, { auth: { userId: 123, page: 'modules', sessionId: 'sess-ada' } });
  t.after(() => ada.close());
  await ada.next('page:snapshot');
  const two = [Buffer.from([1]), Buffer.from([2])];
  assert.equal(await ada.socket.timeout(5000).emitWithAck('upload', two), 'ok');
  const before = api.metrics().bad_inputs.find(([kind]) => kind === 'binary')[1];
  const gone = ada.disconnected();
  ada.socket.emit('upload', [...two, Buffer.from([3])]);
  await gone;
  assert.equal(api.metrics().bad_inputs.find(([kind]) => kind === 'binary')[1], before + 1);
});
