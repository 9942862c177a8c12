// The sio-backend child process: command lines to its standard input,
// event lines from its standard output, a restart when it dies. It knows
// lines only; what they mean is the facade's business.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

// Exit codes after which a restart cannot help: the same command line and
// configuration would be refused again (usage, configuration).
const FATAL_EXIT = new Set([64, 78]);
// Lines kept to name the command an error line refers to.
const RECENT = 256;

export function runBackend(settings, hooks) {
  const {
    command, args, env, stderr, maxQueue, restart, restartDelay, maxRestartDelay, closeTimeout,
  } = settings;
  const { onLine, onError, onExit } = hooks;

  let child = null;
  let blocked = false;        // stdin said no more until 'drain'
  const queue = [];           // lines waiting for room, at most maxQueue
  let written = 0;            // lines written to this child, as it numbers them
  const recent = new Array(RECENT);
  let failures = 0;           // exits in a row without a READY between them
  let restartTimer = null;
  let closing = null;         // the promise close() returned
  let resolveClosed = null;

  const start = () => {
    restartTimer = null;
    blocked = false;
    written = 0;
    const proc = spawn(command, args, { env, stdio: ['pipe', 'pipe', stderr] });
    child = proc;
    let stdinFailed = false;
    // A child that dies makes its stdin fail with EPIPE: the exit says so
    // better, once; later writes fail the same way and add nothing.
    proc.stdin.on('error', (err) => {
      if (stdinFailed || closing) return;
      stdinFailed = true;
      onError(err);
    });
    proc.stdin.on('drain', () => {
      if (proc !== child) return;
      blocked = false;
      flush();
    });
    createInterface({ input: proc.stdout, crlfDelay: Infinity }).on('line', (line) => {
      if (proc === child) onLine(line);
    });
    // A spawn failure (no such program) is an 'error' and then a 'close'.
    proc.on('error', (err) => onError(err));
    proc.on('close', (code, signal) => exited(proc, code, signal));
    flush();
  };

  const writeNow = (line) => {
    written += 1;
    recent[written % RECENT] = { n: written, line };
    if (!child.stdin.write(`${line}\n`)) blocked = true;
  };

  const flush = () => {
    while (queue.length > 0 && child && !blocked) writeNow(queue.shift());
  };

  const exited = (proc, code, signal) => {
    if (proc !== child) return;
    child = null;
    if (closing) {
      resolveClosed({ code, signal });
      return;
    }
    const again = restart && !FATAL_EXIT.has(code);
    onExit(code, signal, again);
    if (!again) {
      if (queue.length > 0) {
        onError(new Error(`sio-backend: ${queue.length} command(s) dropped, the backend is not running`));
        queue.length = 0;
      }
      return;
    }
    // Doubling waits with equal jitter: a backend that cannot start does not
    // spin, and many backends of one host do not retry in step.
    const ceiling = Math.min(maxRestartDelay, restartDelay * 2 ** Math.min(failures, 30));
    failures += 1;
    restartTimer = setTimeout(start, Math.round(ceiling / 2 + (Math.random() * ceiling) / 2));
  };

  start();

  return {
    get pid() {
      return child ? child.pid : undefined;
    },

    // true when the line is written or queued, false when it is dropped.
    write(line) {
      if (closing) return false;
      if (child && !blocked && queue.length === 0) {
        writeNow(line);
        return true;
      }
      // Blocked, or between a death and the restart: wait, within the bound.
      if ((child || restartTimer) && queue.length < maxQueue) {
        queue.push(line);
        return true;
      }
      return false;
    },

    // The text of the nth line written to the running child, if still known.
    sentLine(n) {
      const entry = recent[n % RECENT];
      return entry && entry.n === n ? entry.line : undefined;
    },

    // The backend is attached: the next death starts the waits over.
    ready() {
      failures = 0;
    },

    close() {
      if (closing) return closing;
      closing = new Promise((resolve) => {
        resolveClosed = resolve;
      });
      if (restartTimer) {
        clearTimeout(restartTimer);
        restartTimer = null;
      }
      if (!child) {
        resolveClosed({ code: null, signal: null });
        return closing;
      }
      // What is queued still goes: the stream buffers it ahead of the end.
      for (const line of queue.splice(0)) writeNow(line);
      child.stdin.end();
      const proc = child;
      const timer = setTimeout(() => proc.kill('SIGTERM'), closeTimeout);
      closing.then(() => clearTimeout(timer));
      return closing;
    },
  };
}
