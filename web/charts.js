// The dashboard's drawings: uPlot charts of the last minutes of admin:server:stats, and
// an inline SVG sparkline of each module's telemetry. Loaded before app.js, whose
// helpers ($, numbers) they use when called.
'use strict';

// ----- charts of admin:server:stats (uPlot), the last CHART_POINTS samples -----------
const CHART_POINTS = 300;
const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989'];
const charts = new Map(); // name -> {plot, data, element}

/** One chart per figure; `series` are the line labels, `unit` goes on the y axis. */
function chart(name, title, series, unit) {
  if (charts.has(name)) return charts.get(name);
  const element = document.createElement('figure');
  element.className = 'chart';
  element.dataset.chart = name;
  element.dataset.points = '0';
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  element.appendChild(caption);
  $('#charts').appendChild(element);
  const data = [[], ...series.map(() => [])];
  let plot = null;
  if (typeof uPlot === 'function') {
    plot = new uPlot({
      width: 360,
      height: 160,
      legend: { live: false },
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 60, values: (u, ticks) => ticks.map((t) => numbers.format(t)) }],
      series: [{}, ...series.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5 }))],
    }, data, element);
  }
  const entry = { plot, data, element };
  charts.set(name, entry);
  return entry;
}

/** Appends one sample (`values` in series order, null for no value) at `time` (ms). */
function sample(entry, time, values) {
  entry.data[0].push(time / 1000);
  values.forEach((value, i) => entry.data[i + 1].push(value ?? null));
  if (entry.data[0].length > CHART_POINTS) for (const column of entry.data) column.shift();
  if (entry.plot) entry.plot.setData(entry.data);
  entry.element.dataset.points = String(entry.data[0].length);
}

function chartServerStats(stats) {
  const time = stats.timestamp || Date.now();
  const c = stats.connections || {};
  const rate = stats.eventsPerSecond || {};
  const latency = stats.deliveryLatencyMs || {};
  const proc = stats.process || {};
  sample(chart('events', 'Events per second', ['in', 'out'], 'events/s'), time, [rate.in, rate.out]);
  const ratio = stats.unchangedRatio === null || stats.unchangedRatio === undefined ? null : stats.unchangedRatio * 100;
  sample(chart('unchanged', 'Unchanged emits', ['unchanged'], '%'), time, [ratio]);
  sample(chart('latency', 'Delivery latency', ['p50', 'p99'], 'ms'), time, [latency.p50, latency.p99]);
  sample(chart('roles', 'Connections by role', ['users', 'admins', 'devices', 'unauthenticated'], 'connections'),
    time, [c.users, c.admins, c.devices, c.unauthenticated]);
  const pages = Object.keys(c.byPage || {});
  const byPage = chart('pages', 'Connections by page', pages, 'connections');
  sample(byPage, time, pages.map((page) => (c.byPage[page].users || 0) + (c.byPage[page].admins || 0)));
  sample(chart('memory', 'Memory', ['RSS'], 'MiB'), time, [proc.rssMiB]);
  sample(chart('cpu', 'CPU', ['process'], '%'), time, [proc.cpuPercent]);
}

// ----- per-module telemetry sparklines (inline SVG, the last SPARK_POINTS values) -------
const SPARK_POINTS = 30;
const sparkHistory = new Map(); // moduleId -> numbers

/** The first numeric telemetry field's recent values, drawn as a line. */
function sparkline(moduleId, telemetry) {
  const value = Object.values(telemetry || {}).find((v) => typeof v === 'number');
  if (value === undefined) return null;
  const values = sparkHistory.get(moduleId) || [];
  values.push(value);
  if (values.length > SPARK_POINTS) values.shift();
  sparkHistory.set(moduleId, values);
  const min = Math.min(...values);
  const span = Math.max(...values) - min || 1;
  const points = values.map((v, i) => `${(i * 80) / (SPARK_POINTS - 1)},${18 - ((v - min) / span) * 16}`).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 80 20');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `recent values of ${Object.keys(telemetry).find((k) => telemetry[k] === value)}`);
  svg.dataset.points = String(values.length);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points);
  svg.appendChild(line);
  return svg;
}
