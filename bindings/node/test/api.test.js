'use strict';
// RealTimeAPI beyond the seed's happy path: bad arguments, JS hooks, standalone mode.

const test = require('node:test');
const assert = require('node:assert/strict');
const RealTimeAPI = require('../');
const { RealTimeError } = RealTimeAPI;
const { startSeedApp } = require('./seed-app');
const { connect, browser, login } = require('./clients');

test('bad arguments throw a TypeError naming the argument, and the hub keeps serving', async (t) => {
  const seed = await startSeedApp();
  const api = seed.realTimeAPI;
  const ada = await login(seed.url, 'ada');
  const tab = await browser(seed.url, ada, 'modules');
  t.after(async () => { tab.close(); await seed.close(); });

  const cases = [
    [() => api.emitModuleOnline(undefined, { userId: 1 }), /emitModuleOnline: moduleId must be a non-empty string, got undefined/],
    [() => api.emitModuleOnline('M1', 'online'), /emitModuleOnline: info must be an object, got string/],
    [() => api.emitModuleOffline({}, {}), /emitModuleOffline: moduleId must be a non-empty string, got an object/],
    [() => api.emitModuleAdded(null), /emitModuleAdded: moduleData must be an object, got null/],
    [() => api.emitModuleRemoved([1]), /emitModuleRemoved: moduleData must be an object, got an array/],
    [() => api.emitTelemetryUpdate('M1', 10n), /emitTelemetryUpdate: telemetryData is not JSON-serializable/],
    [() => api.emitUserLoggedIn({ id: 1 }), /emitUserLoggedIn: sessionId must be a non-empty string, got undefined/],
    [() => api.emitUserLoggedOut('ada', 's'), /emitUserLoggedOut: userData must be an object, got string/],
    [() => api.emitUserProfileUpdated({ id: 1 }), /emitUserProfileUpdated: newData must be an object, got undefined/],
    [() => api.emitUserRegistered(42), /emitUserRegistered: userData must be an object, got number/],
    [() => api.emitAdminAction(1.5, 'x', {}), /emitAdminAction: adminId must be a string or an integer/],
    [() => api.emitMaintenanceMode('yes', 'm', 1), /emitMaintenanceMode: enabled must be a boolean/],
    [() => api.emitToUser(123, '', {}), /emitToUser: event must be a non-empty string/],
    // Caught by the library: a user id of the wrong JSON type inside the object.
    [() => api.emitUserRegistered({ id: true }), /emitUserRegistered: /],
  ];
  for (const [call, message] of cases) assert.throws(call, (error) => error instanceof TypeError && message.test(error.message));

  const circular = {};
  circular.self = circular;
  assert.throws(() => api.emitModuleAdded(circular), /moduleData is not JSON-serializable/);

  // Refusals by the library are typed errors with a stable code.
  // Each is also the RealTimeError subclass of its code, exported by the package.
  assert.throws(() => api.emitTelemetryUpdate('nope', {}),
    (e) => e instanceof RealTimeAPI.UnknownModuleError && e instanceof RealTimeError
      && e.code === 'unknown_module' && e.name === 'UnknownModuleError');
  assert.throws(() => api.emitToUser(123, 'admin:fake', {}),
    (e) => e instanceof RealTimeAPI.ReservedEventError && e.code === 'reserved_event');
  await assert.rejects(new RealTimeAPI(seed.io, {}).emitStatsUpdate(),
    (e) => e instanceof RealTimeAPI.StatsProviderError && e.code === 'no_stats_provider');
  await assert.rejects(new RealTimeAPI(seed.io, null, { getStats: () => [1] }).emitStatsUpdate(), TypeError);
  assert.throws(() => new RealTimeAPI(null, null, { mode: 'attach' }), /attach mode needs the socket.io Server/);
  assert.throws(() => new RealTimeAPI(seed.io, null, { queueCapacty: 3, jwtSecret: 5 }), TypeError);
  assert.throws(() => new RealTimeAPI(seed.io, null, { authenticate: 'yes' }), /options.authenticate must be a function/);

  // Still serving: the tab gets the next event.
  api.emitModuleOnline('MC-1', { userId: 123 });
  assert.equal((await tab.next('module:status:changed')).data.moduleId, 'MC-1');
  const metrics = api.metrics();
  assert.ok(metrics.emits_failed >= 1);
});

