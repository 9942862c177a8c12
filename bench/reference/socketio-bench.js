#!/usr/bin/env node
// bench/reference/socketio-bench.js --sub URL --pub URL -n N -r RATE -d S
// [-s BYTES] [-t S]: the relay sweep's measure for Socket.IO, as sio-bench
// relay does it for sio: N subscribers on one node, a publisher on the
// other sending RATE messages a second (open loop) for S seconds; then one
// JSON line: published, expected, delivered, lost, latency p50/p99 (µs),
// subscribers closed ("dropped").
'use strict';

const { io } = require('socket.io-client');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const subUrl = arg('--sub'), pubUrl = arg('--pub');
const n = Number(arg('-n', 100)), rate = Number(arg('-r', 1000)), secs = Number(arg('-d', 10));
const size = Number(arg('-s', 128)), timeout = Number(arg('-t', 10));
const now = () => Number(process.hrtime.bigint() / 1000n);

const lat = [];
let startAt = 0;
let delivered = 0, dropped = 0, published = 0, measuring = false, lastAt = 0;
const opts = { transports: ['websocket'], reconnection: false, forceNew: true };

function connect(url) {
  return new Promise((resolve, reject) => {
    const s = io(url, opts);
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

async function main() {
  const subs = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => connect(subUrl)));
    subs.push(...batch);
  }
  for (const s of subs) {
    s.on('msg', (m) => {
      if (!measuring || !m || typeof m.t !== 'number') return;
      delivered++;
      lastAt = now();
      lat.push(lastAt - m.t);
    });
    s.on('disconnect', () => { dropped++; });
    s.emit('sub', 'bench');
  }
  const p = await connect(pubUrl);
  // The room is joined on the node of the subscribers; the adapter's
  // subscription to Redis is in place before the measure starts.
  await new Promise((r) => setTimeout(r, 500));
  measuring = true;
  const pad = 'x'.repeat(Math.max(0, size - 40));
  const start = now(), end = start + secs * 1e6;
  startAt = start;
  await new Promise((resolve) => {
    const tick = () => {
      const t = now();
      const due = Math.min(Math.floor(((Math.min(t, end) - start) / 1e6) * rate), Math.ceil(secs * rate));
      while (published < due) {
        p.emit('pub', 'bench', { t: now(), i: published, p: pad });
        published++;
      }
      if (t >= end) resolve(); else setImmediate(tick);
    };
    tick();
  });
  const expected = published * n;
  const last = now() + timeout * 1e6;
  let seen = -1, quiet = now();
  while (delivered < expected && now() < last) {
    await new Promise((r) => setTimeout(r, 100));
    if (delivered !== seen) { seen = delivered; quiet = now(); }
    else if (now() - quiet > 2e6) break;   // nothing more is coming
  }
  lat.sort((a, b) => a - b);
  const q = (f) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(f * lat.length))] : 0);
  const out = {
    mode: 'relay', completed: true, connections: n, rate, duration_s: secs, published,
    publish_rate: published / secs, expected, delivered, lost: expected - delivered,
    loss_pct: expected ? (100 * (expected - delivered)) / expected : 0, dropped,
    frames_per_s: lastAt > startAt ? delivered / ((lastAt - startAt) / 1e6) : 0,
    latency_us: { p50: q(0.5), p99: q(0.99) },
  };
  console.log(JSON.stringify(out));
  for (const s of subs) s.close();
  p.close();
  process.exit(0);
}

main().catch((e) => { console.log(JSON.stringify({ completed: false, error: String(e) })); process.exit(1); });
