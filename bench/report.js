#!/usr/bin/env node
// bench/report.js RESULTS.jsonl OUT.json: the table of make bench, from the
// lines bench/run.sh collected ({"target","point","result"}, result being
// sio-bench --json's line). Where a point ran several times, the run with the
// median figure is kept. Prints the table; writes every run and the table's
// figures to OUT.json.
'use strict';

const fs = require('fs');
const os = require('os');
const { execSync } = require('child_process');

const [linesFile, outFile] = process.argv.slice(2);
const runs = fs.readFileSync(linesFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

const get = (o, path) => path.split('.').reduce((v, k) => (v == null ? undefined : v[k]), o);

// The figure that ranks the runs of a point.
const primary = {
  hold: 'server_rss_per_conn', connect: 'connect_rate', fanout: 'frames_per_s',
  rate: 'latency_us.p99', relay: 'latency_us.p99', 'relay-fanout': 'frames_per_s',
  'hop-connect': 'connect_rate', 'hop-fanout': 'frames_per_s',
  'history-on': 'frames_per_s', 'history-off': 'frames_per_s', 'history-mem': 'per_message',
  rebalance: 'ms',
};
// The app points carry their rate and way in their names (app-rtt-1000-c).
const primaryOf = (point) => primary[point] ||
  (point.startsWith('app-rtt') ? 'latency_us.p99'
    : point.startsWith('app-events') ? 'backend.events_per_s' : undefined);

function pick(target, point) {
  const all = runs.filter((r) => r.target === target && r.point === point);
  const ok = all.filter((r) => r.result.completed);
  if (!ok.length) return all.length ? all[0].result : undefined;
  const key = primaryOf(point);
  ok.sort((a, b) => (key ? get(a.result, key) ?? 0 : 0) - (key ? get(b.result, key) ?? 0 : 0));
  return ok[(ok.length - 1) >> 1].result;
}

const R = {};
for (const r of runs) {
  R[r.target] = R[r.target] || {};
  R[r.target][r.point] = R[r.target][r.point] || pick(r.target, r.point);
}
const val = (target, point, path) => {
  const r = R[target] && R[target][point];
  return r && r.completed ? get(r, path) : undefined;
};
const why = (target, point) => {
  const r = R[target] && R[target][point];
  return r && !r.completed ? `failed: ${r.error || 'no result'}` : undefined;
};

const group = (n) => Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const fmt = {
  bytes: (v) => (Math.abs(v) >= 1024 ? `${(v / 1024).toFixed(2)} KiB` : `${Math.round(v)} B`),
  rate: (v) => (v < 10 ? `${v.toFixed(2)} /s` : `${group(v)} /s`),
  pct: (v) => `${v.toFixed(2)} %`,
  us: (v) => (Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(2)} s`
    : Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`),
  count: (v) => group(v),
};

const rows = [];
let point;   // the point the next rows come from
let refPoint;   // the reference's, when its name differs (the app points)
function row(label, unit, sio, ref, target, met, ratio, bare) {
  const r = { label, point, refPoint: refPoint || point, unit, sio, ref, target, met, bare };
  r.ratio = ratio !== undefined ? ratio
    : typeof sio === 'number' && typeof ref === 'number' && ref ? sio / ref : undefined;
  r.bareRatio = typeof sio === 'number' && typeof bare === 'number' && bare ? sio / bare : undefined;
  rows.push(r);
}
// sio-serve, the node reference and the bare limit (bench/bare.c), when it ran.
const both = (point, path) => [val('sio', point, path), val('node', point, path), val('bare', point, path)];
const any = (point) => ['sio', 'node', 'bare'].some((t) => R[t] && R[t][point]);

