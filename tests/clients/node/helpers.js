'use strict';
// Shared helpers for the real-client suite: start the real server example as a child
// process, drive it through the HTTP API, mint JWTs, await Socket.IO events with
// timeouts (a timeout is a failure; nothing here sleeps to synchronise), check the exact
// events a socket received up to a sentinel, and put a proxy refusing websocket in front.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { io } = require('socket.io-client');

const REPO = path.resolve(__dirname, '..', '..', '..');
const JWT_SECRET = 'client-tests-jwt-secret';
const API_KEY = 'client-tests-api-key';
/** Default time any awaited event may take. */
const TIMEOUT_MS = 5000;

function serverBinary() {
  if (process.env.MCRT_SERVER_BIN) return process.env.MCRT_SERVER_BIN;
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(REPO, process.env.CARGO_TARGET_DIR)
    : path.join(REPO, 'target');
  return path.join(target, 'ci', 'examples', 'server');
}

/**
 * Starts the server example. `port` 0 picks a free port; `dir` reuses a temp folder
 * (its database and secrets file) across a restart.
 * Resolves to {url, port, dir, child, api(call, body), stop(signal)}.
 */
function startServer({ port = 0, dir, args = [] } = {}) {
  const bin = serverBinary();
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary ${bin} is missing: cargo build --profile ci --example server`);
  }
  dir = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'mcrt-node-'));
  const child = spawn(
    bin,
    [
      '--addr', `127.0.0.1:${port}`,
      '--db', path.join(dir, 'test.db'),
      '--jwt-secret', JWT_SECRET,
      '--api-key', API_KEY,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  child.stdout.setEncoding('utf8');
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    let listening = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not print its address in 20 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 20000);
    child.once('exit', (code, signal) => {
      if (listening) return;
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /listening on (https?):\/\/(\S+)/.exec(stdout);
      if (!match || listening) return;
      listening = true;
      clearTimeout(timer);
      const addr = match[2];
      const url = `${match[1]}://${addr}`;
      const server = {
        url,
        addr,
        port: Number(addr.split(':').pop()),
        dir,
        child,
        exited,
        output: () => ({ stdout, stderr }),
        api: (call, body) => api(url, call, body),
        /** Stops the child (SIGTERM by default) and waits for it to exit. */
        async stop(signal = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      };
      resolve(server);
    });
  });
}

/** `POST /api/v1/emit/<call>`; resolves to the JSON answer, rejects on a non-200. */
async function api(url, call, body, { key = API_KEY, expectStatus = 200 } = {}) {
  const response = await fetch(`${url}/api/v1/emit/${call}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== expectStatus) {
    throw new Error(`API ${call} answered ${response.status}: ${text}`);
  }
  return JSON.parse(text);
}

function base64url(value) {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** An HS256 JWT with claims `sub`, `role`, `sid`, `exp` signed with the suite's secret. */
function mintToken({ sub, role = 'user', sid, exp, secret = JWT_SECRET }) {
  const header = base64url({ alg: 'HS256', typ: 'JWT' });
  const claims = { sub: String(sub), role, exp: exp ?? Math.floor(Date.now() / 1000) + 3600 };
  if (sid !== undefined) claims.sid = sid;
  const body = base64url(claims);
  const signature = crypto.createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
  return `${header}.${body}.${signature}`;
}

let unique = 0;
/** A fresh id so tests sharing one server never see each other's users or modules. */
function uid(prefix) {
  unique += 1;
  return `${prefix}-${process.pid}-${unique}`;
}

/**
 * Opens a socket that records every event it receives (in order) from the start, so a
 * "did not receive" check can look at everything that arrived before a sentinel.
 */
function connect(url, options = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, timeout: TIMEOUT_MS, ...options });
  socket.received = [];
  socket.onAny((event, ...args) => socket.received.push({ event, data: args[0] }));
  return socket;
}

/**
 * Resolves with the first argument of the next `event` on `emitter` (a socket, a
 * manager or an engine) that satisfies `predicate`; rejects after `timeoutMs`.
 */
function once(emitter, event, timeoutMs = TIMEOUT_MS, predicate = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    function listener(...args) {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args[0]);
    }
    emitter.on(event, listener);
  });
}

/**
 * Resolves with the recorded entry of `event` on a socket made by `connect`, whether it
 * already arrived or arrives within `timeoutMs` (for events that may come before the
 * test starts listening, such as `auth:ok` right after `connect`).
 */
function received(socket, event, timeoutMs = TIMEOUT_MS, predicate = () => true) {
  const found = socket.received.find((entry) => entry.event === event && predicate(entry.data));
  if (found) return Promise.resolve(found.data);
  return once(socket, event, timeoutMs, predicate);
}

/** Resolves on `connect`, rejects on `connect_error` or after `timeoutMs`. */
function connected(socket, timeoutMs = TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for 'connect'`));
    }, timeoutMs);
    function onConnect() {
      done();
      resolve();
    }
    function onError(error) {
      done();
      reject(new Error(`connect_error: ${error.message} ${JSON.stringify(error.data)}`));
    }
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Connects and waits until the server accepted the namespace and sent `auth:ok`. */
async function connectAuthed(url, options = {}) {
  const socket = connect(url, options);
  try {
    await connected(socket);
    await received(socket, 'auth:ok');
  } catch (error) {
    socket.close();
    throw error;
  }
  return socket;
}

