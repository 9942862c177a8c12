// A few DevTools protocol calls on the page of a headless Chromium, for the
// bats tests (Node 20: node --experimental-websocket cdp.mjs ...):
//
//   cdp.mjs PORT eval EXPR              prints EXPR's value, as JSON
//   cdp.mjs PORT wait EXPR SECONDS      polls EXPR every 20 ms until it is
//                                       truthy, prints it; exit 1 at the deadline
//   cdp.mjs PORT shot FILE [WIDTH]      the whole page as a PNG, WIDTH css px wide
//
// PORT is Chromium's --remote-debugging-port; the page is its first tab.
import { writeFileSync } from 'node:fs';

const [port, cmd, arg, extra] = process.argv.slice(2);

async function page() {
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/json/list`);
      const tab = (await r.json()).find((t) => t.type === 'page');
      if (tab) return tab.webSocketDebuggerUrl;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`no page on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function session(url) {
  const ws = new WebSocket(url);
  const pending = new Map();
  let next = 1;
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result);
  };
  const opened = new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot open ${url}`));
  });
  const call = (method, params = {}) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
  return { opened, call, close: () => ws.close() };
}

async function evaluate(s, expression) {
  const r = await s.call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description || 'exception');
  return r.result.value;
}

const s = session(await page());
await s.opened;
let rc = 0;
try {
  if (cmd === 'eval') {
    console.log(JSON.stringify(await evaluate(s, arg)));
  } else if (cmd === 'wait') {
    const deadline = Date.now() + Number(extra || 10) * 1000;
    let v;
    while (!(v = await evaluate(s, arg).catch(() => undefined))) {
      if (Date.now() > deadline) {
        console.error(`cdp wait: still false after ${extra || 10} s: ${arg}`);
        rc = 1;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!rc) console.log(JSON.stringify(v));
  } else if (cmd === 'shot') {
    const width = Number(extra || 1280);
    await s.call('Emulation.setDeviceMetricsOverride',
      { width, height: 800, deviceScaleFactor: 1, mobile: width < 600 });
    const height = await evaluate(s, 'document.documentElement.scrollHeight');
    await s.call('Emulation.setDeviceMetricsOverride',
      { width, height: Math.min(height, 4000), deviceScaleFactor: 1, mobile: width < 600 });
    const shot = await s.call('Page.captureScreenshot', { format: 'png' });
    writeFileSync(arg, Buffer.from(shot.data, 'base64'));
    await s.call('Emulation.clearDeviceMetricsOverride');
  } else {
    console.error(`cdp: unknown command ${cmd}`);
    rc = 64;
  }
} catch (e) {
  console.error(`cdp: ${e.message}`);
  rc = 1;
}
s.close();
process.exit(rc);