test('JS hooks: a host authenticator and the client-event handler', async (t) => {
  const forwarded = [];
  const audits = [];
  let seed = null;
  seed = await startSeedApp({
    authenticate(request, context) {
      if (request.token === 'js-token-9') {
        assert.equal(context.headers['x-app'], 'seed');
        return { userId: 9, role: 'user', sessionId: 'js-session-9' };
      }
      if (request.token === 'bad') return { error: { code: 'bad_token', message: 'no such token' } };
      if (request.token === 'throw') throw new Error('database down');
      return null;
    },
    // The handler may emit (no library lock is held): it answers the sender.
    onClientEvent: (event) => {
      forwarded.push(event);
      seed.realTimeAPI.emitToUser(event.userId, 'ride:started', { lap: event.data.lap });
    },
    onAudit: (record) => audits.push(record),
  });
  const api = seed.realTimeAPI;
  t.after(() => seed.close());

  const tab = connect(seed.url, { auth: { token: 'js-token-9', page: 'modules' }, extraHeaders: { 'x-app': 'seed' } });
  t.after(() => tab.close());
  await tab.connected();
  assert.equal((await tab.next('auth:ok')).data.userId, '9');
  await tab.next('page:snapshot');

  tab.socket.emit('ride:start', { lap: 3 });
  assert.deepEqual((await tab.next('ride:started')).data.lap, 3);
  assert.deepEqual(forwarded.map((e) => [e.event, e.userId, e.data]), [['ride:start', '9', { lap: 3 }]]);

  const refused = connect(seed.url);
  t.after(() => refused.close());
  await refused.connected();
  const ack = await refused.socket.timeout(5000).emitWithAck('client:authenticate', { token: 'bad' });
  assert.equal(ack.code, 'bad_token');
  const failing = await refused.socket.timeout(5000).emitWithAck('client:authenticate', { token: 'throw' });
  assert.equal(failing.code, 'authenticator_failed');

  // Credentials refused in the handshake auth: the socket stays and is told why.
  const badAtConnect = connect(seed.url, { auth: { token: 'bad' } });
  t.after(() => badAtConnect.close());
  assert.equal((await badAtConnect.next('auth:error')).data.code, 'bad_token');
  assert.equal(badAtConnect.socket.connected, true);
  assert.ok(audits.some((record) => record.kind === 'auth'));
});

test('standalone mode: the library serves, Node drives it', async (t) => {
  const api = new RealTimeAPI(null, { getStats: () => ({ users: 1 }) }, { mode: 'standalone', port: 0, jwtSecret: 'x' });
  api.initialize();
  t.after(() => api.close());
  assert.ok(api.port > 0);
  api.emitUserLoggedIn({ id: 123, name: 'Ada' }, 'sess-ada');
  api.emitUserLoggedIn({ id: 1, userType: 'admin' }, 'sess-root');
  const url = `http://127.0.0.1:${api.port}`;
  const ada = connect(url, { auth: { userId: 123, page: 'modules', sessionId: 'sess-ada' } });
  const admin = connect(url, { auth: { userId: 1, userType: 'admin', page: 'admin', sessionId: 'sess-root' } });
  t.after(() => { ada.close(); admin.close(); });
  await ada.next('page:snapshot');
  await admin.next('page:snapshot');
  assert.deepEqual(api.emitModuleOnline('MC-1234-STN', { userId: 123 }), { outcome: 'delivered', connections: 2 });
  assert.equal((await ada.next('module:status:changed')).data.online, true);
  await api.emitStatsUpdate();
  assert.deepEqual((await admin.next('admin:stats:updated')).data.stats, { users: 1 });
  const closed = ada.disconnected();
  api.emitUserLoggedOut({ id: 123 }, 'sess-ada');
  await ada.next('user:session:ended');
  assert.equal(await closed, 'io server disconnect');
});