/**
 * The positive sentinel every "receives nothing" check is paired with: sends
 * `test:sentinel` with a fresh nonce through the API (`call` with `target`, e.g.
 * `'to_user', {userId}` or `'to_admins', {}`), waits until it arrived on every socket
 * of `sockets` (made by `connect`), and returns, per socket, the names of every event
 * it received since it connected, up to and including that sentinel. Events of one
 * connection are delivered in the order the hub queued them, and an API call returns
 * once its events are queued, so anything emitted to a socket before the sentinel
 * arrived before it.
 */
async function eventsThroughSentinel(server, sockets, call, target) {
  const nonce = crypto.randomUUID();
  const isSentinel = (entry) => entry.event === 'test:sentinel' && entry.data && entry.data.nonce === nonce;
  const waiting = sockets.map((socket) =>
    received(socket, 'test:sentinel', TIMEOUT_MS, (data) => isSentinel({ event: 'test:sentinel', data })));
  await server.api(call, { ...target, event: 'test:sentinel', data: { nonce } });
  await Promise.all(waiting);
  return sockets.map((socket) =>
    socket.received.slice(0, socket.received.findIndex(isSentinel) + 1).map((entry) => entry.event));
}

/**
 * The "receives nothing else" check: sends one sentinel to `userId` and asserts that
 * each of `sockets` (one socket or an array) received exactly `expected`, in order,
 * since it connected, and then the sentinel. An allow-list, not a deny-list: any
 * event not named, whatever its name, fails the check.
 */
async function assertEventsThroughSentinel(server, sockets, userId, expected) {
  return assertExact(server, sockets, 'to_user', { userId }, expected);
}

/** The same check with the sentinel sent by `to_admins`, for admin sockets. */
async function assertAdminEventsThroughSentinel(server, sockets, expected) {
  return assertExact(server, sockets, 'to_admins', {}, expected);
}

async function assertExact(server, sockets, call, target, expected) {
  const list = Array.isArray(sockets) ? sockets : [sockets];
  const arrived = await eventsThroughSentinel(server, list, call, target);
  for (const names of arrived) {
    assert.deepEqual(names, [...expected, 'test:sentinel'], `events through the sentinel: ${JSON.stringify(names)}`);
  }
}

/**
 * A reverse proxy on 127.0.0.1 in front of `server` that forwards plain HTTP requests
 * (so long-polling works through it) and refuses every websocket upgrade with a 403,
 * as a proxy without websocket support does. Resolves to {url, refusedUpgrades (a
 * count), close()}.
 */
function startNoWebsocketProxy(server) {
  const target = new URL(server.url);
  const proxy = { refusedUpgrades: 0 };
  const listener = http.createServer((request, response) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    // A client that goes away mid long-poll ends the upstream request too.
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    request.pipe(upstream);
  });
  listener.on('upgrade', (request, socket) => {
    proxy.refusedUpgrades += 1;
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => {
      proxy.url = `http://127.0.0.1:${listener.address().port}`;
      proxy.close = () => new Promise((done) => {
        listener.closeAllConnections();
        listener.close(done);
      });
      resolve(proxy);
    });
  });
}

/** Closes sockets, ignoring ones already closed. */
function closeAll(...sockets) {
  for (const socket of sockets) {
    if (socket) socket.close();
  }
}

/**
 * Drops the client's transport the way a network loss does, and resolves once its
 * websocket finished closing (the server parks the session before it answers the close).
 */
async function dropTransport(socket) {
  const ws = socket.io.engine.transport.ws;
  assert.ok(ws, 'a websocket transport');
  const closed = once(ws, 'close');
  const disconnected = once(socket, 'disconnect');
  socket.io.engine.close();
  await disconnected;
  await closed;
  assert.equal(socket.connected, false);
}

module.exports = {
  API_KEY,
  JWT_SECRET,
  TIMEOUT_MS,
  api,
  assertAdminEventsThroughSentinel,
  assertEventsThroughSentinel,
  closeAll,
  connect,
  connectAuthed,
  connected,
  dropTransport,
  eventsThroughSentinel,
  mintToken,
  once,
  received,
  startNoWebsocketProxy,
  startServer,
  uid,
};
