// microcoaster-realtime for Node as an ES module: `import RealTimeAPI from
// 'microcoaster-realtime'` (or the named exports below). The same objects as the
// CommonJS entry (index.js), so `instanceof` works across both.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const RealTimeAPI = require('./index.js');

export default RealTimeAPI;
export const {
  RealTimeError, UnknownModuleError, OwnerMismatchError, ReservedEventError,
  StatsProviderError, ReentrantEmitError, ClosedError, normalizeConfig, version, libraryPath,
} = RealTimeAPI;
export { RealTimeAPI };
