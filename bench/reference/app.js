#!/usr/bin/env node
// The anchor of make bench's application points: a small socketiyo
// application in one process, on the ws package socketiyo is built on, with
// socketiyo's semantics written here (socketiyo itself is not used):
//
//   a message on "echo"    send(socket, data, "echo"): back to that socket,
//                          only if it is subscribed to "echo" (socketiyo's
//                          send does nothing otherwise)
//   a message on "shout"   sendAllExceptOne(socket, data): every ready
//                          client but that one, on the default channel
//   anything else          only counted
//
// Clients' messages are not relayed to other subscribers: in socketiyo they
// reach the application, which decides. It is what the mesh does with
// sio-serve --no-relay and a backend (bench/appbackend.c, sio-backend,
// node/sio-socketiyo), so both sides run the same application.
//
//   node app.js [--host 127.0.0.1] [--port 8080] [--path /socketiyo]
//               [--ping-interval 20] [--stats FILE]
//
// Prints "listening HOST:PORT" once it accepts connections. With --stats,
// on SIGTERM it writes the messages it took, and how fast, to FILE (the
// JSON of bench/appbackend.c's).
'use strict';

const fs = require('fs');
const { WebSocketServer } = require('ws');

const opts = { host: '127.0.0.1', port: 8080, path: '/socketiyo', 'ping-interval': 20, stats: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in opts) || i + 1 >= process.argv.length) {
    console.error(`app.js: unknown option or missing value: ${process.argv[i]}`);
    process.exit(64);
  }
  opts[key] = typeof opts[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const MAX_LENGTH = 1 << 20;
const MAX_CHANNELS = 200;
const MAX_CHANNEL_LENGTH = 100;
const DEFAULT_CHANNEL = '';

const counted = { events: 0, first: 0n, last: 0n };

const wss = new WebSocketServer({
  host: opts.host, port: opts.port, path: opts.path, perMessageDeflate: false, maxPayload: 16 << 20,
});

const validChannel = (c) => typeof c === 'string' && c !== '' &&
  Buffer.byteLength(c) < MAX_CHANNEL_LENGTH;

// socketiyo's send: the channel's frame, to a socket that is on the channel.
function send(ws, data, channel = DEFAULT_CHANNEL) {
  if (!ws.ready || (channel !== DEFAULT_CHANNEL && !ws.subs.has(channel))) return;
  ws.send(JSON.stringify({ channel, data }));
}

function sendAllExceptOne(except, data, channel = DEFAULT_CHANNEL) {
  const frame = JSON.stringify({ channel, data });
  for (const ws of wss.clients) {
    if (ws !== except && ws.ready && (channel === DEFAULT_CHANNEL || ws.subs.has(channel))) {
      ws.send(frame);
    }
  }
}

// The application.
function onMessage(ws, channel, data) {
  if (channel === 'echo') send(ws, data, 'echo');
  else if (channel === 'shout') sendAllExceptOne(ws, data);
}

wss.on('connection', (ws) => {
  ws.alive = true;
  ws.ready = false;
  ws.subs = new Set();
  ws.on('pong', () => { ws.alive = true; });
  ws.on('message', (raw) => {
    if (raw.length >= MAX_LENGTH) return;
    let m;
    try { m = JSON.parse(raw); } catch { return; }
    if (m === null || typeof m !== 'object' || Array.isArray(m) || typeof m.channel !== 'string') return;
    if ('action' in m) {
      if (m.action === 'CLIENT_READY') ws.ready = true;
      else if (m.action === 'SUBSCRIBE_CHANNEL_ACTION' && validChannel(m.channel) &&
               ws.subs.size < MAX_CHANNELS) ws.subs.add(m.channel);
      else if (m.action === 'UNSUBSCRIBE_CHANNEL_ACTION') ws.subs.delete(m.channel);
      return;
    }
    if (!('data' in m) || !validChannel(m.channel)) return;
    const now = process.hrtime.bigint();
    if (!counted.events++) counted.first = now;
    counted.last = now;
    onMessage(ws, m.channel, m.data);
  });
  ws.on('error', () => {});
});

if (opts['ping-interval'] > 0) {
  setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws.alive) { ws.terminate(); continue; }
      ws.alive = false;
      ws.ping();
    }
  }, opts['ping-interval'] * 1000).unref();
}

function stats() {
  const span = Number(counted.last - counted.first) / 1e9;
  return JSON.stringify({
    events: counted.events,
    span_s: span,
    events_per_s: span > 0 ? (counted.events - 1) / span : 0,
  }) + '\n';
}

wss.on('listening', () => console.log(`listening ${opts.host}:${opts.port}`));
wss.on('error', (e) => { console.error(`app.js: ${e.message}`); process.exit(1); });
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (opts.stats) fs.writeFileSync(opts.stats, stats());
    process.exit(0);
  });
}