if (any('hold')) {
  point = 'hold';
  const [held, heldRef, heldBare] = both('hold', 'established');
  const [mem, memRef, memBare] = both('hold', 'server_rss_per_conn');
  row('connections held (idle)', 'count', held, heldRef, '19,500', held >= 19500, undefined, heldBare);
  row('resident memory per connection', 'bytes', mem, memRef, '<= 1.5 KiB', mem <= 1536, undefined, memBare);
  const [k, kRef, kBare] = both('hold', 'kernel_per_conn');
  row('kernel memory per connection, both ends', 'bytes', k, kRef, '', undefined, undefined, kBare);
  const [cpu, cpuRef, cpuBare] = both('hold', 'server_cpu_pct');
  row(`CPU while idle, pings every ${process.env.PING || 20} s`, 'pct', cpu, cpuRef, '< 2 %', cpu < 2,
    undefined, cpuBare);
}
if (any('connect')) {
  point = 'connect';
  const [c, cRef, cBare] = both('connect', 'connect_rate');
  row('connect rate', 'rate', c, cRef, '>= 0.8x bare', c && cBare ? c / cBare >= 0.8 : undefined,
    undefined, cBare);
  const [p, pRef, pBare] = both('connect', 'handshake_us.p99');
  row('  handshake p99', 'us', p, pRef, '', undefined, undefined, pBare);
  const [u, uRef, uBare] = both('connect', 'server_cpu_us_per_conn');
  row('  server CPU per connection', 'us', u, uRef, '', undefined, undefined, uBare);
}
if (any('fanout')) {
  point = 'fanout';
  const n = val('sio', 'fanout', 'subscribers') || val('node', 'fanout', 'subscribers');
  const size = val('sio', 'fanout', 'size') || val('node', 'fanout', 'size');
  const [f, fRef, fBare] = both('fanout', 'frames_per_s');
  row(`fan-out to ${group(n || 0)}, ${size} B, saturated`, 'rate', f, fRef, '>= 1.6x ref',
    f && fRef ? f / fRef >= 1.6 : undefined, undefined, fBare);
  const [c, cRef, cBare] = both('fanout', 'server_cpu_us_per_frame');
  row('  server CPU per delivered frame', 'us', c, cRef, '<= 1.10x bare',
    c && cBare ? c / cBare <= 1.10 : undefined, undefined, cBare);
  const [l, lRef, lBare] = both('fanout', 'latency_us.p99');
  row('  latency p99 (queueing included)', 'us', l, lRef, '', undefined, undefined, lBare);
  const [lost, lostRef, lostBare] = both('fanout', 'lost');
  row('  frames lost', 'count', lost, lostRef, '0', lost === 0, undefined, lostBare);
}
if (any('rate')) {
  point = 'rate';
  const rate = val('sio', 'rate', 'rate') || val('node', 'rate', 'rate');
  const n = val('sio', 'rate', 'subscribers') || val('node', 'rate', 'subscribers');
  const [l, lRef, lBare] = both('rate', 'latency_us.p99');
  row(`latency p99, ${group(rate || 0)} msg/s to ${n}, one instance`, 'us', l, lRef, '', undefined,
    undefined, lBare);
  const [p, pRef, pBare] = both('rate', 'latency_us.p50');
  row('  p50', 'us', p, pRef, '', undefined, undefined, pBare);
}
if (R.sio && R.sio.relay) {
  point = 'relay';
  const l = val('sio', 'relay', 'latency_us.p99'), one = val('sio', 'rate', 'latency_us.p99');
  row('relay A -> B, same load: latency p99', 'us', l, undefined, '', undefined);
  if (l !== undefined && one !== undefined)
    row('  added by the mesh (p99 relay - p99 one)', 'us', l - one, undefined, '< 1 ms', l - one < 1000);
  const m = val('sio', 'relay', 'latency_us.p50'), mOne = val('sio', 'rate', 'latency_us.p50');
  if (m !== undefined && mOne !== undefined)
    row('  added at p50', 'us', m - mOne, undefined, '', undefined);
  const lost = val('sio', 'relay', 'lost');
  row('  frames lost', 'count', lost, undefined, '0', lost === 0);
}
if (R.sio && R.sio['relay-fanout']) {
  point = 'relay-fanout';
  const f = val('sio', 'relay-fanout', 'frames_per_s'), one = val('sio', 'fanout', 'frames_per_s');
  row('relay fan-out, saturated (ratio: / one instance)', 'rate', f, undefined, '>= 0.8',
    f && one ? f / one >= 0.8 : undefined, f && one ? f / one : undefined);
  const c = val('sio', 'relay-fanout', 'server_cpu_us_per_frame');
  row('  CPU per frame, both instances', 'us', c, undefined, '', undefined);
}

