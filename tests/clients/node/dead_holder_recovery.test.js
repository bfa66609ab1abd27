'use strict';
// Connection-state recovery when the holder died: three server processes with recovery
// on and one real redis-server, the event history on (the default with --redis). A
// socket.io-client tab whose node was SIGKILLed reconnects to another node within the
// window and gets `recovered === true` and exactly the events it missed (its own and
// everyone's broadcasts, never another user's), in order, once; after the window it
// gets a fresh session.

const assert = require('node:assert/strict');
const net = require('node:net');
const { after, before, test } = require('node:test');
const h = require('./helpers');
const { startRedis, stopRedis } = require('./redis');

const TEST_TIMEOUT = 60000;
let redis;

before(async () => {
  redis = await startRedis();
});

after(() => stopRedis(redis));

async function startNodes(t, windowMs) {
  const nodes = await Promise.all([0, 1, 2].map(() => h.startServer({
    args: ['--memory', '--redis', redis.url, '--recovery-window-ms', String(windowMs)],
  })));
  t.after(() => Promise.all(nodes.map((node) => node.stop('SIGKILL'))));
  return nodes;
}

/** The number of live nodes' heartbeat keys in Redis (one RESP `KEYS` round trip). */
function liveNodes() {
  return new Promise((resolve, reject) => {
    const socket = net.connect(redis.port, '127.0.0.1');
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      reply += chunk;
      const header = /^\*(\d+)\r\n/.exec(reply);
      if (!header) return;
      const count = Number(header[1]);
      if ((reply.match(/\r\n/g) || []).length < 1 + 2 * count) return;
      socket.end();
      resolve(count);
    });
    socket.write('*2\r\n$4\r\nKEYS\r\n$13\r\n{mcrt:}node:*\r\n');
  });
}

/** Resolves once Redis lists `count` live nodes (a SIGKILLed node's heartbeat expired). */
async function awaitLiveNodes(count) {
  const deadline = Date.now() + 10000;
  while ((await liveNodes()) !== count) {
    if (Date.now() > deadline) throw new Error(`Redis still lists another number of nodes than ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function login(t, node, user) {
  const socket = await h.connectAuthed(node.url, {
    transports: ['websocket'],
    auth: { token: h.mintToken({ sub: user }) },
  });
  t.after(() => socket.close());
  return socket;
}

async function reconnectTo(socket, node) {
  socket.io.uri = node.url;
  const reconnected = h.once(socket, 'connect');
  socket.connect();
  await reconnected;
}

const named = (socket, name) => socket.received.filter((e) => e.event === name);

async function awaitCount(socket, name, count) {
  const deadline = Date.now() + h.TIMEOUT_MS;
  while (named(socket, name).length < count) {
    if (Date.now() > deadline) throw new Error(`only ${named(socket, name).length} of ${count} ${name}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a tab whose node was SIGKILLed resumes on another node with exactly the 100 events it missed', { timeout: TEST_TIMEOUT }, async (t) => {
  const [a, b, c] = await startNodes(t, 60000);
  const ada = h.uid('ada');
  const bob = h.uid('bob');
  const adaTab = await login(t, a, ada);
  const bobTab = await login(t, b, bob);
  await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n: -1, for: ada } });
  await awaitCount(adaTab, 'cart:moved', 1);

  await h.dropTransport(adaTab);
  // 100 events Ada misses (96 her own, 4 for everyone), interleaved with Bob's.
  const expected = [];
  for (let n = 0; n < 96; n += 1) {
    await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n, for: ada } });
    await b.api('to_user', { userId: bob, event: 'cart:moved', data: { n, for: bob } });
    expected.push(`cart:moved ${n}`);
    if (n % 24 === 23) {
      await c.api('to_everyone', { event: 'park:news', data: { n } });
      expected.push(`park:news ${n}`);
    }
  }
  await awaitCount(bobTab, 'cart:moved', 96);
  await a.stop('SIGKILL');
  await awaitLiveNodes(2);
  await reconnectTo(adaTab, b);
  assert.equal(adaTab.recovered, true, 'socket.recovered');

  // Allow-list through a sentinel via each live node: the first move, the 100 missed,
  // nothing else (no second auth:ok: the identity came from Redis).
  for (const [index, via] of [b, c].entries()) {
    const [names] = await h.eventsThroughSentinel(via, [adaTab], 'to_user', { userId: ada });
    assert.deepEqual(names, ['auth:ok', 'page:snapshot', 'cart:moved', ...expected.map((e) => e.split(' ')[0]),
      ...Array(index + 1).fill('test:sentinel')], `events through the sentinel via node ${index + 1}`);
  }
  const missed = adaTab.received.filter((e) => e.event === 'cart:moved' || e.event === 'park:news')
    .slice(1).map((e) => `${e.event} ${e.data.n}`);
  assert.deepEqual(missed, expected, 'in order, exactly once');
  assert.ok(named(adaTab, 'cart:moved').every((e) => e.data.for === ada), 'never Bob\'s events');

  // The resumed tab is live on B: an event for Ada through C reaches it.
  await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n: 96, for: ada } });
  await awaitCount(adaTab, 'cart:moved', 98);
});

test('a tab whose node died longer ago than the window gets a fresh session', { timeout: TEST_TIMEOUT }, async (t) => {
  const windowMs = 1500;
  const [a, b, c] = await startNodes(t, windowMs);
  const ada = h.uid('ada');
  const adaTab = await login(t, a, ada);
  await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n: 0 } });
  await awaitCount(adaTab, 'cart:moved', 1);
  await h.dropTransport(adaTab);
  await c.api('to_user', { userId: ada, event: 'cart:moved', data: { n: 1 } });
  await a.stop('SIGKILL');
  await awaitLiveNodes(2);
  // The window runs from the dead node's last heartbeat: let it pass.
  await new Promise((resolve) => setTimeout(resolve, windowMs + 500));
  const authed = h.once(adaTab, 'auth:ok');
  await reconnectTo(adaTab, b);
  assert.equal(adaTab.recovered, false, 'socket.recovered');
  assert.equal((await authed).userId, ada, 'it authenticated again from its auth object');
  const [names] = await h.eventsThroughSentinel(c, [adaTab], 'to_user', { userId: ada });
  assert.deepEqual(names, ['auth:ok', 'page:snapshot', 'cart:moved', 'auth:ok', 'page:snapshot', 'test:sentinel']);
});
