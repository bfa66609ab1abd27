'use strict';
// microcoaster-realtime for Node: `const RealTimeAPI = require('microcoaster-realtime')`
// works as the seed's `require('./api')` does.

const { RealTimeAPI } = require('./lib/realtime');
const { fn, libraryPath } = require('./lib/native');
const errors = require('./lib/errors');

module.exports = RealTimeAPI;
module.exports.RealTimeAPI = RealTimeAPI;
module.exports.RealTimeError = errors.RealTimeError;
module.exports.UnknownModuleError = errors.UnknownModuleError;
module.exports.OwnerMismatchError = errors.OwnerMismatchError;
module.exports.ReservedEventError = errors.ReservedEventError;
module.exports.StatsProviderError = errors.StatsProviderError;
module.exports.ReentrantEmitError = errors.ReentrantEmitError;
module.exports.ClosedError = errors.ClosedError;
module.exports.version = () => fn.version();
module.exports.libraryPath = libraryPath;
