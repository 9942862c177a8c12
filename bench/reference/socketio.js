#!/usr/bin/env node
// bench/reference/socketio.js --port P --redis URL: one Socket.IO 4.8 node
// with the Redis adapter, the usual way to run Socket.IO on more than one
// server. The same job as a sio-serve instance in the sweep of make bench:
// a client joins a room ("sub", channel), another publishes to it ("pub",
// channel, data), and every node's members of the room get it ("msg").
'use strict';

const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};

async function main() {
  const port = Number(arg('--port', 8080));
  const url = arg('--redis', 'redis://127.0.0.1:6379');
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const io = new Server(port, { transports: ['websocket'], adapter: createAdapter(pub, sub) });
  io.on('connection', (socket) => {
    socket.on('sub', (channel) => socket.join(channel));
    socket.on('pub', (channel, data) => io.to(channel).emit('msg', data));
  });
  console.log(`listening ${port}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
