#!/usr/bin/env node
// The application of make bench's app points through the Node module
// (node/sio-socketiyo): socketiyo's code as it runs on the mesh, the same
// application as bench/reference/app.js and bench/appbackend.c ("echo" back
// to the sender, "shout" to everyone but the sender), counting the
// RECEIVE_MESSAGE events it takes.
//
//   node bench/app-node.mjs --bus-peer ENDPOINT [--sio-backend PATH] [--stats FILE]
//
// Prints READY on standard error once attached; on SIGTERM or SIGINT writes
// {"events":N,"span_s":S,"events_per_s":R} to FILE and exits.
import fs from 'node:fs';
import { attachMesh, READY, RECEIVE_MESSAGE, ERROR } from '../node/sio-socketiyo/index.js';

const opts = { 'bus-peer': '', 'sio-backend': 'sio-backend', stats: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in opts) || i + 1 >= process.argv.length) {
    console.error(`app-node.mjs: unknown option or missing value: ${process.argv[i]}`);
    process.exit(64);
  }
  opts[key] = process.argv[i + 1];
}

const server = attachMesh({ busPeer: opts['bus-peer'], sioBackend: opts['sio-backend'], restart: false });
const counted = { events: 0, first: 0n, last: 0n };

server.on(READY, () => console.error('READY'));
server.on(ERROR, (e) => console.error(`app-node.mjs: ${e.message}`));
server.on(RECEIVE_MESSAGE, () => {
  const now = process.hrtime.bigint();
  if (!counted.events++) counted.first = now;
  counted.last = now;
});
// The application, as socketiyo code writes it: one handler per channel.
server.on('echo', ({ socket, data }) => server.send(socket, data, 'echo'));
server.on('shout', ({ socket, data }) => server.sendAllExceptOne(socket, data));

function stop() {
  const span = Number(counted.last - counted.first) / 1e9;
  if (opts.stats) {
    fs.writeFileSync(opts.stats, JSON.stringify({
      events: counted.events, span_s: span,
      events_per_s: span > 0 ? (counted.events - 1) / span : 0,
    }) + '\n');
  }
  server.close().finally(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
