'use strict';
// Connection-state recovery with the official client (issue 6 §4): socket.io-client 4.8
// recovers by itself when the server's CONNECT reply carries a `pid`. A client whose
// transport drops and that reconnects within the window gets exactly the events it
// missed, in order, once, and only its own, with `socket.recovered === true`; after the
// window it gets a fresh session (authenticates again, new snapshot).

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const h = require('./helpers');

const TEST_TIMEOUT = 30000;
const SHORT_WINDOW_MS = 300;
let server;
let shortServer;

before(async () => {
  server = await h.startServer({ args: ['--recovery-window-ms', '60000'] });
  shortServer = await h.startServer({ args: ['--recovery-window-ms', String(SHORT_WINDOW_MS)] });
});

after(async () => {
  await Promise.all([server, shortServer].filter(Boolean).map((s) => s.stop('SIGKILL')));
});

async function login(url, user) {
  const socket = await h.connectAuthed(url, {
    transports: ['websocket'],
    auth: { token: h.mintToken({ sub: user }) },
  });
  socket.offsets = [];
  socket.onAny((event, ...args) => {
    if (event === 'cart:moved') socket.offsets.push(args[1]);
  });
  return socket;
}

/** Resolves once `socket` recorded `count` `cart:moved` events. */
function moves(socket, count) {
  const list = () => socket.received.filter((e) => e.event === 'cart:moved');
  if (list().length >= count) return Promise.resolve(list());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.offAny(listener);
      reject(new Error(`only ${list().length} of ${count} cart:moved arrived`));
    }, h.TIMEOUT_MS);
    function listener() {
      if (list().length < count) return;
      clearTimeout(timer);
      socket.offAny(listener);
      resolve(list());
    }
    socket.onAny(listener);
  });
}

test('a client that reconnects within the window gets exactly its missed events', { timeout: TEST_TIMEOUT }, async (t) => {
  const ada = h.uid('ada');
  const bob = h.uid('bob');
  const adaSocket = await login(server.url, ada);
  const bobSocket = await login(server.url, bob);
  t.after(() => h.closeAll(adaSocket, bobSocket));

  await server.api('to_user', { userId: ada, event: 'cart:moved', data: { n: -1 } });
  await moves(adaSocket, 1);
  assert.match(adaSocket.offsets[0], /^\d+$/, 'events carry their offset as a last argument');
  const authsBefore = adaSocket.received.filter((e) => e.event === 'auth:ok').length;

  await h.dropTransport(adaSocket);
  for (let n = 0; n < 100; n += 1) {
    await server.api('to_user', { userId: ada, event: 'cart:moved', data: { n, for: ada } });
    await server.api('to_user', { userId: bob, event: 'cart:moved', data: { n, for: bob } });
  }
  const bobMoves = await moves(bobSocket, 100);
  assert.deepEqual(bobMoves.map((e) => e.data.n), [...Array(100).keys()]);

  const reconnected = h.once(adaSocket, 'connect');
  adaSocket.connect();
  await reconnected;
  assert.equal(adaSocket.recovered, true, 'socket.recovered');
  const adaMoves = (await moves(adaSocket, 101)).slice(1);
  // Exactly these through the sentinel: one authentication and one snapshot (the
  // identity came back without authenticating again), then its 101 moves; nothing else
  // (Bob's events, duplicates, a second auth:ok) was still on its way.
  await h.assertEventsThroughSentinel(server, adaSocket, ada, [
    'auth:ok', 'page:snapshot', ...Array(101).fill('cart:moved'),
  ]);
  const after = adaSocket.received.filter((e) => e.event === 'cart:moved').slice(1);
  assert.equal(after.length, 100, `exactly 100, got ${after.length}`);
  assert.deepEqual(adaMoves.map((e) => e.data.n), [...Array(100).keys()], 'in order, once');
  assert.ok(after.every((e) => e.data.for === ada), 'only its own events');
  const offsets = adaSocket.offsets.map(Number);
  assert.ok(offsets.every((o, i) => i === 0 || o > offsets[i - 1]), 'offsets only grow');
  assert.equal(authsBefore, 1);
});

test('after the window the client gets a fresh session', { timeout: TEST_TIMEOUT }, async (t) => {
  const ada = h.uid('ada');
  const socket = await login(shortServer.url, ada);
  t.after(() => socket.close());
  await h.dropTransport(socket);
  await shortServer.api('to_user', { userId: ada, event: 'cart:moved', data: { n: 0 } });
  // Not a synchronisation: being later than the window is the condition under test.
  await new Promise((resolve) => setTimeout(resolve, SHORT_WINDOW_MS * 3));

  const authed = h.once(socket, 'auth:ok');
  const snapshot = h.once(socket, 'page:snapshot');
  const reconnected = h.once(socket, 'connect');
  socket.connect();
  await reconnected;
  assert.equal(socket.recovered, false, 'socket.recovered');
  assert.equal((await authed).userId, ada, 'it authenticated again from its auth object');
  await snapshot;
  // Two sessions, each authenticated with its snapshot; the move made while it was
  // away is gone with the first.
  await h.assertEventsThroughSentinel(shortServer, socket, ada, [
    'auth:ok', 'page:snapshot', 'auth:ok', 'page:snapshot',
  ]);
});
