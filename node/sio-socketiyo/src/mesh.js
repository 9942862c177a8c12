// socketiyo's server facade over a sio mesh: the events sio-backend prints
// become socketiyo's events on socket objects, the facade's calls become
// sio-backend's commands. The instances do what a socketiyo server does with
// the WebSocket itself (validation, subscriptions, liveness, limits), so
// nothing here second-guesses them: a command is passed on as it is.

import * as names from './constants.js';
import { makeEmitter } from './emitter.js';
import { runBackend } from './backend.js';

const { DEFAULT_CHANNEL, READY, ADOPT, GONE, JOIN, LEAVE, DRAIN } = names;

// A connection's instance is everything before the last '#' of its id.
const instanceOf = (conn) => conn.slice(0, Math.max(conn.lastIndexOf('#'), 0));

// The boot part of a connection id: 16 hex digits, so that two compare as
// strings; "" when the id has no such part.
const bootOf = (conn) => {
  const m = /#([0-9a-f]{16})\.[0-9a-f]+$/.exec(conn);
  return m ? m[1] : '';
};

// What a DISCONNECT tells, for connections that end without one.
const lost = (why) => ({ code: 1006, reason: '', why });

const validCloseCode = (code) => code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999);

// One client connection of the mesh. Applications set their own properties
// on it (socket.authenticated = true), so sio's state lives in a few plain
// fields and the facade's link in a private one.
export class MeshSocket {
  #command;

  constructor(command, ev) {
    this.#command = command;
    this.id = ev.conn;
    this.instance = ev.instance || instanceOf(ev.conn);
    this.url = ev.url ?? '';
    this.address = ev.address ?? '';
    this.path = ev.path ?? '';
    this.origin = ev.origin ?? '';
    this.channels = new Set(Array.isArray(ev.channels) ? ev.channels : []);
    this.disconnection = null;   // {code, reason, why} once it is gone
  }

  // As a ws socket's close: a code the instance would refuse is an error of
  // the caller, said at once rather than by an error line later.
  close(code = 1000, reason = '') {
    if (!validCloseCode(code)) throw new TypeError(`close code must be 1000 or 3000-4999, not ${code}`);
    const text = String(reason);
    if (Buffer.byteLength(text) > 123) throw new RangeError('close reason must be at most 123 bytes');
    this.#command({ cmd: 'close', conn: this.id, code, reason: text });
  }

  // `${socket}` in a log line names the connection.
  toString() {
    return this.id;
  }
}

