// The facade against a scripted sio-backend (test/fake/sio-backend): each
// test prints event lines, lets the application react, closes the facade
// (the fake has read every command by the time it exits) and compares the
// command lines, byte for byte where the order of keys matters.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  attachMesh, CONNECT, DISCONNECT, ERROR, RECEIVE_MESSAGE, RECEIVE_SUBSCRIBE,
  RECEIVE_UNSUBSCRIBE, HIGH_LOAD, OVER_LOAD, AVAILABLE, DEFAULT_CHANNEL,
  READY, ADOPT, GONE, JOIN, LEAVE, DRAIN,
} from 'sio-socketiyo';

const FAKE = fileURLToPath(new URL('./fake/sio-backend', import.meta.url));
const A = 'inst-a#00000190a1b2c3d4.1';
const A2 = 'inst-a#00000190a1b2c3d4.2';
const B = 'inst-b#00000190a1b2c3d5.1';
const ready = { out: { event: 'READY', id: 'backend-1' } };
const connect = (conn, extra = {}) => ({
  out: {
    event: 'CONNECT', conn, instance: conn.split('#')[0], url: `ws://${conn.split('#')[0]}/socketiyo`,
    address: '127.0.0.1', path: '/socketiyo?room=1', origin: 'http://example.test', ...extra,
  },
});
const message = (conn, channel, data) => ({ out: { event: 'MESSAGE', conn, instance: conn.split('#')[0], channel, data } });

