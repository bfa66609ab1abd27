'use strict';
// Real socket.io-client connections that record every event, so a test can await an
// event (never sleep) and check what arrived before a sentinel.

const { io } = require('socket.io-client');

function connect(url, options = {}) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...options });
  const events = [];
  let waiters = [];
  let cursor = 0;
  socket.onAny((name, data) => {
    events.push({ name, data });
    const ready = waiters;
    waiters = [];
    for (const wake of ready) wake();
  });
  const client = {
    socket,
    events,
    /** Resolves with the data of the next `name` event after the last one awaited. */
    next(name, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${name}; got ${JSON.stringify(events.slice(cursor).map((e) => e.name))}`)), timeoutMs);
        const look = () => {
          const index = events.findIndex((event, i) => i >= cursor && event.name === name);
          if (index === -1) {
            waiters.push(look);
            return;
          }
          clearTimeout(timer);
          const skipped = events.slice(cursor, index).map((event) => event.name);
          cursor = index + 1;
          resolve({ data: events[index].data, skipped });
        };
        look();
      });
    },
    /** Awaits `sentinel` and returns the names that arrived before it since the last wait. */
    async namesBefore(sentinel) {
      const { skipped } = await client.next(sentinel);
      return skipped;
    },
    connected: () => new Promise((resolve, reject) => {
      if (socket.connected) return resolve();
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }),
    disconnected: () => new Promise((resolve) => {
      if (!socket.connected) return resolve('already');
      socket.once('disconnect', resolve);
    }),
    close: () => socket.close(),
  };
  return client;
}

/** A browser tab as the seed's client pages open it: connect, then client:authenticate. */
async function browser(url, login, page) {
  const client = connect(url);
  await client.connected();
  const payload = { userId: login.user.id, userType: login.user.userType, page, sessionId: login.sessionId };
  client.ack = await client.socket.timeout(5000).emitWithAck('client:authenticate', payload);
  await client.next('auth:ok');
  client.snapshot = (await client.next('page:snapshot')).data;
  return client;
}

async function login(url, username, sessionId) {
  const response = await fetch(`${url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(sessionId ? { 'x-session-id': sessionId } : {}) },
    body: JSON.stringify({ username }),
  });
  if (!response.ok) throw new Error(`login ${username}: HTTP ${response.status}`);
  return response.json();
}

async function logout(url, session) {
  const response = await fetch(`${url}/logout?username=${session.user.username}`, {
    headers: { 'x-session-id': session.sessionId },
  });
  if (!response.ok) throw new Error(`logout: HTTP ${response.status}`);
}

module.exports = { connect, browser, login, logout };
