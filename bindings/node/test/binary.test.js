'use strict';
// Buffers between socket.io-client and the Node package, in both modes: a Buffer in
// emitToUser reaches that user's socket as a Buffer and no other user's, and a Buffer a
// client sends reaches onClientEvent as a Buffer, in place.

const test = require('node:test');
const assert = require('node:assert/strict');
const RealTimeAPI = require('../');
const { startSeedApp } = require('./seed-app');
const { connect } = require('./clients');

/** Runs the checks against `api` serving `url`, whose onClientEvent pushes to `seen`. */
async function checkBinary(t, api, url, seen) {
  api.emitUserLoggedIn({ id: 123, name: 'Ada' }, 'sess-ada');
  api.emitUserLoggedIn({ id: 456, name: 'Bob' }, 'sess-bob');
  const ada = connect(url, { auth: { userId: 123, page: 'modules', sessionId: 'sess-ada' } });
  const bob = connect(url, { auth: { userId: 456, page: 'modules', sessionId: 'sess-bob' } });
  t.after(() => { ada.close(); bob.close(); });
  await ada.next('page:snapshot');
  await bob.next('page:snapshot');

  const image = Buffer.from([0, 1, 2, 254, 255]);
  assert.deepEqual(api.emitToUser(123, 'photo', { img: image, parts: [new Uint8Array([7]), 'x'] }),
    { outcome: 'delivered', connections: 1 });
  const photo = (await ada.next('photo')).data;
  assert.ok(Buffer.isBuffer(photo.img));
  assert.deepEqual(photo.img, image);
  assert.deepEqual(photo.parts, [Buffer.from([7]), 'x']);
  // Bob gets nothing before his sentinel; Ada's next event after the photo is hers.
  api.emitToUser(456, 'test:sentinel', { n: 1 });
  assert.deepEqual(await bob.namesBefore('test:sentinel'), []);
  api.emitToUser(123, 'test:sentinel', { n: 2 });
  assert.deepEqual(await ada.namesBefore('test:sentinel'), []);

  ada.socket.emit('upload', { file: Buffer.from([9, 8, 0, 7]), name: 'a.bin' });
  await new Promise((resolve) => { const poll = () => (seen.length ? resolve() : setImmediate(poll)); poll(); });
  const [event] = seen;
  assert.equal(event.event, 'upload');
  assert.ok(Buffer.isBuffer(event.data.file));
  assert.deepEqual(event.data, { file: Buffer.from([9, 8, 0, 7]), name: 'a.bin' });
  assert.equal(event.attachments, undefined);
}

test('standalone mode: Buffers both ways', async (t) => {
  const seen = [];
  const api = new RealTimeAPI(null, {}, {
    mode: 'standalone', port: 0, jwtSecret: 'x', onClientEvent: (event) => seen.push(event),
  });
  api.initialize();
  t.after(() => api.close());
  await checkBinary(t, api, `http://127.0.0.1:${api.port}`, seen);
});

test('attach mode: Buffers both ways through the host socket.io server', async (t) => {
  const seen = [];
  const seed = await startSeedApp({ onClientEvent: (event) => seen.push(event) });
  t.after(() => seed.close());
  await checkBinary(t, seed.realTimeAPI, seed.url, seen);
});
