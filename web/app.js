// The reference front end: the seed's client event names, nothing else. A user sees
// their own modules (status and live telemetry); an admin on the `admin` page also sees
// the activity feed, alerts, statistics and server performance.
'use strict';

const $ = (selector) => document.querySelector(selector);
const modules = new Map(); // moduleId -> row element
let socket = null;

function text(value) {
  return value === null || value === undefined ? '—' : String(value);
}

function moduleRow(module) {
  const id = module.moduleId;
  let row = modules.get(id);
  if (!row) {
    row = document.createElement('tr');
    row.dataset.moduleId = id;
    for (const name of ['id', 'name', 'type', 'owner', 'status', 'telemetry']) {
      const cell = document.createElement('td');
      cell.className = name;
      row.appendChild(cell);
    }
    row.querySelector('.id').textContent = id;
    $('#modules tbody').appendChild(row);
    modules.set(id, row);
  }
  if (module.name !== undefined) row.querySelector('.name').textContent = text(module.name);
  if (module.type !== undefined) row.querySelector('.type').textContent = text(module.type);
  if (module.userId !== undefined) row.querySelector('.owner').textContent = text(module.userId);
  if (module.online !== undefined) setStatus(id, module.online);
  if (module.telemetry !== undefined && module.telemetry !== null) setTelemetry(id, module.telemetry);
  return row;
}

function setStatus(moduleId, online) {
  const row = modules.get(moduleId) || moduleRow({ moduleId });
  const cell = row.querySelector('.status');
  cell.innerHTML = '';
  const badge = document.createElement('span');
  badge.className = 'badge ' + (online ? 'online' : 'offline');
  badge.textContent = online ? 'online' : 'offline';
  cell.appendChild(badge);
  row.dataset.online = String(online);
}

function setTelemetry(moduleId, telemetry) {
  const row = modules.get(moduleId) || moduleRow({ moduleId });
  row.querySelector('.telemetry').textContent = JSON.stringify(telemetry);
}

function removeModule(moduleId) {
  const row = modules.get(moduleId);
  if (row) row.remove();
  modules.delete(moduleId);
}

function fill(list, entries) {
  list.innerHTML = '';
  for (const [key, value] of entries) {
    const dt = document.createElement('dt');
    dt.textContent = key;
    const dd = document.createElement('dd');
    dd.textContent = typeof value === 'object' && value !== null ? JSON.stringify(value) : text(value);
    list.append(dt, dd);
  }
}

function showServerStats(stats) {
  const c = stats.connections || {};
  fill($('#server-stats'), [
    ['connections', `${c.total} (users ${c.users}, admins ${c.admins}, devices ${c.devices}, unauthenticated ${c.unauthenticated})`],
    ['by page', c.byPage],
    ['events/s in', stats.eventsPerSecond && stats.eventsPerSecond.in],
    ['events/s out', stats.eventsPerSecond && stats.eventsPerSecond.out],
    ['unchanged emits', stats.unchangedRatio],
    ['queues', stats.queues],
    ['delivery p99 (ms)', stats.deliveryLatencyMs && stats.deliveryLatencyMs.p99],
    ['memory (MiB)', stats.process && stats.process.rssMiB],
    ['CPU %', stats.process && stats.process.cpuPercent],
    ['persistence', stats.persistence],
  ]);
  $('#server-stats').dataset.timestamp = String(stats.timestamp);
}

function describe(entry) {
  const parts = [entry.kind];
  if (entry.moduleId) parts.push(entry.moduleId);
  if (entry.name) parts.push(`(${entry.name})`);
  if (entry.userId) parts.push(`user ${entry.userId}`);
  if (entry.action) parts.push(entry.action);
  if (entry.enabled !== undefined) parts.push(entry.enabled ? 'on' : 'off');
  return parts.join(' ');
}

function addActivity(batch) {
  const list = $('#activity');
  const summary = Object.entries(batch.counts || {}).map(([k, n]) => `${n} ${k}`).join(', ');
  const item = document.createElement('li');
  item.dataset.entries = String((batch.entries || []).length);
  const time = new Date(batch.timestamp).toLocaleTimeString();
  item.textContent = `${time} — ${summary}`;
  const details = document.createElement('ul');
  for (const entry of (batch.entries || []).slice(0, 20)) {
    const line = document.createElement('li');
    line.className = 'entry';
    line.dataset.kind = entry.kind;
    if (entry.moduleId) line.dataset.moduleId = entry.moduleId;
    line.textContent = describe(entry);
    details.appendChild(line);
  }
  if ((batch.entries || []).length > 20) {
    const more = document.createElement('li');
    more.textContent = `… and ${batch.entries.length - 20} more`;
    details.appendChild(more);
  }
  item.appendChild(details);
  list.prepend(item);
  while (list.children.length > 100) list.lastChild.remove();
}

