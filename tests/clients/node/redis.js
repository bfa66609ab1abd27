'use strict';
// A real redis-server for the multi-node suites: started on a free local port in a temp
// folder, without persistence. Needs `redis-server` (scripts/clients-test installs it);
// MCRT_REDIS_SERVER may name the binary. A missing binary fails the suite.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

function redisBinary() {
  const bin = process.env.MCRT_REDIS_SERVER || 'redis-server';
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
  } catch (error) {
    throw new Error(`redis-server is required for the cluster suite (${bin}: ${error.message}); scripts/clients-test installs it`);
  }
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const bin = redisBinary();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcrt-redis-'));
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited (${code}):\n${output}`)); });
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
    });
  });
  return { child, port, url: `redis://127.0.0.1:${port}`, dir };
}

/** Kills a redis-server started by `startRedis` and removes its folder. */
function stopRedis(redis) {
  if (!redis) return;
  redis.child.kill('SIGCONT');
  redis.child.kill('SIGKILL');
  fs.rmSync(redis.dir, { recursive: true, force: true });
}

module.exports = { freePort, startRedis, stopRedis };
