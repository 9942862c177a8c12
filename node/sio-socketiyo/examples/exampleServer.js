// socketiyo's example server, on a sio mesh. The application is the same;
// what changes is where the server comes from: the mesh's instances hold the
// WebSocket connections, and this process is a backend beside them (no HTTP
// or WebSocket server of its own, no disconnection detection: the instances
// ping their clients).
//
//   SIO_BUS_PEER=tcp://127.0.0.1:18080 node examples/exampleServer.js

import {
  attachMesh,
  CONNECT,
  DISCONNECT,
  ERROR,
  DEFAULT_CHANNEL,
} from 'sio-socketiyo';

const socketiYoServer = attachMesh({
  busPeer: process.env.SIO_BUS_PEER ?? 'tcp://127.0.0.1:18080',
  sioBackend: process.env.SIO_BACKEND ?? 'sio-backend',
});

// What socketiyo's useDefaultLogging says about connections and errors.
socketiYoServer.on(CONNECT, () => console.log('websocket connected'));
socketiYoServer.on(DISCONNECT, () => console.log('websocket disconnected'));
socketiYoServer.on(ERROR, (error) => console.error(error));

// The time, every 1.5 s, on the default channel: to every client of the mesh.
const intervalId = setInterval(() => {
  socketiYoServer.sendAll(Date.now(), DEFAULT_CHANNEL);
}, 1500);

// After 10 s, the end of the game to those on game/end.
const timeoutId = setTimeout(() => {
  socketiYoServer.sendAll('It is over', 'game/end');
}, 10000);

socketiYoServer.on(CONNECT, (socket) => {
  // A welcome to the newcomer, and the news to everyone else.
  socketiYoServer.send(socket, { message: 'welcome' });
  socketiYoServer.sendAllExceptOne(socket, { message: 'new connection' });
});

socketiYoServer.on('game/input', ({ socket, data }) => {
  console.log(`${socket} send us ${data}`);
});

// An hour, and the example is over.
setTimeout(() => {
  clearInterval(intervalId);
  clearTimeout(timeoutId);
  socketiYoServer.close();
}, 60 * 60 * 1000);
