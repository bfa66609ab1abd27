// The package from an ES module: the default export and the named exports of index.mjs,
// checked against index.d.ts by `tsc --strict` (scripts/node-test).
import RealTimeAPI, { RealTimeError, ReservedEventError, normalizeConfig, version } from 'microcoaster-realtime';

const api = new RealTimeAPI(null, null, { mode: 'standalone', port: 0 });
try {
  api.emitToUser(123, 'admin:fake', {});
} catch (error) {
  if (error instanceof ReservedEventError) console.log(error.code);
  if (error instanceof RealTimeError) console.log(error.status);
}
const pages: string[] = normalizeConfig().hub.pages;
console.log(pages, version());
await api.close();
