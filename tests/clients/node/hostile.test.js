'use strict';
// Hostile clients against the real server example, each attack paired with a legitimate
// official client on the same server that must keep receiving its events (allow-list
// through a sentinel): forged browser origins on polling, websocket and the upgrade of a
// polling session; a flood of handshakes from one address; a slow-loris; an oversized
// header block; two concurrent long polls of one session; forged JWTs against an RS256
// key with issuer and audience (alg confusion with the RSA public key, alg `none`,
// unknown kid, expired, not yet valid, wrong aud / iss); 200 connections of one user over
// the per-user limit (on a server of its own, so the handshake rate of the shared one does
// not refuse them first). Each is refused with its documented code and counted in
// /metrics, and the server's resident memory after the suite is within 10% of before.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const net = require('node:net');
const { after, before, test } = require('node:test');
const h = require('./helpers');

const TEST_TIMEOUT = 30000;
const ISSUER = 'https://id.example';
const AUDIENCE = 'coaster';
const EVIL = 'https://evil.example';
const RATE = 50;
let server;
let legit;
let legitUser;
let rssBefore;

/** An RSA key pair generated for this run; the server verifies RS256 with its public PEM. */
const RSA = (() => {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) };
})();
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An RS256 token signed with RSA's private key (with a `kid` header when given). */
function rs256(claims, kid) {
  const header = kid ? { alg: 'RS256', typ: 'JWT', kid } : { alg: 'RS256', typ: 'JWT' };
  const signed = `${b64(header)}.${b64(claims)}`;
  return `${signed}.${crypto.sign('sha256', Buffer.from(signed), RSA.privateKey).toString('base64url')}`;
}

async function tokenRefusals(code) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = new RegExp(`mcrt_token_refusals_total\\{code="${code}"\\} (\\d+)`).exec(text);
  assert.ok(match, `no token_refusals ${code} in /metrics`);
  return Number(match[1]);
}

function rssKb() {
  const status = fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

async function badInputs(kind, on = server) {
  const text = await (await fetch(`${on.url}/metrics`)).text();
  const match = new RegExp(`mcrt_bad_inputs_total\\{kind="${kind}"\\} (\\d+)`).exec(text);
  assert.ok(match, `no bad_inputs ${kind} in /metrics`);
  return Number(match[1]);
}

/** One raw HTTP/1.1 exchange: writes `head` and resolves with everything read until close. */
function raw(head, { byteEveryMs } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    let reply = '';
    let timer;
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => { reply += chunk; });
    socket.on('error', () => {});
    socket.on('close', () => { clearInterval(timer); resolve(reply); });
    socket.on('connect', () => {
      if (!byteEveryMs) { socket.write(head); return; }
      let at = 0;
      timer = setInterval(() => {
        if (at < head.length && !socket.destroyed) socket.write(head[at++]);
      }, byteEveryMs);
    });
    setTimeout(() => { socket.destroy(); reject(new Error(`no close within 10 s: ${reply}`)); }, 10000);
  });
}

const status = (reply) => Number((/^HTTP\/1\.1 (\d+)/.exec(reply) || [])[1] || 0);

/** A websocket handshake with `origin`: resolves with the HTTP status (101 when accepted). */
function upgrade(path, origin) {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1', port: server.port, path,
      headers: {
        connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', origin,
      },
    });
    request.on('upgrade', (response, socket) => { socket.destroy(); resolve(101); });
    request.on('response', (response) => { response.resume(); resolve(response.statusCode); });
    request.on('error', reject);
    request.end();
  });
}

before(async () => {
  const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mcrt-jwt-')), 'rsa.pem');
  fs.writeFileSync(keyFile, RSA.publicPem);
  server = await h.startServer({
    args: ['--handshakes-per-second', String(RATE), '--header-timeout-ms', '1000',
      '--max-header-bytes', '16384', '--jwt-public-key', keyFile, '--jwt-issuer', ISSUER,
      '--jwt-audience', AUDIENCE],
  });
  legitUser = h.uid('legit');
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const token = rs256({ sub: legitUser, role: 'user', exp, iss: ISSUER, aud: AUDIENCE });
  legit = await h.connectAuthed(server.url, { auth: { token } });
  rssBefore = rssKb();
});

