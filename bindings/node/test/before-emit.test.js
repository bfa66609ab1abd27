'use strict';
// options.beforeEmit: a plain JS function that sees every event before it is routed and
// keeps, drops or rewrites it — including the events the library emits from its own
// threads (the device grace timer, a device on the standalone server, the HTTP API),
// which run on the event loop through the host executor. Real socket.io servers and
// clients throughout.

const test = require('node:test');
const assert = require('node:assert/strict');
const RealTimeAPI = require('../');
const { startSeedApp } = require('./seed-app');
const { connect, browser, login } = require('./clients');

const DEVICE_KEY = 'a-device-key-of-16+chars';

/** The seed's filter: drops `ops:secret`, rounds telemetry, marks module status events
 * (noting whether they were run by the executor on the loop), and fails on demand. */
function seedFilter() {
  const seen = [];
  const filter = (name, audience, payload) => {
    if (name === 'ops:secret') return false;
    if (name === 'ops:boom') throw new Error('the filter broke');
    if (name === 'ops:wrong') return () => 'not JSON';
    if (name === 'module:telemetry:updated') {
      return { ...payload, telemetry: { speed: Math.round(payload.telemetry.speed) }, filtered: true };
    }
    if (name === 'module:status:changed') {
      // Run by the executor: mcrt_run_pending, scheduled on this loop, is on the stack.
      seen.push({ online: payload.online, audience: audience.kind, viaExecutor: /runPending/.test(new Error().stack) });
      return { ...payload, filteredBy: 'js' };
    }
    return undefined;
  };
  return { filter, seen };
}

function warnings() {
  const messages = [];
  const listener = (warning) => messages.push(warning.message);
  process.on('warning', listener);
  return { messages, stop: () => process.off('warning', listener) };
}

test('attach mode: the seed app with a beforeEmit that drops, rewrites and fails', async (t) => {
  const { filter, seen } = seedFilter();
  const seed = await startSeedApp({ deviceOfflineGraceMs: 30, beforeEmit: filter });
  const api = seed.realTimeAPI;
  const ada = await login(seed.url, 'ada');
  const tab = await browser(seed.url, ada, 'modules');
  const warned = warnings();
  t.after(async () => { warned.stop(); tab.close(); await seed.close(); });
  const sentinel = () => api.emitToUser(123, 'test:sentinel', {});

  await t.test('a dropped event never reaches the tab; the next one does', async () => {
    assert.deepEqual(api.emitToUser(123, 'ops:secret', { code: 42 }), { outcome: 'delivered', connections: 0 });
    sentinel();
    assert.deepEqual(await tab.namesBefore('test:sentinel'), []);
    assert.ok(api.metrics().events_dropped_by_hook >= 1);
  });

  await t.test('a rewritten event arrives rewritten', async () => {
    api.emitModuleOnline('MC-1234-STN', { userId: 123 });
    assert.equal((await tab.next('module:status:changed')).data.filteredBy, 'js');
    api.emitTelemetryUpdate('MC-1234-STN', { speed: 12.34 });
    const { data } = await tab.next('module:telemetry:updated');
    assert.deepEqual({ telemetry: data.telemetry, filtered: data.filtered }, { telemetry: { speed: 12 }, filtered: true });
  });

  await t.test('a filter that throws or returns a wrong type: warned, counted, dropped, still serving', async () => {
    const before = api.metrics().hook_panics;
    assert.deepEqual(api.emitToUser(123, 'ops:boom', {}), { outcome: 'delivered', connections: 0 });
    assert.deepEqual(api.emitToUser(123, 'ops:wrong', {}), { outcome: 'delivered', connections: 0 });
    assert.equal(api.metrics().hook_panics, before + 2);
    sentinel();
    assert.deepEqual(await tab.namesBefore('test:sentinel'), []);
    assert.ok(warned.messages.some((m) => m.includes('beforeEmit hook threw') && m.includes('the filter broke')));
    assert.ok(warned.messages.some((m) => /beforeEmit must return undefined, a boolean or the new JSON payload, got function/.test(m)));
  });

  await t.test('the grace timer\'s offline emit passes through the filter on the loop', async () => {
    api.registerDeviceKey('MC-9-SWT', 123, DEVICE_KEY);
    const board = connect(seed.url, { auth: { moduleId: 'MC-9-SWT', deviceKey: DEVICE_KEY } });
    await board.next('auth:ok');
    const online = (await tab.next('module:status:changed')).data;
    assert.deepEqual({ id: online.moduleId, online: online.online, by: online.filteredBy }, { id: 'MC-9-SWT', online: true, by: 'js' });
    seen.length = 0;
    board.close();
    const offline = (await tab.next('module:status:changed')).data;
    assert.deepEqual({ id: offline.moduleId, online: offline.online, by: offline.filteredBy }, { id: 'MC-9-SWT', online: false, by: 'js' });
    assert.deepEqual(seen, [{ online: false, audience: 'user', viaExecutor: true }]);
  });
});

