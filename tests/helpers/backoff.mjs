// The browser module's reconnect schedule (web/sio-client.js), under Node
// with a scripted fetch, WebSocket and clock: prints one JSON line per wait
// the module asks for, {"attempt":N,"delay":MS,"retryIn":MS}, then "END".
//
//   node backoff.mjs MODULE FAILURES [OPEN_AFTER]
//
// The announcer fails FAILURES times in a row; then an endpoint opens and
// closes at once, and the announcer fails again OPEN_AFTER times: the waits
// after the open must start over from reconnectDelay.
const [moduleFile, failuresArg, openAfterArg = '0'] = process.argv.slice(2);
const failures = Number(failuresArg);
const openAfter = Number(openAfterArg);

let fetches = 0;
globalThis.fetch = async () => {
  fetches += 1;
  if (fetches === failures + 1)
    return { ok: true, json: async () => ['ws://127.0.0.1:1/socketiyo'] };
  throw new Error('connection refused');
};

class FakeSocket {
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = {};
    queueMicrotask(() => {
      this.readyState = FakeSocket.OPEN;
      this.emit('open', {});
      this.readyState = 3;
      this.emit('close', { code: 1001, reason: 'going away' });
    });
  }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  emit(type, event) { for (const fn of this.listeners[type] || []) fn(event); }
  send() {}
  close() {}
}
globalThis.WebSocket = FakeSocket;

// The clock: each wait is recorded and run at once.
const closes = [];
const waits = [];
const total = failures + 1 + openAfter;
globalThis.setTimeout = (fn, delay) => {
  waits.push(delay);
  if (waits.length < total) queueMicrotask(fn);
  else finish();
  return waits.length;
};

let sio;
function finish() {
  sio.close();
  waits.forEach((delay, i) =>
    console.log(JSON.stringify({ attempt: i + 1, delay, retryIn: closes[i] })));
  console.log('END');
}

const { connect } = await import(moduleFile);
sio = connect({
  announcer: 'http://127.0.0.1:1',
  reconnectDelay: 1000,
  maxReconnectDelay: 8000,
  onClose: ({ retryIn }) => closes.push(retryIn),
});
