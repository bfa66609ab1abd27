'use strict';
// Binary values with the official socket.io-client: a host's binary emit (HTTP API
// `attachments`) reaches both tabs of one user as a Buffer over websocket and polling,
// and no other user; and Buffers a client sends in an event and asks back in an ack come
// back byte-exact from a server built on the library's namespace API
// (examples/conformance.rs), over both transports.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
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

test('a binary host emit reaches both tabs of one user as a Buffer and no one else', { timeout: TEST_TIMEOUT }, async (t) => {
  const ada = h.uid('ada');
  const bob = h.uid('bob');
  const wsTab = await h.connectAuthed(server.url, { auth: { token: h.mintToken({ sub: ada }) }, transports: ['websocket'] });
  const pollTab = await h.connectAuthed(server.url, { auth: { token: h.mintToken({ sub: ada }) }, transports: ['polling'] });
  const other = await h.connectAuthed(server.url, { auth: { token: h.mintToken({ sub: bob }) } });
  t.after(() => h.closeAll(wsTab, pollTab, other));
  const image = Buffer.from([0, 1, 2, 253, 254, 255]);
  const photos = [wsTab, pollTab].map((socket) => h.received(socket, 'photo'));
  const answer = await server.api('to_user', {
    userId: ada,
    event: 'photo',
    data: { img: { _placeholder: true, num: 0 }, caption: 'lift' },
    attachments: [image.toString('base64')],
  });
  assert.deepEqual(answer, { outcome: 'delivered', connections: 2 });
  for (const photo of await Promise.all(photos)) {
    assert.ok(Buffer.isBuffer(photo.img), `a Buffer, got ${JSON.stringify(photo.img)}`);
    assert.deepEqual(photo.img, image);
    assert.equal(photo.caption, 'lift');
  }
  await h.assertEventsThroughSentinel(server, other, bob, ['auth:ok', 'page:snapshot']);
});

function conformanceBinary() {
  if (process.env.MCRT_CONFORMANCE_BIN) return process.env.MCRT_CONFORMANCE_BIN;
  const repo = path.resolve(__dirname, '..', '..', '..');
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
  return path.join(target, 'ci', 'examples', 'conformance');
}

/** Starts examples/conformance on a free port; resolves to {url, stop()}. */
function startConformance() {
  const bin = conformanceBinary();
  if (!fs.existsSync(bin)) throw new Error(`conformance binary ${bin} is missing: cargo build --profile ci --example conformance`);
  const child = spawn(bin, ['--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no address in 20 s: ${out}`)); }, 20000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${out}`)); });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (!match) return;
      clearTimeout(timer);
      resolve({ url: match[1], stop: () => { child.kill('SIGTERM'); return exited; } });
    });
  });
}

for (const transport of ['websocket', 'polling']) {
  test(`Buffers in an event and in an ack come back byte-exact over ${transport}`, { timeout: TEST_TIMEOUT }, async (t) => {
    const echo = await startConformance();
    t.after(() => echo.stop());
    const socket = h.connect(`${echo.url}/custom`, { transports: [transport], auth: { token: 'abc' } });
    t.after(() => socket.close());
    const auth = await h.received(socket, 'auth');
    assert.deepEqual(auth, { token: 'abc' });

    const first = Buffer.from([1, 2, 3]);
    const nested = Buffer.from('héllo', 'utf8');
    const back = new Promise((resolve) => socket.once('message-back', (...args) => resolve(args)));
    socket.emit('message', first, { nested, n: 1 }, 'text');
    const args = await back;
    assert.ok(Buffer.isBuffer(args[0]) && Buffer.isBuffer(args[1].nested));
    assert.deepEqual(args, [first, { nested, n: 1 }, 'text']);

    const acked = await new Promise((resolve) => socket.emit('message-with-ack', Buffer.from([9, 0, 255]), 7, (...reply) => resolve(reply)));
    assert.deepEqual(acked, [Buffer.from([9, 0, 255]), 7]);
  });
}
