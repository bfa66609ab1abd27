'use strict';
// microcoaster-realtime for Node: `const RealTimeAPI = require('microcoaster-realtime')`
// works as the seed's `require('./api')` does.

const { RealTimeAPI } = require('./lib/realtime');
const { fn, RealTimeError, libraryPath } = require('./lib/native');

module.exports = RealTimeAPI;
module.exports.RealTimeAPI = RealTimeAPI;
module.exports.RealTimeError = RealTimeError;
module.exports.version = () => fn.version();
module.exports.libraryPath = libraryPath;