// One public URL: through HAProxy in the sio column, straight to the
// instance in the reference's.
if (R.haproxy || R.direct) {
  const hop = (p, path) => [val('haproxy', p, path), val('direct', p, path)];
  point = 'hop-connect';
  if (R.haproxy && R.haproxy[point] || R.direct && R.direct[point]) {
    const [c, cRef] = hop(point, 'connect_rate');
    row('through haproxy (ref: direct): connect rate', 'rate', c, cRef, '', undefined);
    const [p, pRef] = hop(point, 'handshake_us.p99');
    row('  handshake p99', 'us', p, pRef, '', undefined);
    const [u, uRef] = hop(point, 'server_cpu_us_per_conn');
    row('  CPU per connection, haproxy included', 'us', u, uRef, '', undefined);
  }
  point = 'hop-fanout';
  if (R.haproxy && R.haproxy[point] || R.direct && R.direct[point]) {
    const [f, fRef] = hop(point, 'frames_per_s');
    row('through haproxy (ref: direct): fan-out, saturated', 'rate', f, fRef, '', undefined);
    const [l, lRef] = hop(point, 'latency_us.p99');
    row('  latency p99', 'us', l, lRef, '', undefined);
    const [c, cRef] = hop(point, 'server_cpu_us_per_frame');
    row('  CPU per delivered frame, haproxy included', 'us', c, cRef, '', undefined);
    const [lost] = hop(point, 'lost');
    row('  frames lost through haproxy', 'count', lost, undefined, '0', lost === 0);
  }
}

const ways = { c: 'C library', pipe: 'sio-backend', node: 'Node module' };
const appRates = [...new Set(runs.map((r) => /^app-rtt-(\d+)/.exec(r.point)).filter(Boolean)
  .map((m) => Number(m[1])))].sort((a, b) => a - b);
for (const rate of appRates) {
  refPoint = `app-rtt-${rate}`;
  const ref50 = val('node', refPoint, 'latency_us.p50'), ref99 = val('node', refPoint, 'latency_us.p99');
  for (const way of Object.keys(ways)) {
    point = `app-rtt-${rate}-${way}`;
    if (!(R.sio && R.sio[point])) continue;
    const p50 = val('sio', point, 'latency_us.p50'), p99 = val('sio', point, 'latency_us.p99');
    row(`app round trip, ${group(rate)} msg/s, ${ways[way]}: p50`, 'us', p50, ref50, '', undefined);
    row('  p99', 'us', p99, ref99, '', undefined);
    if (p99 !== undefined && ref99 !== undefined) {
      const goal = rate >= 10000;
      row('  added by the mesh at p99', 'us', p99 - ref99, undefined, goal ? '< 1 ms' : '',
        goal ? p99 - ref99 < 1000 : undefined);
    }
    const lost = val('sio', point, 'lost');
    if (lost) row('  round trips lost', 'count', lost, undefined, '0', false);
  }
}
refPoint = undefined;
if (runs.some((r) => r.point.startsWith('app-events'))) {
  refPoint = 'app-events';
  const ref = val('node', refPoint, 'backend.events_per_s');
  const goals = { c: 100000, pipe: 50000 };
  for (const way of Object.keys(ways)) {
    point = `app-events-${way}`;
    if (!(R.sio && R.sio[point])) continue;
    const e = val('sio', point, 'backend.events_per_s');
    row(`events one backend takes, ${ways[way]}`, 'rate', e, ref,
      goals[way] ? `>= ${group(goals[way])} /s` : '', goals[way] ? e >= goals[way] : undefined);
    const full = val('sio', point, 'dropped_full');
    if (typeof full === 'number')
      row('  dropped by the instance: queue full', 'count', full, undefined, '', undefined);
  }
  refPoint = undefined;
}

