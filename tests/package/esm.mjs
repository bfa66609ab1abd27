// The installed npm package as an ES module: the default export is the CommonJS
// RealTimeAPI itself, and the named exports are its members (scripts/package-test).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import RealTimeAPI, { RealTimeError, normalizeConfig, version } from 'microcoaster-realtime';

const require = createRequire(import.meta.url);
assert.equal(RealTimeAPI, require('microcoaster-realtime'));
assert.equal(RealTimeError, RealTimeAPI.RealTimeError);
assert.equal(version(), process.argv[2]);
assert.equal(typeof normalizeConfig({}), 'object');
console.log('npm package: the ES module entry exports the CommonJS objects');
