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
  reconnectDelay = 1000,   // ms before the first new attempt
  maxReconnectDelay = 30000, // ms, the longest wait between attempts
} = {}) {
  let socket = null;
  let stopped = false;
  let failures = 0;        // attempts in a row that ended without an open
  const subscribed = new Set(channels);

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
      endpoint = url || await pickEndpoint(announcer);
    } catch (error) {
      retry({ code: 0, reason: String(error.message || error), url: null });
      return;
    }
    socket = new WebSocket(endpoint);
    socket.addEventListener('open', () => {
      failures = 0;
      send({ action: 'CLIENT_READY', channel: '' });
      for (const channel of subscribed) send({ action: 'SUBSCRIBE_CHANNEL_ACTION', channel });
      onOpen(endpoint);
    });
    socket.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message.channel === 'string') onMessage(message.channel, message.data);
    });
    socket.addEventListener('close', (event) => {
      socket = null;
      retry({ code: event.code, reason: event.reason, url: endpoint });
    });
  }

  open();
  return {
    publish(channel, data) { send({ channel, data }); },
    subscribe(channel) {
      subscribed.add(channel);
      send({ action: 'SUBSCRIBE_CHANNEL_ACTION', channel });
    },
    unsubscribe(channel) {
      subscribed.delete(channel);
      send({ action: 'UNSUBSCRIBE_CHANNEL_ACTION', channel });
    },
    get url() { return socket ? socket.url : null; },
    close() {
      stopped = true;
      if (socket) socket.close(1000);
    },
  };
}