test('standalone mode: emits from the library\'s server and timer threads run the filter on the loop', async (t) => {
  const { filter, seen } = seedFilter();
  const api = new RealTimeAPI(null, null, {
    mode: 'standalone', port: 0, deviceOfflineGraceMs: 30, beforeEmit: [filter],
    server: { apiKey: 'test-api-key' },
  });
  api.initialize();
  const url = `http://127.0.0.1:${api.port}`;
  api.emitUserLoggedIn({ id: 123, name: 'Ada' }, 'sess-ada');
  api.registerDeviceKey('MC-5-SWT', 123, DEVICE_KEY);
  const tab = connect(url, { auth: { userId: 123, page: 'modules', sessionId: 'sess-ada' } });
  t.after(async () => { tab.close(); await api.close(); });
  await tab.next('page:snapshot');

  // A device connecting on a server thread: its module's online emit is queued for the loop.
  const board = connect(url);
  await board.connected();
  const ack = await board.socket.timeout(5000).emitWithAck('client:authenticate', { moduleId: 'MC-5-SWT', deviceKey: DEVICE_KEY });
  assert.equal(ack.role, 'device');
  const online = (await tab.next('module:status:changed')).data;
  assert.deepEqual({ online: online.online, by: online.filteredBy }, { online: true, by: 'js' });

  // Its telemetry (a server thread) while the loop emits synchronously: no deadlock, the
  // ack says the emit was queued, and the update arrives rewritten.
  const telemetry = [];
  for (let i = 0; i < 20; i++) {
    telemetry.push(board.socket.timeout(5000).emitWithAck('telemetry', { speed: i + 0.4 }));
    api.emitToUser(123, 'ops:secret', { i });
    api.emitToUser(123, 'ops:tick', { i });
  }
  for (const answer of await Promise.all(telemetry)) assert.deepEqual(answer, { outcome: 'queued' });
  for (let i = 0; i < 20; i++) assert.equal((await tab.next('ops:tick')).data.i, i);
  let update;
  do update = (await tab.next('module:telemetry:updated')).data; while (update.telemetry.speed !== 19);
  assert.equal(update.filtered, true);

  // The HTTP API (a server thread) waits for the loop to run its emit, then answers.
  const response = await fetch(`${url}/api/v1/emit/to_user`, {
    method: 'POST',
    headers: { authorization: 'Bearer test-api-key', 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 123, event: 'ops:secret', data: {} }),
  });
  assert.deepEqual(await response.json(), { outcome: 'delivered', connections: 0 });
  api.emitToUser(123, 'test:sentinel', {});
  assert.ok(!(await tab.namesBefore('test:sentinel')).includes('ops:secret'));

  // The device gone: the grace timer's offline emit also runs through the filter, on the loop.
  seen.length = 0;
  board.close();
  const offline = (await tab.next('module:status:changed')).data;
  assert.deepEqual({ online: offline.online, by: offline.filteredBy }, { online: false, by: 'js' });
  assert.deepEqual(seen, [{ online: false, audience: 'user', viaExecutor: true }]);
  assert.equal(api.metrics().hook_panics, 0);
});

test('a wrong beforeEmit option throws a TypeError', async (t) => {
  const seed = await startSeedApp();
  t.after(() => seed.close());
  assert.throws(() => new RealTimeAPI(seed.io, null, { beforeEmit: 'drop everything' }),
    (e) => e instanceof TypeError && /options.beforeEmit must be a function or an array of functions, got string/.test(e.message));
  assert.throws(() => new RealTimeAPI(seed.io, null, { beforeEmit: [() => undefined, 42] }),
    (e) => e instanceof TypeError && /got number/.test(e.message));
  assert.throws(() => new RealTimeAPI(null, null, { mode: 'standalone', beforeEmit: null }),
    (e) => e instanceof TypeError && /got null/.test(e.message));
  // The app keeps serving.
  const ada = await login(seed.url, 'ada');
  const tab = await browser(seed.url, ada, 'modules');
  t.after(() => tab.close());
  seed.realTimeAPI.emitToUser(123, 'test:sentinel', {});
  assert.deepEqual(await tab.namesBefore('test:sentinel'), []);
});
