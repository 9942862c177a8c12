// socketiyo's authentication flow on a sio mesh: a client sends who it is
// and its proof on AUTHENTICATE; the server checks them, marks the socket,
// and confirms on AUTHENTICATE_CONFIRMATION to that socket only. One step
// more than socketiyo can take: the socket is then subscribed to its private
// channel, private/<who>, which no client can join by itself when the
// instances run with --private-channel 'private/*'.
//
//   SIO_BUS_PEER=tcp://127.0.0.1:18080 node examples/authentication.js

import { attachMesh, CONNECT, ADOPT, ERROR } from 'sio-socketiyo';

const socketiYoServer = attachMesh({
  busPeer: process.env.SIO_BUS_PEER ?? 'tcp://127.0.0.1:18080',
  sioBackend: process.env.SIO_BACKEND ?? 'sio-backend',
});

socketiYoServer.on(ERROR, (error) => console.error(error));

// Stands for the real check (a password hash, a signed token): who may come
// in, and at which level. Only the level is kept on the socket, never the proof.
const accounts = new Map([
  ['Me', { proof: 'password', level: 'user' }],
  ['Boss', { proof: 'secret', level: 'admin' }],
]);

const authenticate = async (who, proof) => {
  const account = accounts.get(who);
  return account && account.proof === proof ? account.level : undefined;
};

const PRIVATE = 'private/';

socketiYoServer.on(CONNECT, (socket) => {
  socket.authenticated = false;
});

socketiYoServer.on('AUTHENTICATE', async ({ socket, data }) => {
  const { who, proof } = data ?? {};
  const level = await authenticate(who, proof);
  if (!level) {
    return;
  }
  socket.who = who;
  socket.level = level;
  socket.authenticated = true;
  socketiYoServer.send(socket, { level }, 'AUTHENTICATE_CONFIRMATION');
  socketiYoServer.subscribe(socket, `${PRIVATE}${who}`);
});

// A connection this backend takes over from one that died comes without the
// marks set there; its private channel says who it proved to be, since only
// a backend can have put it there.
socketiYoServer.on(ADOPT, (socket) => {
  const mine = [...socket.channels].find((channel) => channel.startsWith(PRIVATE));
  const who = mine?.slice(PRIVATE.length);
  socket.authenticated = accounts.has(who);
  if (socket.authenticated) {
    socket.who = who;
    socket.level = accounts.get(who).level;
  }
});

// From here on, a plain if on the socket decides.
socketiYoServer.on('chat', ({ socket, data }) => {
  if (!socket.authenticated) {
    return;
  }
  socketiYoServer.sendAll({ who: socket.who, text: data }, 'chat');
});
