'use strict';
// The seed's app.js integration end to end: real socket.io 4.8 server, real
// socket.io-client browsers, the library loaded by koffi in attach mode.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startSeedApp } = require('./seed-app');
const { connect, browser, login, logout } = require('./clients');

const STATION = { moduleId: 'MC-1234-STN', type: 'Station', name: 'Station principale', userId: 123 };

test('the seed app.js integration', async (t) => {
  const seed = await startSeedApp({ deviceOfflineGraceMs: 50 });
  const api = seed.realTimeAPI;
  const ada = await login(seed.url, 'ada');
  const bob = await login(seed.url, 'bob');
  const root = await login(seed.url, 'root');
  const adaTab1 = await browser(seed.url, ada, 'modules');
  const adaTab2 = await browser(seed.url, ada, 'dashboard');
  const bobTab = await browser(seed.url, bob, 'modules');
  const admin = await browser(seed.url, root, 'admin');
  const stranger = connect(seed.url);
  await stranger.connected();
  const everyone = [adaTab1, adaTab2, bobTab, admin];
  const sentinel = (client, user) => api.emitToUser(user, 'test:sentinel', {});
  t.after(async () => {
    for (const c of [...everyone, stranger]) c.close();
    await seed.close();
  });

  await t.test('client:authenticate acks with the verified identity', () => {
    assert.deepEqual(
      { userId: adaTab1.ack.userId, role: adaTab1.ack.role, page: adaTab1.ack.page },
      { userId: '123', role: 'user', page: 'modules' });
    assert.equal(admin.ack.role, 'admin');
    assert.equal(adaTab1.snapshot.page, 'modules');
  });

  await t.test('an ESP registering makes its module online for its owner only', async () => {
    const esp = connect(seed.url);
    await esp.connected();
    esp.socket.emit('esp:register', STATION);
    for (const tab of [adaTab1, adaTab2]) {
      const { data } = await tab.next('module:status:changed');
      assert.equal(data.moduleId, 'MC-1234-STN');
      assert.equal(data.online, true);
    }
    assert.equal((await admin.next('module:status:changed')).data.online, true);
    sentinel(bobTab, 456);
    assert.deepEqual(await bobTab.namesBefore('test:sentinel'), []);

    // Already online: nothing is sent.
    assert.deepEqual(api.emitModuleOnline('MC-1234-STN', STATION), { outcome: 'unchanged', connections: 0 });
    sentinel(adaTab1, 123);
    assert.deepEqual(await adaTab1.namesBefore('test:sentinel'), []);
    await adaTab2.next('test:sentinel');

    esp.close();
    for (const tab of [adaTab1, adaTab2]) {
      assert.equal((await tab.next('module:status:changed')).data.online, false);
    }
    await admin.next('module:status:changed');
  });

  await t.test('modules page: added and telemetry reach the owner; admin page gets admin:module:added', async () => {
    const module = { id: 'MC-77-LFT', userId: 123, name: 'Lift', type: 'Lift' };
    assert.deepEqual(api.emitModuleAdded(module), { outcome: 'delivered', connections: 3 });
    assert.equal((await adaTab1.next('user:module:added')).data.module.name, 'Lift');
    await adaTab2.next('user:module:added');
    assert.equal((await admin.next('admin:module:added')).data.module.moduleId, 'MC-77-LFT');
    assert.deepEqual(api.emitModuleAdded(module), { outcome: 'unchanged', connections: 0 });

    api.emitTelemetryUpdate('MC-77-LFT', { speed: 12.5 });
    const { data } = await adaTab1.next('module:telemetry:updated');
    assert.deepEqual({ moduleId: data.moduleId, telemetry: data.telemetry }, { moduleId: 'MC-77-LFT', telemetry: { speed: 12.5 } });
    assert.deepEqual(api.emitTelemetryUpdate('MC-77-LFT', { speed: 12.5 }), { outcome: 'unchanged', connections: 0 });

    api.emitModuleRemoved(module);
    await adaTab1.next('user:module:removed');
    await admin.next('admin:module:removed');

    sentinel(bobTab, 456);
    assert.deepEqual(await bobTab.namesBefore('test:sentinel'), []);
  });

  await t.test('admin page: stats, registrations, admin actions; never on a user tab', async () => {
    const first = await api.emitStatsUpdate();
    assert.equal(first.outcome, 'delivered');
    assert.deepEqual((await admin.next('admin:stats:updated')).data.stats, { users: 3, modules: 1 });
    assert.deepEqual(await api.emitStatsUpdate(), { outcome: 'unchanged', connections: 0 });

    api.emitUserRegistered({ id: 789, name: 'Cy' });
    assert.equal((await admin.next('admin:user:registered')).data.user.name, 'Cy');
    api.emitAdminAction(1, 'user_promoted', { userId: 456 });
    assert.equal((await admin.next('admin:action')).data.action, 'user_promoted');

    sentinel(adaTab1, 123);
    const seen = await adaTab1.namesBefore('test:sentinel');
    assert.deepEqual(seen.filter((name) => name.startsWith('admin:')), []);
    assert.deepEqual(seen, []);
  });

  await t.test('profile updates reach every tab of that user, only when a field changed', async () => {
    api.emitUserProfileUpdated({ id: 123, name: 'Ada' }, { id: 123, name: 'Ada L.' });
    for (const tab of [adaTab1, adaTab2]) {
      assert.deepEqual((await tab.next('user:profile:updated')).data.changes.name, 'Ada L.');
    }
    assert.deepEqual(api.emitUserProfileUpdated({ id: 123, name: 'Ada L.' }, { id: 123, name: 'Ada L.' }), { outcome: 'unchanged', connections: 0 });
    sentinel(adaTab1, 123);
    assert.deepEqual(await adaTab1.namesBefore('test:sentinel'), []);
  });

  await t.test('maintenance mode reaches every authenticated connection, not the stranger', async () => {
    api.emitMaintenanceMode(true, 'Mise à jour', 1);
    for (const client of everyone) {
      assert.equal((await client.next('system:maintenance')).data.message, 'Mise à jour');
    }
    assert.deepEqual(api.emitMaintenanceMode(true, 'Mise à jour', 1), { outcome: 'unchanged', connections: 0 });
    api.emitMaintenanceMode(false, '', 1);
    for (const client of everyone) await client.next('system:maintenance');
    assert.deepEqual(stranger.events, []);
  });

  await t.test('client:page moves a tab and answers with a snapshot', async () => {
    bobTab.socket.emit('client:page', { page: 'dashboard' });
    assert.equal((await bobTab.next('page:snapshot')).data.page, 'dashboard');
  });

  await t.test('a device authenticating itself goes offline from the grace timer thread', async () => {
    api.registerDeviceKey('MC-5-SWT', 123, 'a-device-key-of-16+chars');
    const board = connect(seed.url, { auth: { moduleId: 'MC-5-SWT', deviceKey: 'a-device-key-of-16+chars' } });
    await board.connected();
    assert.equal((await adaTab1.next('module:status:changed')).data.moduleId, 'MC-5-SWT');
    board.close();
    // Emitted by the library's timer thread: delivered through koffi on the event loop,
    // while this loop keeps making synchronous emits.
    const offline = adaTab1.next('module:status:changed');
    for (let i = 0; i < 200; i++) api.emitTelemetryUpdate('MC-1234-STN', { tick: i });
    const { data } = await offline;
    assert.deepEqual({ moduleId: data.moduleId, online: data.online }, { moduleId: 'MC-5-SWT', online: false });
    assert.equal(api.revokeDeviceKey('MC-5-SWT'), true);
    assert.equal(api.revokeDeviceKey('MC-5-SWT'), false);
  });

  await t.test('logging a session out closes that session\'s sockets everywhere, nobody else\'s', async () => {
    const closing = [adaTab1.disconnected(), adaTab2.disconnected()];
    await logout(seed.url, ada);
    for (const tab of [adaTab1, adaTab2]) await tab.next('user:session:ended');
    assert.deepEqual(await Promise.all(closing), ['io server disconnect', 'io server disconnect']);
    await admin.next('admin:user:logged_out');
    sentinel(bobTab, 456);
    await bobTab.next('test:sentinel');
    assert.equal(bobTab.socket.connected, true);
  });
});
