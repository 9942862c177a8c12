#!/usr/bin/env node
// bench/sweep-report.js RESULTS.jsonl: the sweep's table (bench/run.sh,
// POINTS=sweep), sio and Socket.IO + Redis side by side, one row per number
// of subscribers and offered rate: delivered frames a second, frames lost
// (and their share), latency p50 and p99, subscribers closed; for sio also
// the rate the publisher got in, the two instances' CPU (on one core) and
// sio-bench's own: where the instances are far from busy and sio-bench near
// its core, the generator is the limit.
'use strict';

const fs = require('fs');

const runs = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l)).filter((r) => r.point.startsWith('sweep-'));
const group = (n) => Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const us = (v) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} s` : v >= 1000 ? `${(v / 1000).toFixed(1)} ms`
  : `${Math.round(v)} µs`);

function cells(r) {
  if (!r) return ['', '', '', '', ''];
  if (!r.completed) return [`failed: ${r.error || ''}`, '', '', '', ''];
  const lat = r.latency_us || {};
  return [group(r.frames_per_s || 0), `${group(r.lost || 0)} (${(r.loss_pct || 0).toFixed(1)} %)`,
    r.delivered ? us(lat.p50 || 0) : '-', r.delivered ? us(lat.p99 || 0) : '-',
    `${r.dropped || 0} of ${r.connections}`];
}

function sioCells(r) {
  const c = cells(r);
  if (!r || !r.completed) return [...c, '', '', ''];
  return [...c, group(r.publish_rate || 0), `${Math.round(r.server_cpu_pct || 0)} %`,
    r.generator_cpu_pct === undefined ? ''
      : `${Math.round(r.generator_cpu_pct)} %${r.generator_cores_busy_pct === undefined ? ''
        : ` (core ${Math.round(r.generator_cores_busy_pct)} % busy)`}`];
}

const points = [...new Set(runs.map((r) => r.point))].sort((a, b) => {
  const [, na, ra] = a.split('-').map(Number);
  const [, nb, rb] = b.split('-').map(Number);
  return na - nb || ra - rb;
});
const head = ['N', 'R msg/s', 'sio delivered/s', 'sio lost', 'sio p50', 'sio p99', 'sio closed',
  'sio publisher got in msg/s', 'sio instances CPU', 'sio-bench CPU',
  'Socket.IO delivered/s', 'Socket.IO lost', 'Socket.IO p50', 'Socket.IO p99', 'Socket.IO closed'];
const capped = process.env.SWEEP_B_CPU ? `, B held to ${process.env.SWEEP_B_CPU} % of a core` : '';
console.log(`\nsweep: cross-instance relay, publisher on A, N subscribers on B, R messages a second offered${capped}`);
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map(() => '---').join('|')}|`);
for (const p of points) {
  const [, n, rate] = p.split('-');
  const of = (t) => { const r = runs.find((x) => x.point === p && x.target === t); return r && r.result; };
  console.log(`| ${group(Number(n))} | ${group(Number(rate))} | ${sioCells(of('sio')).join(' | ')} | ${cells(of('socketio')).join(' | ')} |`);
}
