'use strict';
// Binary values with the official socket.io-client: a host's binary emit (HTTP API
// `attachments`) reaches both tabs of one user as a Buffer over websocket and polling,
// and no other user; and Buffers a client sends in an event and asks back in an ack come
// back byte-exact from a server built on the library's namespace API
// (examples/conformance.rs) and through a Rust client-event hook that answers acks
// (examples/echo_hook.rs), over both transports.

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

/** The path of example `name` (built by scripts/clients-test), or `$envVar`. */
function exampleBinary(name, envVar) {
  if (process.env[envVar]) return process.env[envVar];
  const repo = path.resolve(__dirname, '..', '..', '..');
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
  return path.join(target, 'ci', 'examples', name);
}

/** Starts example `name` on a free port with `args`; resolves to {url, stop()}. */
function startExample(name, envVar, args = []) {
  const bin = exampleBinary(name, envVar);
  if (!fs.existsSync(bin)) throw new Error(`${name} binary ${bin} is missing: cargo build --profile ci --example ${name}`);
  const child = spawn(bin, ['--addr', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
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

const startConformance = () => startExample('conformance', 'MCRT_CONFORMANCE_BIN');

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

// A Rust client-event hook (examples/echo_hook.rs, `Answering`) answers the ack with the
// Buffer it got and sends it back in an event to its user only.
for (const transport of ['websocket', 'polling']) {
  test(`a Rust hook answers an ack with the client's Buffer, byte-exact, over ${transport}`, { timeout: TEST_TIMEOUT }, async (t) => {
    const echo = await startExample('echo_hook', 'MCRT_ECHO_HOOK_BIN', ['--login', '123:sess-ada', '--login', '456:sess-bob']);
    t.after(() => echo.stop());
    const options = { transports: [transport] };
    const ada = await h.connectAuthed(echo.url, { ...options, auth: { userId: 123, sessionId: 'sess-ada' } });
    const bob = await h.connectAuthed(echo.url, { ...options, auth: { userId: 456, sessionId: 'sess-bob' } });
    t.after(() => h.closeAll(ada, bob));

    const file = Buffer.from([0, 255, 1, 254, 0, 128, 10]);
    const silent = await ada.timeout(5000).emitWithAck('silent', { x: 1 });
    assert.equal(silent, null);
    const backs = h.received(ada, 'echo:back');
    const acked = await ada.timeout(5000).emitWithAck('echo', { file, name: 'b.bin' });
    assert.ok(Buffer.isBuffer(acked.echo.file), `a Buffer, got ${JSON.stringify(acked.echo.file)}`);
    assert.deepEqual(acked, { echo: { file, name: 'b.bin' } });
    const back = await backs;
    assert.ok(Buffer.isBuffer(back.file));
    assert.deepEqual(back, { file, name: 'b.bin', timestamp: back.timestamp }); // emits add a timestamp

    // Bob's own echo is his sentinel: before it he received only his login's events.
    const bobFile = Buffer.from([7, 7]);
    const bobBack = h.received(bob, 'echo:back');
    assert.deepEqual(await bob.timeout(5000).emitWithAck('echo', { file: bobFile }), { echo: { file: bobFile } });
    assert.deepEqual((await bobBack).file, bobFile);
    assert.deepEqual(bob.received.map((entry) => entry.event), ['auth:ok', 'page:snapshot', 'echo:back']);
    // Ada's second echo is hers: Bob's echo:back never reached her before it.
    const second = Buffer.from([1]);
    const adaBack = h.received(ada, 'echo:back', undefined, (data) => data.file && data.file.length === 1);
    await ada.timeout(5000).emitWithAck('echo', { file: second });
    assert.deepEqual((await adaBack).file, second);
    assert.deepEqual(ada.received.map((entry) => entry.event), ['auth:ok', 'page:snapshot', 'echo:back', 'echo:back']);
    assert.deepEqual(ada.received[3].data.file, second);
  });
}
