'use strict';
// JWT keys of the server example from a JWKS URL (`--jwt-jwks http://…`) served by a
// Node http server on 127.0.0.1, and a PEM key with a kid (`--jwt-public-key kid=file`),
// with the official socket.io-client: a token by kid is accepted; the identity provider
// rotates and the new kid is fetched when a token first names it; the endpoint goes down
// and the last good keys keep working while the failed fetch is counted in /metrics; the
// PEM key is chosen by its kid only. A legitimate client keeps receiving its events
// throughout (allow-list through a sentinel). Keys are generated here.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { after, before, test } = require('node:test');
const h = require('./helpers');

const TEST_TIMEOUT = 30000;
let server;
let legit;
let legitUser;
let sentinels = 0;

/** An ES256 key pair named `kid`, with the public JWK an identity provider publishes. */
function signer(kid) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
  return { kid, privateKey, jwk, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) };
}

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An ES256 token for `sub` signed by `key` and naming `kid`. */
function es256(key, kid, sub) {
  const claims = { sub, role: 'user', exp: Math.floor(Date.now() / 1000) + 600 };
  const signed = `${b64({ alg: 'ES256', typ: 'JWT', kid })}.${b64(claims)}`;
  const signature = crypto.sign('sha256', Buffer.from(signed), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${signed}.${signature.toString('base64url')}`;
}

const first = signer('idp-1');
const second = signer('idp-2');
const pemKey = signer('pem-1');

/** The identity provider's JWKS endpoint: serves `keys`, or HTTP 500 while `down`. */
const idp = { keys: [first.jwk], down: false, requests: 0 };
const endpoint = http.createServer((request, response) => {
  idp.requests += 1;
  if (idp.down) {
    response.writeHead(500).end('down');
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: idp.keys }));
});

async function metric(name, label) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const pattern = label ? `^${name}\\{${label}\\} (\\d+)$` : `^${name} (\\d+)$`;
  const match = new RegExp(pattern, 'm').exec(text);
  assert.ok(match, `no ${name}{${label}} in /metrics`);
  return Number(match[1]);
}

/** The refusal code of a handshake with `token`, or 'ok' once it is authenticated. */
function outcome(token) {
  const socket = h.connect(server.url, { transports: ['websocket'], auth: { token } });
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish('no answer'), 10000);
    function finish(answer) {
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    }
    socket.on('connect_error', (error) => finish(error.data && error.data.code));
    socket.on('auth:ok', () => finish('ok'));
  });
}

async function legitStillServed() {
  const earlier = Array.from({ length: sentinels }, () => 'test:sentinel');
  sentinels += 1;
  await h.assertEventsThroughSentinel(server, legit, legitUser, ['auth:ok', 'page:snapshot', ...earlier]);
}

before(async () => {
  await new Promise((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${endpoint.address().port}/.well-known/jwks.json`;
  const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mcrt-jwks-')), 'pem-1.pem');
  fs.writeFileSync(keyFile, pemKey.publicPem);
  server = await h.startServer({
    args: ['--jwt-jwks', url, '--jwt-jwks-min-refresh-secs', '0', '--jwt-jwks-timeout-ms', '2000',
      '--jwt-public-key', `pem-1=${keyFile}`],
  });
  assert.equal(idp.requests, 1, 'the JWKS is fetched once at start');
  legitUser = h.uid('jwks');
  legit = await h.connectAuthed(server.url, { auth: { token: es256(first, first.kid, legitUser) } });
});

after(async () => {
  if (legit) legit.close();
  if (server) await server.stop();
  endpoint.close();
});

test('a rotated key is fetched when a token first names its kid', { timeout: TEST_TIMEOUT }, async () => {
  assert.equal(await outcome(es256(second, second.kid, h.uid('u'))), 'unknown_kid');
  idp.keys = [first.jwk, second.jwk];
  assert.equal(await outcome(es256(second, second.kid, h.uid('u'))), 'ok');
  assert.equal(idp.requests, 3);
  assert.equal(await metric('mcrt_jwks_fetches_total', 'outcome="ok"'), 3);
  assert.equal(await metric('mcrt_jwks_keys', ''), 2);
  await legitStillServed();
});

test('the endpoint down keeps the last good keys and counts the failed fetch', { timeout: TEST_TIMEOUT }, async () => {
  const failed = await metric('mcrt_jwks_fetches_total', 'outcome="failed"');
  idp.down = true;
  try {
    assert.equal(await outcome(es256(signer('idp-3'), 'idp-3', h.uid('u'))), 'unknown_kid');
    assert.equal(await metric('mcrt_jwks_fetches_total', 'outcome="failed"'), failed + 1);
    assert.equal(await outcome(es256(first, first.kid, h.uid('u'))), 'ok');
  } finally {
    idp.down = false;
  }
  await legitStillServed();
});

test('a PEM key given with a kid is chosen by that kid only', { timeout: TEST_TIMEOUT }, async () => {
  assert.equal(await outcome(es256(pemKey, 'pem-1', h.uid('u'))), 'ok');
  // Signed by a JWKS key but naming the PEM key's kid: only the PEM key is tried.
  assert.equal(await outcome(es256(first, 'pem-1', h.uid('u'))), 'bad_signature');
  await legitStillServed();
});
