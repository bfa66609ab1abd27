// The seed's app.js as TypeScript (CommonJS): every call checked against index.d.ts by
// `tsc --strict` (scripts/node-test). Not run; the same calls run in test/seed-app.js.
import http = require('node:http');
import { Server } from 'socket.io';
import RealTimeAPI = require('microcoaster-realtime');

const server = http.createServer();
const io = new Server(server);
const options: RealTimeAPI.Options = {
  jwtSecret: 'change me',
  deviceOfflineGraceMs: 5000,
  getStats: async () => ({ users: 1 }),
  authenticate: (request) => (request.token === 'demo' ? { userId: 123, role: 'user' } : null),
  beforeEmit: (name, audience) => (name === 'admin:action' && audience.kind === 'admins' ? false : undefined),
};
const api = new RealTimeAPI(io, null, options).initialize();
const outcome: RealTimeAPI.EmitOutcome = api.emitModuleOnline('MC-1234-STN', { userId: 123 });
if (outcome.outcome === 'delivered') {
  const sent: number = outcome.connections;
  console.log(sent);
}
try {
  api.emitTelemetryUpdate('MC-unknown', { speed: 1 });
} catch (error) {
  if (error instanceof RealTimeAPI.UnknownModuleError) {
    const code: string = error.code;
    console.log(code, error.status);
  } else if (error instanceof RealTimeAPI.RealTimeError) {
    console.log(error.code);
  }
}
const normalized: RealTimeAPI.NormalizedConfig = RealTimeAPI.normalizeConfig({ pages: ['modules'] });
console.log(normalized.hub.pages, RealTimeAPI.version(), RealTimeAPI.libraryPath);
void api.emitStatsUpdate().then((done) => done.connections);
void api.close();