export function attachMesh(options = {}) {
  const {
    busPeer = [],
    sioBackend = 'sio-backend',
    id,
    observe = false,
    args = [],
    symbols = {},
    restart = true,
    restartDelay = 1000,
    maxRestartDelay = 30000,
    maxQueue = 10000,
    closeTimeout = 5000,
    stderr = 'inherit',
    env = process.env,
  } = options;

  // An application that keeps importing its constants from socketiyo passes
  // them here, and its handlers hear the events under socketiyo's Symbols.
  const ev = {};
  for (const name of names.SWAPPABLE) ev[name] = symbols[name] ?? names[name];

  const facade = makeEmitter({});
  const sockets = new Map();       // conn id -> socket
  const byInstance = new Map();    // instance id -> Set of its sockets
  const connectionsPool = new Set();
  facade.connectionsPool = connectionsPool;
  facade.id = id;
  let closed = false;

  const error = (message, fields = {}) => facade.emit(ev.ERROR, Object.assign(new Error(message), fields));

  const command = (cmd) => {
    if (closed) return;
    if (!backend.write(JSON.stringify(cmd))) {
      error(`sio-backend: ${cmd.cmd} dropped, the command queue is full or the backend is not running`, { command: cmd });
    }
  };

  const connOf = (socket) => {
    const conn = typeof socket === 'string' ? socket : socket?.id;
    if (typeof conn !== 'string' || conn === '') throw new TypeError('a socket (or a connection id) is needed');
    return conn;
  };

  // send and friends always carry data: a line without it is refused, and
  // undefined has no JSON spelling.
  const json = (data) => (data === undefined ? null : data);

  // An instance that restarts before the mesh counts it dead sends no
  // LEAVE, but its new connections name a later boot: the connections of
  // the earlier boots are gone.
  const boots = new Map();         // instance id -> latest boot seen
  const restarted = (socket) => {
    const boot = bootOf(socket.id);
    const known = boots.get(socket.instance);
    if (known !== undefined && boot <= known) return;
    boots.set(socket.instance, boot);
    if (known === undefined) return;
    for (const old of [...(byInstance.get(socket.instance) ?? [])]) {
      if (bootOf(old.id) < boot) drop(old, lost('restart'));
    }
  };

  const add = (e) => {
    const socket = new MeshSocket(command, e);
    restarted(socket);
    sockets.set(socket.id, socket);
    connectionsPool.add(socket);
    let set = byInstance.get(socket.instance);
    if (!set) byInstance.set(socket.instance, (set = new Set()));
    set.add(socket);
    return socket;
  };

  // An event for a connection never seen (its CONNECT went to another
  // backend before this one adopted it, or was dropped on a full pipe) still
  // reaches the application with a socket, as socketiyo's events do for a
  // socket that never sent CLIENT_READY.
  const find = (e) => sockets.get(e.conn) ?? add(e);

  const drop = (socket, disconnection) => {
    sockets.delete(socket.id);
    connectionsPool.delete(socket);
    const set = byInstance.get(socket.instance);
    if (set) {
      set.delete(socket);
      if (set.size === 0) byInstance.delete(socket.instance);
    }
    socket.disconnection = disconnection;
    facade.emit(ev.DISCONNECT, socket);
  };

  const meshEvent = (e) => ({ instance: e.instance ?? '', url: e.url ?? '', why: e.why ?? '' });

  const onEvent = {
    READY(e) {
      facade.id = e.id;
      backend.ready();
      facade.emit(READY, { id: e.id });
    },
    CONNECT(e) {
      if (sockets.has(e.conn)) return;
      facade.emit(ev.CONNECT, add(e));
    },
    ADOPT(e) {
      let socket = sockets.get(e.conn);
      if (socket) socket.channels = new Set(Array.isArray(e.channels) ? e.channels : []);
      else socket = add(e);
      socket.adoptedFrom = e.from ?? '';
      facade.emit(ADOPT, socket);
    },
    MESSAGE(e) {
      const socket = find(e);
      const channel = e.channel ?? DEFAULT_CHANNEL;
      facade.emit(ev.RECEIVE_MESSAGE, { channel, data: e.data, socket });
      facade.emit(channel, { data: e.data, socket });
    },
    SUBSCRIBE(e) {
      const socket = find(e);
      socket.channels.add(e.channel);
      facade.emit(ev.RECEIVE_SUBSCRIBE, { channel: e.channel, socket });
    },
    UNSUBSCRIBE(e) {
      const socket = find(e);
      socket.channels.delete(e.channel);
      facade.emit(ev.RECEIVE_UNSUBSCRIBE, { channel: e.channel, socket });
    },
    DISCONNECT(e) {
      drop(find(e), { code: e.code ?? 1006, reason: e.reason ?? '', why: e.why ?? '' });
    },
    // The instance has no such connection: whatever this backend still
    // holds for it is stale (its DISCONNECT was lost), so it goes too.
    GONE(e) {
      const socket = sockets.get(e.conn) ?? null;
      facade.emit(GONE, { conn: e.conn, instance: e.instance ?? instanceOf(e.conn), cmd: e.cmd ?? '', socket });
      if (socket) drop(socket, lost('gone'));
    },
    // No DISCONNECT follows a LEAVE: the instance's connections end here.
    LEAVE(e) {
      for (const socket of [...(byInstance.get(e.instance) ?? [])]) drop(socket, lost('leave'));
      facade.emit(LEAVE, meshEvent(e));
    },
    JOIN: (e) => facade.emit(JOIN, meshEvent(e)),
    DRAIN: (e) => facade.emit(DRAIN, meshEvent(e)),
    HIGH_LOAD: (e) => facade.emit(ev.HIGH_LOAD, meshEvent(e)),
    OVER_LOAD: (e) => facade.emit(ev.OVER_LOAD, meshEvent(e)),
    AVAILABLE: (e) => facade.emit(ev.AVAILABLE, meshEvent(e)),
  };
  const needsConn = new Set(['CONNECT', 'ADOPT', 'MESSAGE', 'SUBSCRIBE', 'UNSUBSCRIBE', 'DISCONNECT', 'GONE']);

  const onLine = (line) => {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      e = null;
    }
    if (e && typeof e === 'object' && typeof e.error === 'string') {
      error(`sio-backend refused command line ${e.line}: ${e.error}`, { line: e.line, sent: backend.sentLine(e.line) });
      return;
    }
    const handle = e && typeof e === 'object' && Object.hasOwn(onEvent, e.event) ? onEvent[e.event] : null;
    if (!handle || (needsConn.has(e.event) && (typeof e.conn !== 'string' || e.conn === ''))) {
      error(`sio-backend: unexpected line: ${line.slice(0, 200)}`, { text: line });
      return;
    }
    // From a boot of the instance that is over: nothing can answer it.
    if (needsConn.has(e.event) && bootOf(e.conn) < (boots.get(e.instance || instanceOf(e.conn)) ?? '')) return;
    handle(e);
  };

  // Without a fixed id a new sio-backend is a new backend to the mesh: the
  // instances hand this one's connections to a live worker (ADOPT), maybe
  // the new one, so what is held here is stale. With a fixed id they keep
  // coming here, and the sockets stay.
  const onExit = (code, signal, again) => {
    error(`sio-backend exited (${signal ?? `code ${code}`})${again ? ', restarting' : ''}`, { code, signal });
    if (id === undefined) for (const socket of [...connectionsPool]) drop(socket, lost('backend'));
  };

  const argv = [];
  for (const peer of [].concat(busPeer)) argv.push('--bus-peer', peer);
  if (id !== undefined) argv.push('--id', String(id));
  if (observe) argv.push('--observe');
  argv.push(...args);

  const backend = runBackend(
    { command: sioBackend, args: argv, env, stderr, maxQueue, restart, restartDelay, maxRestartDelay, closeTimeout },
    { onLine, onError: (err) => facade.emit(ev.ERROR, err), onExit },
  );

  Object.defineProperty(facade, 'pid', { enumerable: true, get: () => backend.pid });

  facade.send = (socket, data, channel = DEFAULT_CHANNEL) => {
    command({ cmd: 'send', conn: connOf(socket), channel, data: json(data) });
  };

  // To the whole mesh, not only to this backend's connections.
  facade.sendAll = (data, channel = DEFAULT_CHANNEL) => {
    command({ cmd: 'send_all', channel, data: json(data) });
  };

  facade.sendAllExceptOne = (socket, data, channel = DEFAULT_CHANNEL) => {
    command({ cmd: 'send_except', conn: connOf(socket), channel, data: json(data) });
  };

  // sio's own: the backend puts a connection on a channel (a private one
  // after authentication, say) or takes it off; RECEIVE_(UN)SUBSCRIBE follows.
  facade.subscribe = (socket, channel) => {
    command({ cmd: 'subscribe', conn: connOf(socket), channel });
  };

  facade.unsubscribe = (socket, channel) => {
    command({ cmd: 'unsubscribe', conn: connOf(socket), channel });
  };

  // As socketiyo's close, every listener goes at once; the connections stay
  // open, they belong to the instances, which hand them to another backend.
  let closing = null;
  facade.close = () => {
    if (closing) return closing;
    facade.off();
    closed = true;
    closing = backend.close().then((status) => {
      sockets.clear();
      byInstance.clear();
      boots.clear();
      connectionsPool.clear();
      return status;
    });
    return closing;
  };

  return facade;
}