// start(t, script, options): a facade on the fake, its ERRORs collected.
function start(t, script, { mesh: meshOptions = {}, env = {} } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-socketiyo-'));
  const log = path.join(dir, 'commands');
  const mesh = attachMesh({
    sioBackend: FAKE,
    env: { ...process.env, FAKE_LOG: log, FAKE_SCRIPT: JSON.stringify(script), ...env },
    ...meshOptions,
  });
  const errors = [];
  mesh.on(ERROR, (err) => errors.push(err));
  t.after(async () => {
    await mesh.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const lines = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(0, -1) : []);
  const runs = () => fs.readFileSync(`${log}.args`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  return { mesh, errors, argsFile: `${log}.args`, lines, commands: () => lines().map((l) => JSON.parse(l)), runs };
}

async function until(ok, what = 'condition', ms = 5000) {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('sio-backend gets the bus peers, the id, --observe and the extra arguments', async (t) => {
  const f = start(t, [ready], {
    mesh: { busPeer: ['tcp://10.0.0.1:18080', 'tcp://10.0.0.2:18080'], id: 'app-1', observe: true, args: ['--inbox', 'tcp://127.0.0.1:*'] },
  });
  let readyEvent = null;
  f.mesh.on(READY, (e) => (readyEvent = e));
  await until(() => readyEvent, 'READY');
  assert.deepEqual(readyEvent, { id: 'backend-1' });
  assert.equal(f.mesh.id, 'backend-1');
  assert.equal(typeof f.mesh.pid, 'number');
  assert.deepEqual(await f.mesh.close(), { code: 0, signal: null });
  assert.equal(f.mesh.pid, undefined);
  assert.deepEqual(f.runs(), [[
    '--bus-peer', 'tcp://10.0.0.1:18080', '--bus-peer', 'tcp://10.0.0.2:18080',
    '--id', 'app-1', '--observe', '--inbox', 'tcp://127.0.0.1:*',
  ]]);
});

test('one bus peer may be a string; nothing else is added', async (t) => {
  const f = start(t, [], { mesh: { busPeer: 'tcp://127.0.0.1:18080' } });
  await f.mesh.close();
  assert.deepEqual(f.runs(), [['--bus-peer', 'tcp://127.0.0.1:18080']]);
});

test('by default the program is sio-backend, found on PATH', async (t) => {
  const f = start(t, [ready], {
    mesh: { sioBackend: undefined },
    env: { PATH: `${path.dirname(FAKE)}${path.delimiter}${process.env.PATH}` },
  });
  let readyEvent = null;
  f.mesh.on(READY, (e) => (readyEvent = e));
  await until(() => readyEvent, 'READY');
  assert.deepEqual(f.errors, []);
});

test("socketiyo's exampleServer: a greeting on CONNECT with send and sendAllExceptOne", async (t) => {
  const f = start(t, [ready, connect(A), connect(B)]);
  const server = f.mesh;
  const connected = [];
  server.on(CONNECT, (socket) => {
    connected.push(socket);
    server.send(socket, { message: 'welcome' });
    server.sendAllExceptOne(socket, { message: 'new connection' });
  });
  await until(() => connected.length === 2, 'two CONNECTs');
  server.sendAll(1700000000000);
  server.sendAll('It is over', 'game/end');
  await server.close();
  assert.deepEqual(f.lines(), [
    `{"cmd":"send","conn":"${A}","channel":"","data":{"message":"welcome"}}`,
    `{"cmd":"send_except","conn":"${A}","channel":"","data":{"message":"new connection"}}`,
    `{"cmd":"send","conn":"${B}","channel":"","data":{"message":"welcome"}}`,
    `{"cmd":"send_except","conn":"${B}","channel":"","data":{"message":"new connection"}}`,
    '{"cmd":"send_all","channel":"","data":1700000000000}',
    '{"cmd":"send_all","channel":"game/end","data":"It is over"}',
  ]);
  assert.deepEqual(f.errors, []);
});

test('the authentication flow: confirmation to that socket only, then its private channel', async (t) => {
  const f = start(t, [
    ready, connect(A), connect(B),
    message(A, 'AUTHENTICATE', { who: 'Me', proof: 'password' }),
    message(B, 'AUTHENTICATE', { who: 'Me', proof: 'guess' }),
    { waitFor: 2 },
    { out: { event: 'SUBSCRIBE', conn: A, instance: 'inst-a', channel: 'private/Me' } },
    message(A, 'game/input', 'left'),
    message(B, 'game/input', 'right'),
  ]);
  const server = f.mesh;
  const authenticate = async (who, proof) => (who === 'Me' && proof === 'password' ? 'user' : undefined);
  const sockets = [];
  const inputs = [];
  server.on(CONNECT, (socket) => {
    socket.authenticated = false;
    sockets.push(socket);
  });
  server.on('AUTHENTICATE', async ({ socket, data }) => {
    const { who, proof } = data;
    const level = await authenticate(who, proof);
    if (!level) return;
    socket.who = who;
    socket.level = level;
    socket.authenticated = true;
    server.send(socket, { level }, 'AUTHENTICATE_CONFIRMATION');
    server.subscribe(socket, `private/${who}`);
  });
  server.on('game/input', ({ socket, data }) => {
    inputs.push([socket, data]);
    if (socket.authenticated) server.send(socket, { accepted: data }, `private/${socket.who}`);
  });
  await until(() => inputs.length === 2, 'two inputs');
  await server.close();
  assert.deepEqual(f.lines(), [
    `{"cmd":"send","conn":"${A}","channel":"AUTHENTICATE_CONFIRMATION","data":{"level":"user"}}`,
    `{"cmd":"subscribe","conn":"${A}","channel":"private/Me"}`,
    `{"cmd":"send","conn":"${A}","channel":"private/Me","data":{"accepted":"left"}}`,
  ]);
  const [a, b] = sockets;
  assert.equal(inputs[0][0], a, 'one socket object for all the events of a connection');
  assert.equal(inputs[1][0], b);
  assert.deepEqual([a.authenticated, a.who, a.level], [true, 'Me', 'user']);
  assert.deepEqual([b.authenticated, b.who], [false, undefined]);
  assert.deepEqual([...a.channels], ['private/Me']);
});

test('messages: RECEIVE_MESSAGE with {channel, data, socket}, then the channel event with {data, socket}', async (t) => {
  const f = start(t, [
    connect(A),
    message(A, 'game/input', { x: 1, y: [2, 3] }),
    message(A, 'chat', 'hé ☃ 🌍'),
    { out: { event: 'SUBSCRIBE', conn: A, instance: 'inst-a', channel: 'news' } },
    { out: { event: 'SUBSCRIBE', conn: A, instance: 'inst-a', channel: 'game/end' } },
    { out: { event: 'UNSUBSCRIBE', conn: A, instance: 'inst-a', channel: 'news' } },
  ]);
  const seen = [];
  f.mesh.on(RECEIVE_MESSAGE, (e) => seen.push(['message', e]));
  f.mesh.on('game/input', (e) => seen.push(['game/input', e]));
  f.mesh.on(RECEIVE_SUBSCRIBE, (e) => seen.push(['subscribe', e, [...e.socket.channels]]));
  f.mesh.on(RECEIVE_UNSUBSCRIBE, (e) => seen.push(['unsubscribe', e, [...e.socket.channels]]));
  await until(() => seen.length === 6, 'six events');
  const socket = seen[0][1].socket;
  assert.deepEqual(seen, [
    ['message', { channel: 'game/input', data: { x: 1, y: [2, 3] }, socket }],
    ['game/input', { data: { x: 1, y: [2, 3] }, socket }],
    ['message', { channel: 'chat', data: 'hé ☃ 🌍', socket }],
    ['subscribe', { channel: 'news', socket }, ['news']],
    ['subscribe', { channel: 'game/end', socket }, ['news', 'game/end']],
    ['unsubscribe', { channel: 'news', socket }, ['game/end']],
  ]);
  assert.deepEqual(Object.keys(seen[0][1]), ['channel', 'data', 'socket']);
  assert.deepEqual(Object.keys(seen[1][1]), ['data', 'socket']);
});

test('a socket carries the connection: id, instance, url, address, path, origin', async (t) => {
  const f = start(t, [connect(A)]);
  let socket = null;
  f.mesh.on(CONNECT, (s) => (socket = s));
  await until(() => socket, 'CONNECT');
  assert.equal(socket.id, A);
  assert.equal(socket.instance, 'inst-a');
  assert.equal(socket.url, 'ws://inst-a/socketiyo');
  assert.equal(socket.address, '127.0.0.1');
  assert.equal(socket.path, '/socketiyo?room=1');
  assert.equal(socket.origin, 'http://example.test');
  assert.equal(`${socket}`, A);
  assert.equal(socket.disconnection, null);
  assert.deepEqual([...f.mesh.connectionsPool], [socket]);
});

test('DISCONNECT drops the socket, with the code, reason and why', async (t) => {
  const f = start(t, [
    connect(A), connect(B),
    { out: { event: 'DISCONNECT', conn: A, instance: 'inst-a', code: 1001, reason: 'bye', why: 'client' } },
  ]);
  const connected = [];
  const gone = [];
  f.mesh.on(CONNECT, (s) => connected.push(s));
  f.mesh.on(DISCONNECT, (s) => gone.push(s));
  await until(() => gone.length === 1, 'DISCONNECT');
  assert.equal(gone[0], connected[0]);
  assert.deepEqual(gone[0].disconnection, { code: 1001, reason: 'bye', why: 'client' });
  assert.deepEqual([...f.mesh.connectionsPool], [connected[1]]);
});

test('LEAVE of an instance ends all its connections, and only its', async (t) => {
  const f = start(t, [
    connect(A), connect(A2), connect(B),
    { out: { event: 'LEAVE', instance: 'inst-a', url: 'ws://inst-a/socketiyo', why: 'dead' } },
  ]);
  const order = [];
  f.mesh.on(DISCONNECT, (s) => order.push(['DISCONNECT', s.id, s.disconnection.why]));
  f.mesh.on(LEAVE, (e) => order.push(['LEAVE', e]));
  await until(() => order.length === 3, 'LEAVE');
  assert.deepEqual(order, [
    ['DISCONNECT', A, 'leave'],
    ['DISCONNECT', A2, 'leave'],
    ['LEAVE', { instance: 'inst-a', url: 'ws://inst-a/socketiyo', why: 'dead' }],
  ]);
  assert.deepEqual([...f.mesh.connectionsPool].map((s) => s.id), [B]);
});

test('a connection from a later boot of an instance ends those of its earlier boots', async (t) => {
  const later = 'inst-a#00000190a1b2c3ff.1';
  const f = start(t, [
    connect(A), connect(A2), connect(B), connect(later),
    message(A2, 'chat', 'from the earlier boot: ignored'), message(later, 'chat', 'last'),
  ]);
  let last = null;
  f.mesh.on('chat', (e) => (last = e));
  const order = [];
  f.mesh.on(CONNECT, (s) => order.push(['CONNECT', s.id]));
  f.mesh.on(DISCONNECT, (s) => order.push(['DISCONNECT', s.id, s.disconnection.why]));
  await until(() => last, 'the last message');
  assert.equal(last.socket.id, later);
  assert.deepEqual([...f.mesh.connectionsPool].map((s) => s.id), [B, later]);
  assert.deepEqual(order, [
    ['CONNECT', A], ['CONNECT', A2], ['CONNECT', B],
    ['DISCONNECT', A, 'restart'], ['DISCONNECT', A2, 'restart'], ['CONNECT', later],
  ]);
});

test('ADOPT brings a socket with its channels, and no CONNECT', async (t) => {
  const f = start(t, [
    { out: { ...connect(A).out, event: 'ADOPT', channels: ['news', 'private/Me'], from: 'backend-0' } },
    message(A, 'chat', 1),
  ]);
  const events = [];
  f.mesh.on(CONNECT, (s) => events.push(['CONNECT', s]));
  f.mesh.on(ADOPT, (s) => events.push(['ADOPT', s]));
  f.mesh.on('chat', ({ socket }) => events.push(['chat', socket]));
  await until(() => events.length === 2, 'ADOPT and a message');
  const socket = events[0][1];
  assert.deepEqual(events, [['ADOPT', socket], ['chat', socket]]);
  assert.equal(socket.adoptedFrom, 'backend-0');
  assert.equal(socket.path, '/socketiyo?room=1');
  assert.deepEqual([...socket.channels], ['news', 'private/Me']);
  assert.deepEqual([...f.mesh.connectionsPool], [socket]);
});

test('GONE: a command for a connection the instance no longer has', async (t) => {
  const f = start(t, [
    connect(A),
    { waitFor: 1 },
    { out: { event: 'GONE', conn: A, instance: 'inst-a', cmd: 'send' } },
    { out: { event: 'GONE', conn: B, instance: 'inst-b', cmd: 'close' } },
  ]);
  const events = [];
  f.mesh.on(CONNECT, (s) => f.mesh.send(s, 'hello'));
  f.mesh.on(GONE, (e) => events.push(['GONE', e]));
  f.mesh.on(DISCONNECT, (s) => events.push(['DISCONNECT', s]));
  await until(() => events.length === 3, 'GONE twice');
  const socket = events[0][1].socket;
  assert.equal(socket.id, A);
  assert.deepEqual(events, [
    ['GONE', { conn: A, instance: 'inst-a', cmd: 'send', socket }],
    ['DISCONNECT', socket],
    ['GONE', { conn: B, instance: 'inst-b', cmd: 'close', socket: null }],
  ]);
  assert.equal(socket.disconnection.why, 'gone');
  assert.equal(f.mesh.connectionsPool.size, 0);
});

test('an event for a connection never seen still comes with a socket', async (t) => {
  const f = start(t, [message(B, 'chat', null)]);
  let seen = null;
  f.mesh.on(RECEIVE_MESSAGE, (e) => (seen = e));
  await until(() => seen, 'the message');
  assert.equal(seen.socket.id, B);
  assert.equal(seen.socket.instance, 'inst-b');
  assert.equal(seen.data, null);
  assert.equal(f.mesh.connectionsPool.size, 1);
});

test('load and mesh events: {instance, url, why}', async (t) => {
  const names = ['HIGH_LOAD', 'OVER_LOAD', 'AVAILABLE', 'JOIN', 'DRAIN'];
  const f = start(t, names.map((event) => ({ out: { event, instance: 'inst-a', url: 'ws://a/socketiyo', why: event === 'DRAIN' ? 'stop' : '' } })));
  const seen = [];
  for (const [name, symbol] of [['HIGH_LOAD', HIGH_LOAD], ['OVER_LOAD', OVER_LOAD], ['AVAILABLE', AVAILABLE], ['JOIN', JOIN], ['DRAIN', DRAIN]]) {
    f.mesh.on(symbol, (e) => seen.push([name, e]));
  }
  await until(() => seen.length === 5, 'five events');
  assert.deepEqual(seen, names.map((name) => [name, { instance: 'inst-a', url: 'ws://a/socketiyo', why: name === 'DRAIN' ? 'stop' : '' }]));
});

test('socket.close, subscribe, unsubscribe, and a connection id for a socket', async (t) => {
  const f = start(t, [connect(A)]);
  let socket = null;
  f.mesh.on(CONNECT, (s) => (socket = s));
  await until(() => socket, 'CONNECT');
  socket.close(4000, 'kicked');
  socket.close();
  assert.throws(() => socket.close(1001), TypeError);
  assert.throws(() => socket.close(5000), TypeError);
  assert.throws(() => socket.close(4000, 'x'.repeat(124)), RangeError);
  f.mesh.subscribe(socket, 'private/1');
  f.mesh.unsubscribe(A, 'private/1');
  f.mesh.send(B, undefined, 'news');
  f.mesh.send(B, 'ünï ✓', 'news');
  f.mesh.sendAll(undefined);
  assert.throws(() => f.mesh.send({}, 1), TypeError);
  await f.mesh.close();
  assert.deepEqual(f.lines(), [
    `{"cmd":"close","conn":"${A}","code":4000,"reason":"kicked"}`,
    `{"cmd":"close","conn":"${A}","code":1000,"reason":""}`,
    `{"cmd":"subscribe","conn":"${A}","channel":"private/1"}`,
    `{"cmd":"unsubscribe","conn":"${A}","channel":"private/1"}`,
    `{"cmd":"send","conn":"${B}","channel":"news","data":null}`,
    `{"cmd":"send","conn":"${B}","channel":"news","data":"ünï ✓"}`,
    '{"cmd":"send_all","channel":"","data":null}',
  ]);
  assert.equal(DEFAULT_CHANNEL, '');
});

test('off(event, fn), off(event) and off()', async (t) => {
  const f = start(t, [
    connect(A), { waitFor: 1 }, connect(A2), { waitFor: 2 }, connect(B), { waitFor: 3 },
    { out: 'not a line' }, { waitFor: 4 }, connect('inst-c#0000000000000001.1'),
  ]);
  const calls = [];
  const first = (s) => calls.push(['first', s.id]);
  const second = (s) => calls.push(['second', s.id]);
  f.mesh.on(CONNECT, first);
  f.mesh.on(CONNECT, second);
  await until(() => calls.length === 2, 'A');
  f.mesh.off(CONNECT, first);
  f.mesh.sendAll(1);
  await until(() => calls.length === 3, 'A2');
  f.mesh.off(CONNECT);
  f.mesh.sendAll(2);
  await until(() => f.mesh.connectionsPool.size === 3, 'B');
  f.mesh.off();
  f.mesh.sendAll(3);
  await until(() => f.lines().length === 3, 'the third command');
  f.mesh.sendAll(4);
  await until(() => f.mesh.connectionsPool.size === 4, 'C');
  assert.deepEqual(calls, [['first', A], ['second', A], ['second', A2]]);
  assert.equal(f.errors.length, 0, 'the bad line came after off(): no ERROR listener left');
});

test('close() ends the input, waits for the exit and forgets listeners and sockets', async (t) => {
  const f = start(t, [connect(A)]);
  let socket = null;
  f.mesh.on(CONNECT, (s) => (socket = s));
  await until(() => socket, 'CONNECT');
  const closing = f.mesh.close();
  assert.equal(f.mesh.close(), closing, 'a second close() is the same');
  f.mesh.sendAll('after close');
  assert.deepEqual(await closing, { code: 0, signal: null });
  f.mesh.send(socket, 'after exit');
  assert.deepEqual(f.lines(), []);
  assert.equal(f.mesh.connectionsPool.size, 0);
  assert.deepEqual(f.errors, []);
});

test('close() stops a backend that does not leave by itself', async (t) => {
  const f = start(t, [{ ignoreEof: true }], { mesh: { closeTimeout: 100 } });
  await until(() => fs.existsSync(f.argsFile), 'the start');
  assert.deepEqual(await f.mesh.close(), { code: null, signal: 'SIGTERM' });
});

test('ERROR on lines that are not events, and on error lines (with the command they refuse)', async (t) => {
  const f = start(t, [
    { out: 'not JSON' }, { out: '[1,2]' }, { out: { event: 'NOPE' } }, { out: { event: 'MESSAGE', channel: 'x' } },
    { out: { event: 'toString' } },
    { waitFor: 1 },
    { out: { error: 'bad conn id', line: 1 } },
  ]);
  await until(() => f.errors.length === 5, 'five bad lines');
  f.mesh.send('not-an-id', 1);
  await until(() => f.errors.length === 6, 'the error line');
  assert.deepEqual(f.errors.slice(0, 5).map((e) => e.text), ['not JSON', '[1,2]', '{"event":"NOPE"}', '{"event":"MESSAGE","channel":"x"}', '{"event":"toString"}']);
  const refused = f.errors[5];
  assert.match(refused.message, /refused command line 1: bad conn id/);
  assert.equal(refused.line, 1);
  assert.equal(refused.sent, '{"cmd":"send","conn":"not-an-id","channel":"","data":1}');
});

test('a backend that dies is an ERROR and starts again; its sockets go (no fixed id)', async (t) => {
  const f = start(t, [
    [ready, connect(A), { exit: 3 }],
    [ready, connect(B)],
  ], { mesh: { restartDelay: 20 } });
  const events = [];
  f.mesh.on(READY, () => events.push('READY'));
  f.mesh.on(CONNECT, (s) => events.push(`CONNECT ${s.id}`));
  f.mesh.on(DISCONNECT, (s) => events.push(`DISCONNECT ${s.id} ${s.disconnection.why}`));
  f.mesh.on(ERROR, (e) => events.push(`ERROR ${e.code}`));
  await until(() => events.length === 6, 'the restart');
  assert.deepEqual(events, ['READY', `CONNECT ${A}`, 'ERROR 3', `DISCONNECT ${A} backend`, 'READY', `CONNECT ${B}`]);
  assert.match(f.errors[0].message, /exited \(code 3\), restarting/);
  assert.equal(f.runs().length, 2);
  f.mesh.sendAll('to the second');
  await f.mesh.close();
  assert.deepEqual(f.commands(), [{ cmd: 'send_all', channel: '', data: 'to the second' }]);
});

test('with a fixed id the sockets outlive a restart; commands wait for it', async (t) => {
  const f = start(t, [
    [connect(A), { exit: 1 }],
    [ready],
  ], { mesh: { id: 'app-1', restartDelay: 50 } });
  let socket = null;
  let readyCount = 0;
  f.mesh.on(CONNECT, (s) => (socket = s));
  f.mesh.on(READY, () => (readyCount += 1));
  await until(() => f.errors.length === 1, 'the exit');
  f.mesh.send(socket, 'while down');
  await until(() => readyCount === 1, 'the second run');
  await f.mesh.close();
  assert.deepEqual([...f.mesh.connectionsPool], []);
  assert.equal(socket.disconnection, null, 'no DISCONNECT for a socket kept over a restart');
  assert.deepEqual(f.commands(), [{ cmd: 'send', conn: A, channel: '', data: 'while down' }]);
  assert.deepEqual(f.runs(), [['--id', 'app-1'], ['--id', 'app-1']]);
});

test('no restart with restart: false, nor after a usage or configuration exit', async (t) => {
  for (const [script, options] of [[[{ exit: 1 }], { restart: false }], [[{ exit: 78 }], {}], [[{ exit: 64 }], {}]]) {
    const f = start(t, script, { mesh: { restartDelay: 1, ...options } });
    await until(() => f.errors.length === 1, 'the exit');
    await sleep(100);
    assert.equal(f.runs().length, 1);
    assert.doesNotMatch(f.errors[0].message, /restarting/);
    f.mesh.sendAll('nowhere');
    assert.match(f.errors[1].message, /send_all dropped/);
  }
});

test('a missing program is an ERROR', async (t) => {
  const f = start(t, [], { mesh: { sioBackend: path.join(os.tmpdir(), 'no-such-dir', 'sio-backend'), restart: false } });
  await until(() => f.errors.length === 2, 'two ERRORs');
  assert.equal(f.errors[0].code, 'ENOENT');
  assert.match(f.errors[1].message, /exited/);
});

test('backpressure: commands wait in a bounded queue, past it they are dropped with an ERROR', async (t) => {
  const f = start(t, [ready], { mesh: { maxQueue: 4 }, env: { FAKE_HOLD: '1' } });
  // READY comes after the fake set its SIGUSR2 handler.
  let isReady = false;
  f.mesh.on(READY, () => (isReady = true));
  await until(() => isReady, 'READY');
  const big = 'x'.repeat(32 * 1024);
  const total = 40;
  for (let i = 0; i < total; i += 1) f.mesh.sendAll({ i, big });
  const dropped = f.errors.length;
  assert.ok(dropped > 0 && dropped < total - 4, `${dropped} dropped`);
  assert.ok(f.errors.every((e) => /send_all dropped/.test(e.message) && e.command.cmd === 'send_all'));
  assert.deepEqual(f.errors.map((e) => e.command.data.i), Array.from({ length: dropped }, (_, k) => total - dropped + k));
  process.kill(f.mesh.pid, 'SIGUSR2');
  await f.mesh.close();
  assert.deepEqual(f.commands().map((c) => c.data.i), Array.from({ length: total - dropped }, (_, k) => k));
});

test("socketiyo's own Symbols can stand for the events (option symbols)", async (t) => {
  const theirs = { CONNECT: Symbol('their CONNECT'), DISCONNECT: Symbol('their DISCONNECT'), ERROR: Symbol('their ERROR') };
  const f = start(t, [connect(A), { out: { event: 'DISCONNECT', conn: A, instance: 'inst-a', code: 1000, reason: '', why: 'client' } }, { out: 'bad' }], { mesh: { symbols: theirs } });
  const seen = [];
  f.mesh.on(CONNECT, () => seen.push('ours'));
  f.mesh.on(theirs.CONNECT, () => seen.push('CONNECT'));
  f.mesh.on(theirs.DISCONNECT, () => seen.push('DISCONNECT'));
  f.mesh.on(theirs.ERROR, () => seen.push('ERROR'));
  await until(() => seen.length === 3, 'three events');
  assert.deepEqual(seen, ['CONNECT', 'DISCONNECT', 'ERROR']);
});
