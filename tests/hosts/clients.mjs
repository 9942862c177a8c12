// Clients of the browser module (web/sio-client.js) under Node.js, for the
// tests of tests/hosts/: the module's own reconnect logic, unchanged, with
// Node's WebSocket and fetch standing in for the browser's.
//
//   node --experimental-websocket clients.mjs --module PATH.mjs [options]
//
//   --count N          clients in this process (1)
//   --announcer URL    ask this sio-announce for /endpoints.json before every
//                      (re)connect, as pages do
//   --url URL          or always this one URL: the reference client's way,
//                      retrying it for ever
//   --delay MS         reconnectDelay of the module (1000)
//   --channel C        subscribe to C (none)
//   --every MS         each client publishes {"c":I,"n":K} on C every MS
//   --recover 1        the module's recovery on (positions, resubscribe)
//   --tag T            publishers' messages carry "p":T, so that those of
//                      several processes are told apart
//
// Standard output gets one JSON line per event, "t" the wall clock in ms:
//   {"t":..,"c":I,"ev":"open","url":U}
//   {"t":..,"c":I,"ev":"close","code":N,"reason":R,"url":U}   (U null: no
//        endpoint from the announcer)
//   {"t":..,"ev":"stats","recv":N,"sent":N,"each":[N,..],"dups":N,"holes":N,
//        "gaps":N,"holesEach":[N,..]}   every second: messages received and published by all
//        clients, and received by each; of the messages {"p","c","n"}
//        received, those seen before by that client (dups) and the numbers
//        skipped (holes); RECOVERY_GAP news heard (gaps)
//   {"t":..,"c":I,"ev":"gap","channel":C,"why":W}  and  {"ev":"recovered",
//        "count":N}
// and on SIGTERM the clients close with 1000 and it exits 0.
import { pathToFileURL } from 'node:url';

// A browser fires close (1006) after the error of a connection that never
// opened; the WebSocket of Node 20 fires only the error and stays
// CONNECTING, which would leave the module waiting for ever. This makes
// Node's behave as the browser's does, and nothing more.
const NodeWebSocket = globalThis.WebSocket;
globalThis.WebSocket = class extends NodeWebSocket {
  constructor(...args) {
    super(...args);
    let opened = false;
    let closed = false;
    this.addEventListener('open', () => { opened = true; });
    this.addEventListener('close', (event) => {
      if (closed && !event.synthetic) event.stopImmediatePropagation();
      closed = true;
    });
    this.addEventListener('error', () => {
      if (opened) return;
      setTimeout(() => {
        if (closed) return;
        const event = Object.assign(new Event('close'),
          { code: 1006, reason: '', wasClean: false, synthetic: true });
        this.dispatchEvent(event);
      }, 0);
    });
  }
};

const opt = { count: '1', delay: '1000', channel: '', every: '0', recover: '0', tag: '' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
    process.stderr.write(`clients.mjs: bad argument ${argv[i]}\n`);
    process.exit(64);
  }
  opt[argv[i].slice(2)] = argv[i + 1];
}
const { connect } = await import(pathToFileURL(opt.module).href);

const log = (event) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...event })}\n`);
let recv = 0;
let sent = 0;
let dups = 0;
let holes = 0;
let gaps = 0;
const holesEach = [];
const each = [];
// Per client, per publisher (p/c): the last n received.
const last = [];
const check = (c, data) => {
  if (!data || typeof data.n !== 'number') return;
  const key = `${data.p ?? ''}/${data.c}`;
  const had = last[c].get(key);
  if (had !== undefined && data.n <= had) dups++;
  else {
    if (had !== undefined && data.n > had + 1) {
      holes += data.n - had - 1;
      holesEach[c] += data.n - had - 1;
    }
    last[c].set(key, data.n);
  }
};
const clients = [];
for (let c = 0; c < Number(opt.count); c++) {
  each.push(0);
  last.push(new Map());
  holesEach.push(0);
  const sio = connect({
    announcer: opt.announcer || '',
    url: opt.url || null,
    channels: opt.channel ? [opt.channel] : [],
    reconnectDelay: Number(opt.delay),
    onOpen: (url) => log({ c, ev: 'open', url }),
    onClose: ({ code, reason, url }) => log({ c, ev: 'close', code, reason, url }),
    onMessage: (channel, data) => { recv++; each[c]++; check(c, data); },
    recover: opt.recover === '1',
    onGap: (channel, why) => { gaps++; log({ c, ev: 'gap', channel, why }); },
    onRecovered: (channel, count) => log({ c, ev: 'recovered', channel, count }),
  });
  clients.push(sio);
  if (opt.channel && Number(opt.every) > 0) {
    let n = 0;
    setInterval(() => {
      if (sio.open) {
        sio.publish(opt.channel, opt.tag ? { p: opt.tag, c, n: ++n } : { c, n: ++n });
        sent++;
      }
    }, Number(opt.every));
  }
}
setInterval(() => log({ ev: 'stats', recv, sent, each, dups, holes, gaps, holesEach }), 1000);
process.on('SIGTERM', () => {
  for (const sio of clients) sio.close();
  log({ ev: 'stats', recv, sent, each, dups, holes, gaps, holesEach });
  process.exit(0);
});
