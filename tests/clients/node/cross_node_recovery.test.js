'use strict';
// Connection-state recovery across nodes: three server processes with recovery on, one
// real redis-server. A socket.io-client tab parked on node A that reconnects to node B
// within the window gets the events it missed, in order, exactly once, and nothing
// meant for anyone else, with the identity it had on A (no new authentication); emits
// racing the handover, through every node, arrive exactly once each. A pid that no
// node holds gives a fresh session that works.

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const h = require('./helpers');
const { startRedis, stopRedis } = require('./redis');

const TEST_TIMEOUT = 30000;
let redis;
let nodes = [];

before(async () => {
  redis = await startRedis();
  nodes = await Promise.all([0, 1, 2].map(() => h.startServer({
    args: ['--memory', '--redis', redis.url, '--recovery-window-ms', '60000'],
  })));
});

after(async () => {
  await Promise.all(nodes.map((node) => node.stop('SIGKILL')));
  stopRedis(redis);
});

async function login(t, node, user) {
  const socket = await h.connectAuthed(node.url, {
    transports: ['websocket'],
    auth: { token: h.mintToken({ sub: user }) },
  });
  t.after(() => socket.close());
  return socket;
}

/** Reconnects `socket` to `node` (its manager keeps the pid and the last offset). */
async function reconnectTo(socket, node) {
  socket.io.uri = node.url;
  const reconnected = h.once(socket, 'connect');
  socket.connect();
  await reconnected;
}

function moves(socket) {
  return socket.received.filter((e) => e.event === 'cart:moved');
}

/** Resolves once `socket` recorded `count` `cart:moved` events. */
function awaitMoves(socket, count) {
  if (moves(socket).length >= count) return Promise.resolve(moves(socket));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.offAny(listener);
      reject(new Error(`only ${moves(socket).length} of ${count} cart:moved arrived`));
    }, h.TIMEOUT_MS);
    function listener() {
      if (moves(socket).length < count) return;
      clearTimeout(timer);
      socket.offAny(listener);
      resolve(moves(socket));
    }
    socket.onAny(listener);
  });
}

/**
 * A sentinel through every node, awaited on `socket` (all earlier emits are in), and
 * the exact check: since it connected, `socket` received `expected`, in order, then the
 * sentinels, and nothing else.
 */
async function assertEventsThroughSentinels(socket, user, expected) {
  for (const [index, via] of nodes.entries()) {
    const [names] = await h.eventsThroughSentinel(via, [socket], 'to_user', { userId: user });
    assert.deepEqual(names, [...expected, ...Array(index + 1).fill('test:sentinel')],
      `events through the sentinel via node ${index}: ${JSON.stringify(names)}`);
  }
}

const times = (count, name) => Array(count).fill(name);

test('a tab parked on one node resumes on another with exactly its missed events', { timeout: TEST_TIMEOUT }, async (t) => {
  const [a, b, c] = nodes;
  const ada = h.uid('ada');
  const bob = h.uid('bob');
  const adaTab = await login(t, a, ada);
  const bobTab = await login(t, b, bob);
  await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n: -1, for: ada } });
  await awaitMoves(adaTab, 1);
  const authsBefore = adaTab.received.filter((e) => e.event === 'auth:ok').length;

  await h.dropTransport(adaTab);
  for (let n = 0; n < 30; n += 1) {
    await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n, for: ada } });
    await c.api('to_user', { userId: bob, event: 'cart:moved', data: { n, for: bob } });
  }
  await awaitMoves(bobTab, 30);
  await reconnectTo(adaTab, b);
  assert.equal(adaTab.recovered, true, 'socket.recovered');
  await awaitMoves(adaTab, 31);
  // One authentication (none on B), then its 31 moves, nothing else.
  await assertEventsThroughSentinels(adaTab, ada, ['auth:ok', 'page:snapshot', ...times(31, 'cart:moved')]);
  const missed = moves(adaTab).slice(1);
  assert.deepEqual(missed.map((e) => e.data.n), [...Array(30).keys()], 'in order, exactly once');
  assert.ok(missed.every((e) => e.data.for === ada), 'only its own events');
  assert.equal(authsBefore, 1);

  // The identity now lives on B: events for Ada through A reach the resumed tab.
  await a.api('to_user', { userId: ada, event: 'cart:moved', data: { n: 30, for: ada } });
  await awaitMoves(adaTab, 32);
  await assertEventsThroughSentinels(bobTab, bob, ['auth:ok', 'page:snapshot', ...times(30, 'cart:moved')]);
  assert.ok(moves(bobTab).every((e) => e.data.for === bob), 'Bob got only his own 30');
});

