// sio browser module: connects a page to a sio mesh with the socketiyo
// protocol. Unlike the reference client, which retries its one URL forever,
// it asks the announcer for a fresh endpoint before every (re)connect, so a
// page leaves a dead or draining instance by itself.
//
//   import { connect } from './sio-client.js';
//   const sio = connect({ announcer: 'http://127.0.0.1:8090', channels: ['news'],
//                         onMessage: (channel, data) => console.log(channel, data) });
//   sio.publish('news', { hello: 'mesh' });

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
  reconnectDelay = 1000,   // ms before asking for a fresh endpoint again
} = {}) {
  let socket = null;
  let stopped = false;
  const subscribed = new Set(channels);

  const send = (message) => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  };

  const retry = () => {
    if (!stopped) setTimeout(open, reconnectDelay);
  };

  async function open() {
    let endpoint;
    try {
      endpoint = url || await pickEndpoint(announcer);
    } catch (error) {
      onClose({ code: 0, reason: String(error), url: null });
      retry();
      return;
    }
    socket = new WebSocket(endpoint);
    socket.addEventListener('open', () => {
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
      onClose({ code: event.code, reason: event.reason, url: endpoint });
      socket = null;
      retry();
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
