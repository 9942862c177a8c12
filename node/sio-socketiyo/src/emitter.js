// The event surface socketiyo's facade has: on, off, emit, one value per
// event. off() without an event forgets every listener and off(event)
// without a function every listener of that event, as socketiyo's emitter
// does; close() relies on the first.

export function makeEmitter(target = {}) {
  const listeners = new Map();   // event -> array of functions

  target.on = (event, fn) => {
    const list = listeners.get(event);
    if (list) list.push(fn);
    else listeners.set(event, [fn]);
    return fn;
  };

  target.off = (event, fn) => {
    if (event === undefined) {
      listeners.clear();
      return;
    }
    if (fn === undefined) {
      listeners.delete(event);
      return;
    }
    const list = listeners.get(event);
    if (!list) return;
    const at = list.indexOf(fn);
    if (at !== -1) list.splice(at, 1);
    if (list.length === 0) listeners.delete(event);
  };

  target.emit = (event, value) => {
    const list = listeners.get(event);
    if (!list) return;
    // A copy: a listener may remove itself or another while we go.
    for (const fn of [...list]) fn(value);
  };

  return target;
}