// Recovery and rebalancing: sio-serve against itself. The history rows'
// reference is sio-serve with --history-messages 0 (in the reference's
// column); the rebalance row has none.
if (R.sio && (R.sio['history-on'] || R.sio['history-mem'] || R.sio.rebalance)) {
  const self = (label, unit, on, off) => { rows.push({ label, point, refPoint, unit, sio: on, ref: off,
    ratio: typeof on === 'number' && typeof off === 'number' && off ? on / off : undefined }); };
  if (R.sio['history-on']) {
    point = 'history-on';
    refPoint = 'history-off';
    self('fan-out frames, history on / off', 'rate', val('sio', 'history-on', 'frames_per_s'),
      val('sio', 'history-off', 'frames_per_s'));
    self('  server CPU per frame, on / off', 'us', val('sio', 'history-on', 'server_cpu_us_per_frame'),
      val('sio', 'history-off', 'server_cpu_us_per_frame'));
  }
  if (R.sio['history-mem']) {
    point = 'history-mem';
    refPoint = point;
    const per = val('sio', point, 'per_message'), size = val('sio', point, 'size');
    self(`memory per retained message (${size} B payload)`, 'bytes', per, size);
    self('  over its payload', 'bytes', per !== undefined ? per - size : undefined, undefined);
  }
  if (R.sio.rebalance) {
    point = 'rebalance';
    refPoint = point;
    const n = val('sio', point, 'clients');
    self(`rebalance 4 instances from ${n}/0/0/0 to 10 %`, 'us',
      val('sio', point, 'ms') !== undefined ? val('sio', point, 'ms') * 1000 : undefined, undefined);
    self(`  reconnects per second (rate ${val('sio', point, 'rate_pct')} %/s)`, 'rate',
      val('sio', point, 'reconnects_per_s'), undefined);
  }
  refPoint = undefined;
}

const cell = (unit, v, at, target) => {
  if (v === undefined || v === null || Number.isNaN(v)) return why(target, at) ? 'failed' : '—';
  return fmt[unit](v);
};
const ratio = (v) => (v === undefined ? '' : v >= 10 ? `${v.toFixed(1)}x` : `${v.toFixed(2)}x`);
const header = ['point', 'sio-serve', 'node ws', 'sio/ref', 'bare', 'sio/bare', 'target', ''];
const table = rows.map((r) => [
  r.label,
  cell(r.unit, r.sio, r.point, 'sio'),
  cell(r.unit, r.ref, r.refPoint, 'node'),
  ratio(r.ratio),
  r.bare === undefined ? '' : cell(r.unit, r.bare, r.point, 'bare'),
  ratio(r.bareRatio),
  r.target || '',
  r.met === undefined || !r.target ? '' : r.met ? 'met' : 'NOT MET',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => [...t[i]].length)));
const line = (cols) => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
  .join('  ').trimEnd();
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const t of table) console.log(line(t));
if (rows.some((r) => r.point.startsWith('app-')))
  console.log('app rows: the reference is bench/reference/app.js, the same application in one process on ws');
if (rows.some((r) => r.bare !== undefined))
  console.log('bare: bench/bare.c, epoll, the handshake, one channel, one send per client per loop turn: the limit');
if (rows.some((r) => r.point.startsWith('history')))
  console.log('history rows: the reference is sio-serve with --history-messages 0');

const failures = runs.filter((r) => !r.result.completed);
for (const f of failures) console.log(`! ${f.target} ${f.point}: ${f.result.error || 'failed'}`);

let commit = '';
try { commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { /* not a clone */ }
fs.writeFileSync(outFile, JSON.stringify({
  date: new Date().toISOString(),
  host: { cpus: os.cpus().length, model: os.cpus()[0] && os.cpus()[0].model, memory: os.totalmem(), kernel: os.release() },
  commit,
  node: process.version,
  table: rows,
  runs,
}, null, 1) + '\n');
