'use strict';
// Buffers between socket.io-client and the Node package, in both modes: a Buffer in
// emitToUser reaches that user's socket as a Buffer and no other user's, a Buffer a
// client sends reaches onClientEvent as a Buffer, in place, and onClientEvent's return
// value answers the client's ack with its Buffers byte-exact (attach mode: through the
// C host transport, mcrt_host_message_with_ack).

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
  await checkAcks(api, ada, bob);
}

/** The hook (`echoHook`) answers `echo` with the Buffer it got and sends it back in an
 * `echo:back` event; `silent` is not answered. */
function echoHook(api, seen) {
  return (event) => {
    seen.push(event);
    if (event.event === 'echo') {
      api.emitToUser(event.userId, 'echo:back', { file: event.data.file });
      return { echo: event.data.file, parts: [event.data.file, 'text'], n: 1 };
    }
    return undefined;
  };
}

/** Buffers in an event and in an ack come back byte-exact; an unanswered ack gets what
 * it got before hooks could answer (standalone: null; attach: nothing), checked against
 * a later answered ack on the same socket; Bob receives nothing of it. */
async function checkAcks(api, ada, bob) {
  const file = Buffer.from([0, 255, 1, 254, 0, 128, 10]);
  const silentAcks = [];
  ada.socket.emit('silent', { x: 1 }, (...args) => silentAcks.push(args));
  const acked = await ada.socket.timeout(5000).emitWithAck('echo', { file, name: 'b.bin' });
  assert.ok(Buffer.isBuffer(acked.echo), `a Buffer, got ${JSON.stringify(acked.echo)}`);
  assert.deepEqual(acked, { echo: file, parts: [file, 'text'], n: 1 });
  const back = (await ada.next('echo:back')).data;
  assert.ok(Buffer.isBuffer(back.file));
  assert.deepEqual(back.file, file);
  assert.deepEqual(silentAcks, api.mode === 'standalone' ? [[null]] : []);
  api.emitToUser(456, 'test:sentinel', { n: 3 });
  assert.deepEqual(await bob.namesBefore('test:sentinel'), []);
  api.emitToUser(123, 'test:sentinel', { n: 4 });
  assert.deepEqual(await ada.namesBefore('test:sentinel'), []);
}

test('standalone mode: Buffers both ways', async (t) => {
  const seen = [];
  const hook = { fn: null };
  const api = new RealTimeAPI(null, {}, {
    mode: 'standalone', port: 0, jwtSecret: 'x', onClientEvent: (event) => hook.fn(event),
  });
  hook.fn = echoHook(api, seen);
  api.initialize();
  t.after(() => api.close());
  await checkBinary(t, api, `http://127.0.0.1:${api.port}`, seen);
});

test('attach mode: Buffers both ways through the host socket.io server', async (t) => {
  const seen = [];
  const hook = { fn: null };
  const seed = await startSeedApp({ onClientEvent: (event) => hook.fn(event) });
  hook.fn = echoHook(seed.realTimeAPI, seen);
  t.after(() => seed.close());
  await checkBinary(t, seed.realTimeAPI, seed.url, seen);
});
