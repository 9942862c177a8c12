// The names socketiyo's server exports, so that an application imports them
// from here instead and its handlers stay as they are. Events are Symbols, as
// socketiyo's are: a client's channel is a string and can never be mistaken
// for one of them. DEFAULT_CHANNEL is the empty string, as on the wire.

export const DEFAULT_CHANNEL = '';

export const CONNECT = Symbol('CONNECT');
export const DISCONNECT = Symbol('DISCONNECT');
export const ERROR = Symbol('ERROR');
export const RECEIVE_MESSAGE = Symbol('RECEIVE_MESSAGE');
export const RECEIVE_SUBSCRIBE = Symbol('RECEIVE_SUBSCRIBE');
export const RECEIVE_UNSUBSCRIBE = Symbol('RECEIVE_UNSUBSCRIBE');
export const HIGH_LOAD = Symbol('HIGH_LOAD');
export const OVER_LOAD = Symbol('OVER_LOAD');
export const AVAILABLE = Symbol('AVAILABLE');

// The instances validate what clients send and answer them themselves: these
// are never emitted here, only exported so that imports keep working.
export const MESSAGE_FORMAT_ERROR = Symbol('MESSAGE_FORMAT_ERROR');
export const VALIDATE_CHANNEL_ERROR = Symbol('VALIDATE_CHANNEL_ERROR');
export const VALIDATE_MESSAGE_ERROR = Symbol('VALIDATE_MESSAGE_ERROR');
export const MAX_CHANNELS_ERROR = Symbol('MAX_CHANNELS_ERROR');
// Liveness is the instances' business too (they ping and time out).
export const PONG = Symbol('PONG');
export const LAST_CONNECTION_CHECK = Symbol('LAST_CONNECTION_CHECK');

// sio's own events, beyond socketiyo's.
export const READY = Symbol('READY');         // {id}: attached to the mesh
export const ADOPT = Symbol('ADOPT');         // socket: a connection moved here
export const GONE = Symbol('GONE');           // {conn, instance, cmd, socket}
export const JOIN = Symbol('JOIN');           // {instance, url, why}
export const LEAVE = Symbol('LEAVE');         // {instance, url, why}
export const DRAIN = Symbol('DRAIN');         // {instance, url, why}

// The constants an application may swap for socketiyo's own (option symbols).
export const SWAPPABLE = [
  'CONNECT', 'DISCONNECT', 'ERROR', 'RECEIVE_MESSAGE', 'RECEIVE_SUBSCRIBE',
  'RECEIVE_UNSUBSCRIBE', 'HIGH_LOAD', 'OVER_LOAD', 'AVAILABLE',
];
