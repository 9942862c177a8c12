// sio browser module: connects a page to a sio mesh with the socketiyo
// protocol. Unlike the reference client, which retries its one URL forever,
// it asks the announcer for a fresh endpoint before every (re)connect, so a
// page leaves a dead or draining instance by itself.
//
//   import { connect } from './sio-client.js';
//   const sio = connect({ announcer: 'http://127.0.0.1:8090', channels: ['news'],
//                         onMessage: (channel, data) => console.log(channel, data) });
//   sio.publish('news', { hello: 'mesh' });
//
// Reconnects back off: the first waits reconnectDelay, each failure doubles
// it up to maxReconnectDelay, and each wait is drawn at random between half
// of it and all of it, so that the clients of an instance that died do not
// come back in step (thousands retrying on the same tick are a flood of
// their own making). An open connection starts the sequence over.
//
// A close that names another instance (1001 drain, 1012 rebalance, 1013
// full: "... try ws://HOST:PORT/PATH") sends the next attempt there.
//
// Recovery (opt-in, `recover: true`; sio(7) RECOVERY): the module remembers,
// per channel, the position of the last message it got, and resubscribes
// with it after a reconnect, to whichever instance: that instance sends what
// was missed, in order, then live messages; messages already seen are
// dropped. When the instance's history cannot cover the gap, onGap(channel,
// why) is called at once (why: no_history, evicted, missed, bad_position),
// before what the history does hold. Without `recover` the frames on the
// wire are exactly the reference client's.

// Picks one endpoint at random from the announcer's list, as sio-pick does.
export async function pickEndpoint(announcer = '') {
  const response = await fetch(`${announcer}/endpoints.json`, { cache: 'no-store' });
  if (!response.ok) throw new Error(`announcer answered ${response.status}`);
  const urls = await response.json();
  if (!Array.isArray(urls) || urls.length === 0) throw new Error('no endpoint available');
  return urls[Math.floor(Math.random() * urls.length)];
}

export function connect({
  announcer = '',
  url = null,              // a fixed endpoint instead of asking the announcer
  channels = [],
  onMessage = () => {},
  onOpen = () => {},
  onClose = () => {},
  recover = false,         // resubscribe with positions after a reconnect
  onGap = () => {},        // (channel, why): what was missed cannot all come
  onRecovered = () => {},  // (channel, count): count missed messages replayed
  reconnectDelay = 1000,   // ms before the first new attempt
  maxReconnectDelay = 30000, // ms, the longest wait between attempts
} = {}) {
  let socket = null;
  let stopped = false;
  let failures = 0;        // attempts in a row that ended without an open
  const subscribed = new Set(channels);
  // channel -> { t, o: { origin: [boot, seq] } }: what it has of each.
  const positions = new Map();
  let nextUrl = null;      // where the last close told it to go

  const send = (message) => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };

  // The next wait, "equal jitter": half fixed so that a client never hammers,
  // half random so that many clients spread out.
  const nextDelay = () => {
    const ceiling = Math.min(maxReconnectDelay, reconnectDelay * 2 ** Math.min(failures, 30));
    failures += 1;
    return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
  };

  const retry = (info) => {
    const retryIn = stopped ? null : nextDelay();
    onClose({ ...info, retryIn });
    if (!stopped) setTimeout(open, retryIn);
  };

  async function open() {
    let endpoint;
    try {
      endpoint = nextUrl || url || await pickEndpoint(announcer);
      nextUrl = null;
    } catch (error) {
      retry({ code: 0, reason: String(error.message || error), url: null });
      return;
    }
    socket = new WebSocket(endpoint);
    socket.addEventListener('open', () => {
      failures = 0;
      send({ action: 'CLIENT_READY', channel: '' });
      for (const channel of subscribed) sendSubscribe(channel);
      onOpen(endpoint);
    });
    socket.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!message || typeof message.channel !== 'string') return;
      if (recover && !receive(message)) return;
      onMessage(message.channel, message.data);
    });
    socket.addEventListener('close', (event) => {
      socket = null;
      const to = /(wss?:\/\/\S+)/.exec(event.reason || '');
      if (to && [1001, 1012, 1013].includes(event.code)) nextUrl = to[1];
      retry({ code: event.code, reason: event.reason, url: endpoint });
    });
  }

  function sendSubscribe(channel) {
    if (!recover) {
      send({ action: 'SUBSCRIBE_CHANNEL_ACTION', channel });
      return;
    }
    const at = positions.get(channel);
    send({ action: 'SUBSCRIBE_CHANNEL_ACTION', channel, recover: at ? { t: at.t, o: at.o } : true });
  }

  // Keeps the position of a message and says whether it is new.
  function receive(message) {
    const at = positions.get(message.channel) || { t: 0, o: {} };
    positions.set(message.channel, at);
    if (message.action === 'RECOVERY_GAP' || message.action === 'RECOVERED') {
      const info = message.data || {};
      if (info.t > at.t) at.t = info.t;
      if (message.action === 'RECOVERY_GAP') onGap(message.channel, info.why);
      else onRecovered(message.channel, info.count);
      return false;
    }
    if (!Array.isArray(message.pos)) return true;
    const [origin, boot, seq, t] = message.pos;
    const had = at.o[origin];
    if (had && had[0] === boot && seq <= had[1]) return false;
    // Most recent last; past 32 origins (what an instance takes) the one
    // not heard from the longest goes: its messages now count by time.
    delete at.o[origin];
    at.o[origin] = [boot, seq];
    const origins = Object.keys(at.o);
    if (origins.length > 32) delete at.o[origins[0]];
    if (t > at.t) at.t = t;
    return true;
  }

  open();
  return {
    publish(channel, data) { send({ channel, data }); },
    subscribe(channel) {
      subscribed.add(channel);
      sendSubscribe(channel);
    },
    unsubscribe(channel) {
      subscribed.delete(channel);
      positions.delete(channel);
      send({ action: 'UNSUBSCRIBE_CHANNEL_ACTION', channel });
    },
    get url() { return socket ? socket.url : null; },
    // Whether a publish now goes out (one made while reconnecting is lost).
    get open() { return !!socket && socket.readyState === WebSocket.OPEN; },
    close() {
      stopped = true;
      if (socket) socket.close(1000);
    },
  };
}