test('emits racing the handover through every node arrive exactly once each', { timeout: TEST_TIMEOUT }, async (t) => {
  const [a, b] = nodes;
  const ada = h.uid('ada');
  const adaTab = await login(t, a, ada);
  // Three streams, one through each node, run across the drop and the handover.
  let stopAt = Infinity;
  const sent = nodes.map(() => 0);
  const streams = nodes.map(async (via, index) => {
    while (sent[index] < stopAt) {
      await via.api('to_user', { userId: ada, event: 'cart:moved', data: { via: index, n: sent[index] } });
      sent[index] += 1;
    }
  });
  await awaitMoves(adaTab, 3);
  await h.dropTransport(adaTab);
  await reconnectTo(adaTab, b);
  assert.equal(adaTab.recovered, true, 'socket.recovered');
  stopAt = Math.max(...sent) + 20;
  await Promise.all(streams);
  const total = sent.reduce((sum, count) => sum + count, 0);
  await assertEventsThroughSentinels(adaTab, ada, ['auth:ok', 'page:snapshot', ...times(total, 'cart:moved')]);
  for (const [index, count] of sent.entries()) {
    const got = moves(adaTab).filter((e) => e.data.via === index).map((e) => e.data.n);
    assert.deepEqual(got, [...Array(count).keys()], `stream through node ${index}: each once, in order`);
  }
});

test('a tab whose old node still believes it live (network cut) is taken over from another node', { timeout: TEST_TIMEOUT }, async (t) => {
  const [a, b, c] = nodes;
  const ada = h.uid('ada');
  const oldTab = await login(t, a, ada);
  await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n: 0, for: ada } });
  await awaitMoves(oldTab, 1);
  // The offset the client saw before the cut; what A wrote after it never arrived.
  const seen = oldTab._lastOffset;
  for (let n = 1; n <= 5; n += 1) {
    await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n, for: ada } });
  }
  await awaitMoves(oldTab, 6);
  // The same client on a new network: its pid and last seen offset, to node B, while
  // node A still carries the old transport.
  const tab = h.connect(b.url, { transports: ['websocket'], autoConnect: false, auth: {} });
  t.after(() => tab.close());
  tab._pid = oldTab._pid;
  tab._lastOffset = seen;
  const oldGone = h.once(oldTab, 'disconnect');
  const connected = h.once(tab, 'connect');
  tab.connect();
  await connected;
  assert.equal(tab.recovered, true, 'socket.recovered');
  await oldGone;
  await awaitMoves(tab, 5);
  await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n: 6, for: ada } });
  // No auth:ok: the identity came from node A, not from the client.
  await assertEventsThroughSentinels(tab, ada, times(6, 'cart:moved'));
  assert.deepEqual(moves(tab).map((e) => e.data.n), [1, 2, 3, 4, 5, 6], 'the unseen tail, then live');
});

test('a pid no node holds gives a fresh session that works', { timeout: TEST_TIMEOUT }, async (t) => {
  const [a, b] = nodes;
  const ada = h.uid('ada');
  const adaTab = await login(t, a, ada);
  assert.ok(adaTab._pid, 'recovery is on');
  await h.dropTransport(adaTab);
  // No node parked this one: nobody answers and B gives up after its short patience.
  adaTab._pid = 'no-such-pid';
  const authed = h.once(adaTab, 'auth:ok');
  await reconnectTo(adaTab, b);
  assert.equal(adaTab.recovered, false, 'socket.recovered');
  assert.equal((await authed).userId, ada, 'it authenticated again from its auth object');
  await a.api('to_user', { userId: ada, event: 'cart:moved', data: { n: 0 } });
  await awaitMoves(adaTab, 1);
  await assertEventsThroughSentinels(adaTab, ada, ['auth:ok', 'page:snapshot', 'auth:ok', 'page:snapshot', 'cart:moved']);
});
