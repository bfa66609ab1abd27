'use strict';
// The server example's generated secrets file (examples/server/secrets.rs): created with
// mode 0600, and refused at start when others may read it.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const { startServer } = require('./helpers');

test('the secrets file is created 0600 and refused once others may read it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcrt-secrets-'));
  const file = path.join(dir, 'test.db.secrets.json');
  const first = await startServer({ dir });
  await first.stop();
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const secrets = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.match(secrets.apiKey, /^[0-9a-f]{64}$/);
  assert.deepEqual(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp')), []);

  fs.chmodSync(file, 0o644);
  const refused = await startServer({ dir }).then(
    async (started) => { await started.stop(); return null; },
    (error) => error,
  );
  assert.ok(refused, 'the server started with a secrets file others may read');
  assert.match(refused.message, /readable by others \(mode 644\)/);
  assert.equal(fs.statSync(file).mode & 0o777, 0o644, 'not silently fixed');

  fs.chmodSync(file, 0o600);
  const again = await startServer({ dir });
  await again.stop();
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), secrets, 'the same secrets');
});
