// The examples as they are, each run with the scripted sio-backend in place
// of the real one (SIO_BACKEND): what they send for what the fake tells them.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const FAKE = here('./fake/sio-backend');
const A = 'inst-a#00000190a1b2c3d4.1';
const B = 'inst-b#00000190a1b2c3d5.1';
const C = 'inst-b#00000190a1b2c3d5.2';
const ready = { out: { event: 'READY', id: 'backend-1' } };
const connect = (conn, event = 'CONNECT', extra = {}) => ({
  out: { event, conn, instance: conn.split('#')[0], url: 'ws://x/socketiyo', address: '127.0.0.1', path: '/socketiyo', origin: '', ...extra },
});
const message = (conn, channel, data) => ({ out: { event: 'MESSAGE', conn, instance: conn.split('#')[0], channel, data } });

async function until(ok, what, ms = 8000) {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// runExample(t, file, script): the example running on the fake; lines()
// the commands it sent so far, output() what it printed.
function runExample(t, file, script) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-socketiyo-example-'));
  const log = path.join(dir, 'commands');
  let output = '';
  const child = spawn(process.execPath, [here(`../examples/${file}`)], {
    env: { ...process.env, SIO_BACKEND: FAKE, FAKE_LOG: log, FAKE_SCRIPT: JSON.stringify(script) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('close', resolve));
  t.after(async () => {
    child.kill();
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const lines = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(0, -1) : []);
  return { lines, output: () => output, args: () => fs.readFileSync(`${log}.args`, 'utf8') };
}

test('examples/exampleServer.js: greetings, the time for all, game/input logged', async (t) => {
  const run = runExample(t, 'exampleServer.js', [ready, connect(A), connect(B), message(A, 'game/input', 5)]);
  await until(() => run.lines().length >= 5 && run.output().includes('send us'), 'the greetings and the time');
  const lines = run.lines();
  assert.deepEqual(lines.slice(0, 4), [
    `{"cmd":"send","conn":"${A}","channel":"","data":{"message":"welcome"}}`,
    `{"cmd":"send_except","conn":"${A}","channel":"","data":{"message":"new connection"}}`,
    `{"cmd":"send","conn":"${B}","channel":"","data":{"message":"welcome"}}`,
    `{"cmd":"send_except","conn":"${B}","channel":"","data":{"message":"new connection"}}`,
  ]);
  assert.match(lines[4], /^\{"cmd":"send_all","channel":"","data":\d+\}$/);
  assert.match(run.output(), new RegExp(`${A.replace(/[.#]/g, '\\$&')} send us 5`));
  assert.match(run.output(), /websocket connected/);
  assert.equal(run.args(), '["--bus-peer","tcp://127.0.0.1:18080"]\n');
});

test('examples/authentication.js: confirm, subscribe to the private channel, then trust the socket', async (t) => {
  const run = runExample(t, 'authentication.js', [
    ready, connect(A), connect(B),
    message(A, 'AUTHENTICATE', { who: 'Me', proof: 'password' }),
    message(B, 'AUTHENTICATE', { who: 'Me', proof: 'nope' }),
    { waitFor: 2 },
    message(A, 'chat', 'hi'),
    message(B, 'chat', 'spam'),
    connect(C, 'ADOPT', { channels: ['chat', 'private/Boss'], from: 'backend-0' }),
    message(C, 'chat', 'still me'),
  ]);
  await until(() => run.lines().length >= 4, 'four commands');
  // Anything more would have come by now: B's messages came before C's.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(run.lines(), [
    `{"cmd":"send","conn":"${A}","channel":"AUTHENTICATE_CONFIRMATION","data":{"level":"user"}}`,
    `{"cmd":"subscribe","conn":"${A}","channel":"private/Me"}`,
    '{"cmd":"send_all","channel":"chat","data":{"who":"Me","text":"hi"}}',
    '{"cmd":"send_all","channel":"chat","data":{"who":"Boss","text":"still me"}}',
  ]);
});