function raiseAlert(alert) {
  const item = document.createElement('li');
  item.className = alert.level;
  item.dataset.alertId = alert.id;
  item.textContent = `[${alert.level}] ${alert.message}`;
  const old = document.querySelector(`#alerts li[data-alert-id="${CSS.escape(alert.id)}"]`);
  if (old) old.remove();
  $('#alerts').prepend(item);
}

function clearAlert(cleared) {
  const old = document.querySelector(`#alerts li[data-alert-id="${CSS.escape(cleared.id)}"]`);
  if (old) old.remove();
}

function connect(token, page) {
  if (typeof io !== 'function') {
    $('#client-missing').hidden = false;
    return;
  }
  if (socket) socket.disconnect();
  modules.clear();
  $('#modules tbody').innerHTML = '';
  socket = io(window.location.origin, { transports: ['websocket', 'polling'] });
  socket.on('connect', () => {
    $('#connection').textContent = 'connected';
    // The seed's authentication event; the server verifies the token, never the claims.
    socket.emit('client:authenticate', { token, page }, (reply) => {
      if (reply && reply.code) showAuthError(reply);
    });
  });
  socket.on('disconnect', () => { $('#connection').textContent = 'disconnected'; });
  socket.on('auth:ok', (ok) => {
    $('#login').hidden = true;
    $('#app').hidden = false;
    $('#logout').hidden = false;
    $('#identity').textContent = `user ${ok.userId} (${ok.role}) on ${ok.page}`;
    document.body.dataset.role = ok.role;
    document.body.dataset.page = ok.page;
    $('#admin-view').hidden = ok.page !== 'admin';
  });
  socket.on('auth:error', showAuthError);
  socket.on('page:snapshot', (snapshot) => {
    modules.clear();
    $('#modules tbody').innerHTML = '';
    for (const module of snapshot.modules || []) moduleRow(module);
    if (snapshot.stats) fill($('#stats'), Object.entries(snapshot.stats));
    showMaintenance(snapshot.maintenance);
    document.body.dataset.ready = 'true';
  });
  socket.on('module:status:changed', (data) => {
    moduleRow(data);
    setStatus(data.moduleId, data.online);
  });
  socket.on('module:status:batch', (batch) => {
    for (const data of batch.modules || []) {
      moduleRow(data);
      setStatus(data.moduleId, data.online);
    }
  });
  socket.on('module:telemetry:updated', (data) => setTelemetry(data.moduleId, data.telemetry));
  socket.on('user:module:added', (data) => moduleRow(data.module));
  socket.on('user:module:removed', (data) => removeModule(data.module.moduleId));
  socket.on('admin:module:added', (data) => moduleRow(data.module));
  socket.on('admin:module:removed', (data) => removeModule(data.module.moduleId));
  socket.on('admin:stats:updated', (data) => fill($('#stats'), Object.entries(data.stats || {})));
  socket.on('admin:server:stats', showServerStats);
  socket.on('admin:activity', addActivity);
  socket.on('admin:alert', raiseAlert);
  socket.on('admin:alert:cleared', clearAlert);
  socket.on('system:maintenance', showMaintenance);
  socket.on('user:session:ended', () => logout());
}

function showMaintenance(maintenance) {
  const banner = $('#maintenance');
  banner.hidden = !(maintenance && maintenance.enabled);
  banner.textContent = maintenance && maintenance.enabled ? `Maintenance: ${maintenance.message || ''}` : '';
}

function showAuthError(error) {
  const line = $('#auth-error');
  line.hidden = false;
  line.textContent = `${error.code}: ${error.message}`;
}

function logout() {
  if (socket) socket.disconnect();
  socket = null;
  $('#app').hidden = true;
  $('#login').hidden = false;
  $('#logout').hidden = true;
  $('#identity').textContent = '';
  delete document.body.dataset.ready;
}

$('#login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  connect($('#token').value.trim(), $('#page').value);
});
$('#logout').addEventListener('click', logout);

// Demo mode: the server lists its demo tokens so a visitor can log in with one click.
fetch('/demo/tokens').then((r) => (r.ok ? r.json() : [])).then((logins) => {
  for (const login of logins) {
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.login = login.key;
    button.textContent = login.label;
    button.addEventListener('click', () => {
      $('#token').value = login.token;
      $('#page').value = login.page;
      connect(login.token, login.page);
    });
    $('#demo-logins').appendChild(button);
  }
}).catch(() => {});
