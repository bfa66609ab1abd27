'use strict';
// The seed's app.js integration, written as the seed's README shows it: an Express app
// and http server, socket.io 4.8, `new RealTimeAPI(io, databaseManager)`,
// `initialize()`, `app.locals.realTimeAPI`, login/logout routes calling
// emitUserLoggedIn/LoggedOut, and the ESP handlers calling emitModuleOnline/Offline.
// Sessions stand in for express-session: the browser sends its session id in the
// `x-session-id` header, which becomes `req.sessionID`.

const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const { Server } = require('socket.io');
const RealTimeAPI = require('../');

function createDatabaseManager() {
  const users = new Map([
    ['ada', { id: 123, username: 'ada', name: 'Ada', userType: 'user' }],
    ['bob', { id: 456, username: 'bob', name: 'Bob', userType: 'user' }],
    ['root', { id: 1, username: 'root', name: 'Root', userType: 'admin' }],
  ]);
  const modules = new Map();
  return {
    users,
    modules,
    findUser: (username) => users.get(username) || null,
    async getStats() {
      return { users: users.size, modules: modules.size };
    },
  };
}

async function startSeedApp(options = {}) {
  const app = express();
  app.use(express.json());
  app.use((req, _res, next) => {
    req.sessionID = req.get('x-session-id') || crypto.randomUUID();
    next();
  });
  const server = http.createServer(app);
  const io = new Server(server);
  io.app = app;
  const databaseManager = createDatabaseManager();

  // --- app.js: after creating the Socket.io server ---
  const realTimeAPI = new RealTimeAPI(io, databaseManager, options);
  realTimeAPI.initialize();
  app.locals.realTimeAPI = realTimeAPI;

  // --- routes/auth.js ---
  const router = express.Router();
  router.post('/login', async (req, res) => {
    const user = databaseManager.findUser(req.body.username);
    if (user) {
      req.app.locals.realTimeAPI.emitUserLoggedIn(user, req.sessionID);
      res.json({ sessionId: req.sessionID, user });
    } else {
      res.status(401).json({ error: 'unknown user' });
    }
  });
  router.get('/logout', (req, res) => {
    const userData = databaseManager.findUser(req.query.username);
    req.app.locals.realTimeAPI.emitUserLoggedOut(userData, req.sessionID);
    res.json({ ok: true });
  });
  app.use(router);

  // --- websocket/handlers.js ---
  function onEspRegister(socket, data) {
    const { moduleId, ...moduleInfo } = data;
    socket.data.moduleId = moduleId;
    socket.data.moduleInfo = moduleInfo;
    databaseManager.modules.set(moduleId, moduleInfo);
    const realTimeAPI = socket.server.app.locals.realTimeAPI;
    realTimeAPI.emitModuleOnline(moduleId, moduleInfo);
  }
  function onEspDisconnect(socket) {
    const { moduleId, moduleInfo } = socket.data;
    realTimeAPI.emitModuleOffline(moduleId, moduleInfo);
  }
  io.on('connection', (socket) => {
    socket.on('esp:register', (data) => onEspRegister(socket, data));
    socket.on('disconnect', () => {
      if (socket.data.moduleId) onEspDisconnect(socket);
    });
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    app, io, server, url, realTimeAPI, databaseManager,
    async close() {
      io.close();
      await realTimeAPI.close();
    },
  };
}

module.exports = { startSeedApp, createDatabaseManager };