after(async () => {
  if (legit) legit.close();
  if (server) await server.stop();
});

let sentinels = 0;

/** The legitimate client received exactly its login events and every earlier sentinel. */
async function legitStillServed() {
  const earlier = Array.from({ length: sentinels }, () => 'test:sentinel');
  sentinels += 1;
  await h.assertEventsThroughSentinel(server, legit, legitUser, ['auth:ok', 'page:snapshot', ...earlier]);
}

test('a forged Origin is refused on polling, websocket, the upgrade and /ws', { timeout: TEST_TIMEOUT }, async () => {
  const counted = await badInputs('origin');
  for (const transports of [['polling'], ['websocket']]) {
    const socket = h.connect(server.url, { transports, extraHeaders: { origin: EVIL } });
    const error = await h.once(socket, 'connect_error');
    socket.close();
    assert.match(`${error.message} ${error.description && error.description.message}`, /xhr poll error|websocket error|403|Forbidden/);
  }
  const open = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  const sid = JSON.parse((await open.text()).slice(1)).sid;
  assert.equal(await upgrade(`/socket.io/?EIO=4&transport=websocket&sid=${sid}`, EVIL), 403);
  assert.equal(await upgrade('/ws', EVIL), 403);
  const refused = await raw(`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nOrigin: ${EVIL}\r\nConnection: close\r\n\r\n`);
  assert.equal(status(refused), 403);
  assert.match(refused, /\{"code":4,"message":"Forbidden"\}/);
  assert.equal(await badInputs('origin'), counted + 5);
  await legitStillServed();
});

test('forged tokens are refused by code and counted: alg confusion, none, kid, exp, nbf, aud, iss', { timeout: TEST_TIMEOUT }, async () => {
  const now = Math.floor(Date.now() / 1000);
  const good = { sub: legitUser, role: 'admin', exp: now + 600, iss: ISSUER, aud: AUDIENCE };
  const hs256 = (claims, secret) => {
    const signed = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
    return `${signed}.${crypto.createHmac('sha256', secret).update(signed).digest('base64url')}`;
  };
  const cases = [
    // The RSA public key (which is public) used as an HMAC secret.
    [hs256(good, RSA.publicPem), 'bad_signature'],
    [`${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`, 'invalid_token'],
    [rs256(good, 'no-such-kid'), 'unknown_kid'],
    [rs256({ ...good, exp: now - 3600 }), 'expired_token'],
    [rs256({ ...good, nbf: now + 3600 }), 'token_not_yet_valid'],
    [rs256({ ...good, aud: 'elsewhere' }), 'wrong_audience'],
    [rs256({ ...good, iss: 'https://evil.example' }), 'wrong_issuer'],
  ];
  const before = {};
  for (const [, code] of cases) before[code] = await tokenRefusals(code);
  for (const [token, code] of cases) {
    const socket = h.connect(server.url, { transports: ['websocket'], auth: { token } });
    const error = await h.once(socket, 'connect_error');
    socket.close();
    assert.equal(error.data && error.data.code, code, token);
  }
  for (const [, code] of cases) {
    const times = cases.filter(([, c]) => c === code).length;
    assert.equal(await tokenRefusals(code), before[code] + times, code);
  }
  await legitStillServed();
});

