#!/usr/bin/env node
// The reference of make bench: a minimal socketiyo relay on the ws package,
// the WebSocket engine socketiyo itself is built on. It speaks the protocol
// of DESIGN §2 as far as sio-bench exercises it:
//
//   {"action":"CLIENT_READY","channel":""}               marks the client ready
//   {"action":"SUBSCRIBE_CHANNEL_ACTION","channel":C}     and UNSUBSCRIBE_...
//   {"channel":C,"data":D}                                sent, as received, to
//                                                         every subscriber of C
//
// and pings like socketiyo's disconnection detection: every 20 s, closing a
// connection that did not answer the previous ping. Nothing else: no bus, no
// load states, no metrics. Frames that do not validate are dropped.
//
//   node relay.js [--host 127.0.0.1] [--port 8080] [--path /socketiyo]
//                 [--ping-interval 20]
//
// Prints "listening HOST:PORT" on stdout once it accepts connections.
'use strict';

const { WebSocketServer } = require('ws');

const opts = { host: '127.0.0.1', port: 8080, path: '/socketiyo', 'ping-interval': 20 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in opts) || i + 1 >= process.argv.length) {
    console.error(`relay.js: unknown option or missing value: ${process.argv[i]}`);
    process.exit(64);
  }
  opts[key] = typeof opts[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}

const MAX_LENGTH = 1 << 20;       // sio-serve's default max_length
const MAX_CHANNELS = 200;
const MAX_CHANNEL_LENGTH = 100;

const channels = new Map();       // name -> Set of sockets

const wss = new WebSocketServer({
  host: opts.host,
  port: opts.port,
  path: opts.path,
  perMessageDeflate: false,
  maxPayload: 16 << 20,
});

function validChannel(c) {
  return typeof c === 'string' && c !== '' && Buffer.byteLength(c) < MAX_CHANNEL_LENGTH;
}

wss.on('connection', (ws) => {
  ws.alive = true;
  ws.ready = false;
  ws.subs = new Set();
  ws.on('pong', () => { ws.alive = true; });
  ws.on('message', (data) => {
    if (data.length >= MAX_LENGTH) return;
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (m === null || typeof m !== 'object' || Array.isArray(m) || typeof m.channel !== 'string') return;
    if ('action' in m) {
      if (m.action === 'CLIENT_READY') {
        ws.ready = true;
      } else if (m.action === 'SUBSCRIBE_CHANNEL_ACTION' && validChannel(m.channel)) {
        if (ws.subs.has(m.channel) || ws.subs.size >= MAX_CHANNELS) return;
        let set = channels.get(m.channel);
        if (!set) channels.set(m.channel, (set = new Set()));
        set.add(ws);
        ws.subs.add(m.channel);
      } else if (m.action === 'UNSUBSCRIBE_CHANNEL_ACTION' && ws.subs.delete(m.channel)) {
        const set = channels.get(m.channel);
        set.delete(ws);
        if (!set.size) channels.delete(m.channel);
      }
      return;
    }
    if (!('data' in m) || !validChannel(m.channel)) return;
    const set = channels.get(m.channel);
    if (!set) return;
    for (const s of set) s.send(data, { binary: false });
  });
  ws.on('close', () => {
    for (const c of ws.subs) {
      const set = channels.get(c);
      set.delete(ws);
      if (!set.size) channels.delete(c);
    }
    ws.subs.clear();
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

wss.on('listening', () => console.log(`listening ${opts.host}:${opts.port}`));
wss.on('error', (e) => { console.error(`relay.js: ${e.message}`); process.exit(1); });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
