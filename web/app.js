// The reference front end: the seed's client event names, nothing else. A user sees
// their own modules (status and live telemetry); an admin on the `admin` page also sees
// the activity feed, alerts, statistics and server performance.
'use strict';

const $ = (selector) => document.querySelector(selector);
const modules = new Map(); // moduleId -> row element
let socket = null;

const numbers = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

function text(value) {
  if (value === null || value === undefined) return '—';
  return typeof value === 'number' ? numbers.format(value) : String(value);
}

/** An object as `key value · key value` with numbers formatted, never raw JSON. */
function pairs(object) {
  if (object === null || typeof object !== 'object') return text(object);
  return Object.entries(object).map(([key, value]) =>
    `${key} ${typeof value === 'object' && value !== null ? `(${pairs(value)})` : text(value)}`).join(' · ');
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
  applyFleetFilter();
}

function setTelemetry(moduleId, telemetry) {
  const row = modules.get(moduleId) || moduleRow({ moduleId });
  const cell = row.querySelector('.telemetry');
  cell.textContent = pairs(telemetry);
  const spark = sparkline(moduleId, telemetry);
  if (spark) cell.prepend(spark);
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
    dd.textContent = pairs(value);
    list.append(dt, dd);
  }
}

function showServerStats(stats) {
  chartServerStats(stats);
  const c = stats.connections || {};
  fill($('#server-stats'), [
    ['connections', `${c.total} (users ${c.users}, admins ${c.admins}, devices ${c.devices}, unauthenticated ${c.unauthenticated})`],
    ['by page', Object.entries(c.byPage || {}).map(([page, n]) =>
      `${page} ${text((n.users || 0) + (n.admins || 0))}`).join(' · ')],
    ['events/s in', stats.eventsPerSecond && stats.eventsPerSecond.in],
    ['events/s out', stats.eventsPerSecond && stats.eventsPerSecond.out],
    ['unchanged emits', typeof stats.unchangedRatio === 'number' ? `${text(stats.unchangedRatio * 100)} %` : null],
    ['queues', stats.queues],
    ['delivery p50 (ms)', stats.deliveryLatencyMs && stats.deliveryLatencyMs.p50],
    ['delivery p99 (ms)', stats.deliveryLatencyMs && stats.deliveryLatencyMs.p99],
    ['memory', stats.process && stats.process.rssMiB !== undefined ? `${text(stats.process.rssMiB)} MiB` : null],
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
  item.dataset.kinds = Object.keys(batch.counts || {}).join(' ');
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
  applyActivityFilter();
}

/** Shows only the activity entries of the chosen kind (all by default). */
function applyActivityFilter() {
  const kind = $('#activity-kind').value;
  for (const line of document.querySelectorAll('#activity li.entry')) {
    line.hidden = kind !== 'all' && line.dataset.kind !== kind;
  }
}

function raiseAlert(alert) {
  const item = document.createElement('li');
  item.className = alert.level;
  item.dataset.alertId = alert.id;
  item.dataset.state = 'raised';
  const time = new Date(alert.timestamp || Date.now()).toLocaleTimeString();
  item.textContent = `${time} [${alert.level}] ${alert.message} — raised`;
  const old = document.querySelector(`#alerts li[data-alert-id="${CSS.escape(alert.id)}"]`);
  if (old) old.remove();
  $('#alerts').prepend(item);
}

/** A cleared alert stays listed with its state, so the history reads top to bottom. */
function clearAlert(cleared) {
  const old = document.querySelector(`#alerts li[data-alert-id="${CSS.escape(cleared.id)}"]`);
  if (!old) return;
  old.dataset.state = 'cleared';
  const time = new Date(cleared.timestamp || Date.now()).toLocaleTimeString();
  old.textContent = old.textContent.replace(/ — raised$/, ` — cleared ${time}`);
}

/** The fleet table's search (id, name, owner) and online/offline filter. */
function applyFleetFilter() {
  const query = $('#fleet-search').value.trim().toLowerCase();
  const state = $('#fleet-state').value;
  let shown = 0;
  for (const row of modules.values()) {
    const haystack = ['id', 'name', 'owner'].map((c) => row.querySelector(`.${c}`).textContent.toLowerCase()).join(' ');
    const matches = (!query || haystack.includes(query)) &&
      (state === 'all' || row.dataset.online === String(state === 'online'));
    row.hidden = !matches;
    if (matches) shown += 1;
  }
  $('#fleet-count').textContent = `${text(shown)} of ${text(modules.size)} shown`;
}

/** Sorts the table by a column; clicking it again reverses the order. */
function sortBy(column) {
  const body = $('#modules tbody');
  const header = document.querySelector(`#modules th[data-sort="${column}"]`);
  const ascending = header.getAttribute('aria-sort') !== 'ascending';
  for (const th of document.querySelectorAll('#modules th[data-sort]')) th.removeAttribute('aria-sort');
  header.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
  const rows = [...body.children].sort((a, b) => {
    const x = a.querySelector(`.${column}`).textContent;
    const y = b.querySelector(`.${column}`).textContent;
    return (ascending ? 1 : -1) * x.localeCompare(y, 'en', { numeric: true });
  });
  body.append(...rows);
}

/** Adds a snapshot page's modules and asks for the next page while there is one. */
function addSnapshotPage(snapshot) {
  for (const module of snapshot.modules || []) moduleRow(module);
  $('#modules').dataset.total = String(snapshot.total ?? modules.size);
  if (snapshot.nextCursor) socket.emit('client:snapshot', { cursor: snapshot.nextCursor });
  else $('#modules').dataset.complete = 'true';
  applyFleetFilter();
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
    delete $('#modules').dataset.complete;
    addSnapshotPage(snapshot);
    if (snapshot.stats) fill($('#stats'), Object.entries(snapshot.stats));
    showMaintenance(snapshot.maintenance);
    document.body.dataset.ready = 'true';
  });
  socket.on('page:snapshot:more', addSnapshotPage);
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

// ----- the audit viewer: client:audit over the admin's own socket, newest first -------
let auditCursor = null;

function auditRequest(cursor) {
  const time = (id) => ($(id).value ? new Date($(id).value).getTime() : null);
  return {
    userId: $('#audit-user').value.trim() || null,
    moduleId: $('#audit-module').value.trim() || null,
    action: $('#audit-action').value.trim() || null,
    since: time('#audit-from'),
    until: time('#audit-to'),
    cursor,
    limit: 20,
  };
}

/** Asks for a page (the first when `cursor` is null) and shows it. */
async function loadAudit(cursor) {
  const error = $('#audit-error');
  error.hidden = true;
  const reply = await socket.timeout(5000).emitWithAck('client:audit', auditRequest(cursor)).catch((e) => ({ code: 'timeout', message: e.message }));
  if (reply.code) {
    error.hidden = false;
    error.textContent = `${reply.code}: ${reply.message}`;
    return;
  }
  const body = $('#audit tbody');
  if (cursor === null) body.innerHTML = '';
  for (const record of reply.records) {
    const row = document.createElement('tr');
    row.dataset.auditId = String(record.id);
    const outcome = record.outcome || {};
    const cells = [record.id, new Date(record.timestamp).toLocaleString(), record.kind, record.action,
      record.user_id, record.module_id,
      outcome.outcome === 'delivered' ? `delivered to ${text(outcome.connections)}` : outcome.code || outcome.outcome];
    for (const value of cells) {
      const cell = document.createElement('td');
      cell.textContent = text(value);
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
  auditCursor = reply.nextCursor;
  $('#audit-older').disabled = auditCursor === null;
  $('#audit').dataset.pages = String(cursor === null ? 1 : Number($('#audit').dataset.pages || 0) + 1);
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
$('#fleet-search').addEventListener('input', applyFleetFilter);
$('#audit-form').addEventListener('submit', (event) => {
  event.preventDefault();
  loadAudit(null);
});
$('#audit-older').addEventListener('click', () => loadAudit(auditCursor));
$('#fleet-state').addEventListener('change', applyFleetFilter);
$('#activity-kind').addEventListener('change', applyActivityFilter);
for (const th of document.querySelectorAll('#modules th[data-sort]')) {
  th.addEventListener('click', () => sortBy(th.dataset.sort));
}

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