test('standalone mode: JS hooks called from the library\'s server threads run on the event loop', async (t) => {
  let authAudited;
  const audited = new Promise((resolve) => { authAudited = resolve; });
  const api = new RealTimeAPI(null, null, {
    mode: 'standalone',
    port: 0,
    authenticate: (request, context) => (request.token === 'js-token-5'
      ? { userId: 5, role: 'admin', sessionId: `from-${context.remoteAddr ? 'socket' : 'nowhere'}` }
      : null),
    // Records caused on server threads arrive from the hub's audit thread.
    onAudit: (record) => { if (record.kind === 'auth' && record.user_id === '5') authAudited(record); },
  });
  api.initialize();
  t.after(() => api.close());
  const admin = connect(`http://127.0.0.1:${api.port}`, { auth: { token: 'js-token-5', page: 'admin' } });
  t.after(() => admin.close());
  const { data } = await admin.next('auth:ok');
  assert.deepEqual({ userId: data.userId, role: data.role, sessionId: data.sessionId }, { userId: '5', role: 'admin', sessionId: 'from-socket' });
  // Synchronous emits from the loop while server threads wait on it for hooks.
  for (let i = 0; i < 50; i++) api.emitToAdmins('ops:tick', { i });
  assert.equal((await admin.next('ops:tick')).data.i, 0);
  assert.equal((await audited).outcome.outcome, 'accepted');
});

test('emitStatsUpdate: one call; without stats the library asks the provider, whose value admins get', async (t) => {
  let calls = 0;
  let source = () => { calls += 1; return { users: 1, modules: 2 }; };
  const api = new RealTimeAPI(null, null, {
    mode: 'standalone', port: 0, jwtSecret: 'x', getStats: (...a) => source(...a),
  });
  api.initialize();
  t.after(() => api.close());
  api.emitUserLoggedIn({ id: 1, userType: 'admin' }, 'sess-root');
  const admin = connect(`http://127.0.0.1:${api.port}`, { auth: { userId: 1, userType: 'admin', page: 'admin', sessionId: 'sess-root' } });
  t.after(() => admin.close());
  await admin.next('page:snapshot');
  const stats = async () => (await admin.next('admin:stats:updated')).data;

  // Without stats: the provider's value, in the shape every binding sends.
  assert.deepEqual(await api.emitStatsUpdate(), { outcome: 'delivered', connections: 1 });
  const sent = await stats();
  assert.deepEqual(Object.keys(sent).sort(), ['stats', 'timestamp']);
  assert.deepEqual(sent.stats, { users: 1, modules: 2 });
  assert.equal(calls, 1);
  assert.deepEqual(await api.emitStatsUpdate(null), { outcome: 'unchanged', connections: 0 });
  assert.equal(calls, 2);

  // With stats: sent as given, the provider is not asked.
  assert.deepEqual(await api.emitStatsUpdate({ users: 7 }), { outcome: 'delivered', connections: 1 });
  assert.deepEqual((await stats()).stats, { users: 7 });
  assert.equal(calls, 2);

  // A promise (from a plain function or an async one) is settled, then answered.
  source = () => Promise.resolve({ users: 8 });
  assert.deepEqual(await api.emitStatsUpdate(), { outcome: 'delivered', connections: 1 });
  assert.deepEqual((await stats()).stats, { users: 8 });

  // The library asks the provider: its failure is the library's (counted, typed).
  const failed = api.metrics().emits_failed;
  source = () => { throw new Error('database down'); };
  await assert.rejects(api.emitStatsUpdate(), /database down/);
  source = () => 'not an object';
  await assert.rejects(api.emitStatsUpdate(), TypeError);
  assert.equal(api.metrics().emits_failed, failed + 2);
});

test('emitStatsUpdate: an async databaseManager.getStats is the provider the library asks', async (t) => {
  const api = new RealTimeAPI(null, { async getStats() { return { users: 4 }; } }, { mode: 'standalone', port: 0, jwtSecret: 'x' });
  api.initialize();
  t.after(() => api.close());
  api.emitUserLoggedIn({ id: 1, userType: 'admin' }, 'sess-root');
  const admin = connect(`http://127.0.0.1:${api.port}`, { auth: { userId: 1, userType: 'admin', page: 'admin', sessionId: 'sess-root' } });
  t.after(() => admin.close());
  await admin.next('page:snapshot');
  const failed = api.metrics().emits_failed;
  assert.deepEqual(await api.emitStatsUpdate(), { outcome: 'delivered', connections: 1 });
  assert.deepEqual((await admin.next('admin:stats:updated')).data.stats, { users: 4 });
  assert.equal(api.metrics().emits_failed, failed);
});
