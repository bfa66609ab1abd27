'use strict';
// The official client over TLS against the real server example started with
// `--tls-cert` / `--tls-key`, with a CA and a server certificate for 127.0.0.1 generated
// here (node-forge, keys from node:crypto): a websocket client and a polling client
// (upgraded to websocket) verify the chain through the client's `ca` option and receive
// their events; a client that does not trust the CA and a plain-text request on the TLS
// port are refused, counted as bad_inputs{kind="tls_handshake"} in /metrics (read over
// https), and the TLS clients keep receiving exactly their events (sentinel).

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { after, before, test } = require('node:test');
const forge = require('node-forge');
const h = require('./helpers');

let server;
let ca;

/** A forge certificate for `publicPem`, signed with `signerKeyPem`, issued by `issuer`. */
function certificate({ publicPem, signerKeyPem, subject, issuer, serial, extensions }) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: subject }]);
  cert.setIssuer([{ name: 'commonName', value: issuer }]);
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(signerKeyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** A CA and a server certificate for 127.0.0.1 signed by it, written into `dir`. */
function issue(dir) {
  const pem = { type: 'pkcs8', format: 'pem' };
  const spki = { type: 'spki', format: 'pem' };
  const rsa = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: spki, privateKeyEncoding: pem });
  const caKeys = rsa();
  const serverKeys = rsa();
  const caPem = certificate({
    publicPem: caKeys.publicKey, signerKeyPem: caKeys.privateKey, subject: 'mcrt node test CA',
    issuer: 'mcrt node test CA', serial: '01',
    extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }],
  });
  const serverPem = certificate({
    publicPem: serverKeys.publicKey, signerKeyPem: caKeys.privateKey, subject: '127.0.0.1',
    issuer: 'mcrt node test CA', serial: '02',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  fs.writeFileSync(cert, serverPem + caPem);
  fs.writeFileSync(key, serverKeys.privateKey);
  return { caPem, cert, key };
}

/** One https request trusting only the test CA: resolves to {status, text}. */
function httpsRequest(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method, headers, ca }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function tlsRefusals() {
  const { text } = await httpsRequest(`${server.url}/metrics`);
  const match = /mcrt_bad_inputs_total\{kind="tls_handshake"\} (\d+)/.exec(text);
  assert.ok(match, 'no tls_handshake count in /metrics');
  return Number(match[1]);
}

before(async () => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'mcrt-tls-'));
  const issued = issue(dir);
  ca = issued.caPem;
  server = await h.startServer({ dir, args: ['--tls-cert', issued.cert, '--tls-key', issued.key] });
  assert.match(server.url, /^https:\/\//);
  server.api = async (call, body) => {
    const { status, text } = await httpsRequest(`${server.url}/api/v1/emit/${call}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(status, 200, `API ${call}: ${text}`);
    return JSON.parse(text);
  };
});

after(async () => {
  if (server) await server.stop();
});

test('the official client connects over wss:// and https:// polling, verifying the chain', { timeout: 30000 }, async () => {
  const user = h.uid('tls');
  const auth = { token: h.mintToken({ sub: user }), page: 'modules' };
  const ws = await h.connectAuthed(server.url, { ca, auth, transports: ['websocket'] });
  const polling = await h.connectAuthed(server.url, { ca, auth });
  if (polling.io.engine.transport.name !== 'websocket') await h.once(polling.io.engine, 'upgrade');
  assert.equal(polling.io.engine.transport.name, 'websocket');

  const untrusted = h.connect(server.url, { auth, transports: ['websocket'] });
  const refused = await h.once(untrusted, 'connect_error');
  untrusted.close();
  assert.match(String(refused.description?.message ?? refused.message), /certificate|verify/i, 'a client without the CA refuses the chain');

  const before = await tlsRefusals();
  await assert.rejects(fetch(`http://${server.addr}/socket.io/?EIO=4&transport=polling`));
  assert.equal(await tlsRefusals(), before + 1, 'plain text on the TLS port is counted');

  await h.assertEventsThroughSentinel(server, [ws, polling], user, ['auth:ok', 'page:snapshot']);
  ws.close();
  polling.close();
});