test('a slow-loris is cut off and an oversized header block closes its connection', { timeout: TEST_TIMEOUT }, async () => {
  const [timeouts, tooLarge] = [await badInputs('header_timeout'), await badInputs('header_too_large')];
  const started = Date.now();
  const slow = await raw(`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n`, { byteEveryMs: 250 });
  assert.equal(slow, '', 'no answer to a head never finished');
  const took = Date.now() - started;
  assert.ok(took >= 900 && took < 5000, `cut after ${took} ms`);
  const big = await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(32 * 1024)}\r\n\r\n`);
  assert.equal(status(big), 0, big.slice(0, 80));
  assert.equal(await badInputs('header_timeout'), timeouts + 1);
  assert.equal(await badInputs('header_too_large'), tooLarge + 1);
  await legitStillServed();
});

test('a second concurrent long poll ends its session', { timeout: TEST_TIMEOUT }, async () => {
  const protocol = await badInputs('protocol');
  const open = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  const sid = JSON.parse((await open.text()).slice(1)).sid;
  const poll = () => raw(`GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const replies = await Promise.all([poll(), poll()]);
  const refused = replies.filter((reply) => status(reply) === 400);
  assert.equal(refused.length, 1, replies.join('\n---\n'));
  assert.match(refused[0], /"code":3/);
  assert.equal(await badInputs('protocol'), protocol + 1);
  await legitStillServed();
});

test('1,000 handshakes in a second from one address: past the rate they get 429', { timeout: TEST_TIMEOUT }, async () => {
  const counted = await badInputs('handshake_rate');
  const agent = new http.Agent({ keepAlive: false, maxSockets: 100 });
  const handshake = () => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path: '/socket.io/?EIO=4&transport=polling', agent }, (response) => {
      response.resume();
      resolve(response.statusCode);
    }).on('error', reject);
  });
  const started = Date.now();
  const statuses = await Promise.all(Array.from({ length: 1000 }, handshake));
  const took = Date.now() - started;
  agent.destroy();
  const accepted = statuses.filter((s) => s === 200).length;
  const limited = statuses.filter((s) => s === 429).length;
  assert.equal(accepted + limited, 1000);
  assert.ok(accepted <= RATE + (RATE * took) / 1000 + 1, `${accepted} accepted in ${took} ms`);
  assert.equal(await badInputs('handshake_rate'), counted + limited);
  await legitStillServed();
});

test('200 connections of one user over the per-user limit are refused with too_many_connections', { timeout: TEST_TIMEOUT }, async () => {
  const LIMIT = 20;
  const own = await h.startServer({ args: ['--max-connections-per-user', String(LIMIT)] });
  const sockets = [];
  try {
    const bystander = h.uid('bystander');
    const other = await h.connectAuthed(own.url, { auth: { token: h.mintToken({ sub: bystander }) } });
    sockets.push(other);
    const user = h.uid('many');
    const token = h.mintToken({ sub: user });
    for (let i = 0; i < LIMIT; i += 1) {
      sockets.push(await h.connectAuthed(own.url, { transports: ['websocket'], auth: { token } }));
    }
    const allowed = sockets.slice(1);
    const over = Array.from({ length: 200 }, () => h.connect(own.url, { transports: ['websocket'], auth: { token } }));
    sockets.push(...over);
    const errors = await Promise.all(over.map((socket) => h.once(socket, 'connect_error')));
    for (const error of errors) {
      assert.equal(error.data && error.data.code, 'too_many_connections', JSON.stringify(error.data));
    }
    assert.equal(await badInputs('connections_per_user', own), 200);
    // The user's accepted connections and another user's keep being served, nothing else.
    await h.assertEventsThroughSentinel(own, allowed, user, ['auth:ok', 'page:snapshot']);
    await h.assertEventsThroughSentinel(own, other, bystander, ['auth:ok', 'page:snapshot']);
  } finally {
    h.closeAll(...sockets);
    await own.stop();
  }
  await legitStillServed();
});

test('the server kept its memory', { timeout: TEST_TIMEOUT }, async () => {
  const rssAfter = rssKb();
  assert.ok(rssAfter <= rssBefore * 1.1, `RSS ${rssBefore} kB before, ${rssAfter} kB after`);
});
