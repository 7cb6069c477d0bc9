'use strict';
// Loader and JS face of the splice(2) addon (DESIGN.md §7). require() never throws: when the
// addon cannot be used, `available` is false and `loadError` says why, so the gateway can log one
// line and stream instead. Owns no policy: ZERO_COPY=off and server.zero_copy.enabled are read
// by the gateway, which then never calls this package.

const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');

const addonPath = path.join(__dirname, 'build', 'Release', 'native_splice.node');
const installErrorLog = path.join(__dirname, 'build', 'install-error.log');

// Outcome and side codes reported by src/splice.cc.
const OK = 0;
const ERRNO = 1;
const PREMATURE_EOF = 2;
const CANCELLED = 3;
const IDLE_TIMEOUT = 4;
const UNSUPPORTED_FD = 5;
const SIDES = [undefined, 'in', 'out'];

const MAX_FD = 2 ** 31 - 1;

function firstLine(text) {
  return String(text).split('\n', 1)[0].trim();
}

function load() {
  if (process.platform !== 'linux') {
    return { error: `splice(2) is Linux-only; this is ${process.platform}` };
  }
  try {
    return { binding: require(addonPath) };
  } catch (error) {
    if (fs.existsSync(installErrorLog)) {
      const reason = firstLine(fs.readFileSync(installErrorLog, 'utf8'));
      return { error: `the addon was not built at install: ${reason} (log: ${installErrorLog})` };
    }
    if (error && error.code === 'MODULE_NOT_FOUND') {
      return {
        error: `the addon is not built (${addonPath} is missing); run \`npm rebuild @mizuchi/native-splice\``,
      };
    }
    return { error: `cannot load ${addonPath}: ${firstLine(error && error.message)}` };
  }
}

const { binding, error: loadError } = load();

function describeErrno(errno) {
  const entry = util.getSystemErrorMap().get(-errno);
  return entry
    ? { code: entry[0], message: entry[1] }
    : { code: 'UNKNOWN', message: `errno ${errno}` };
}

function toError(outcome, errno, sideCode, moved) {
  const side = SIDES[sideCode];
  let error;
  switch (outcome) {
    case OK:
      return null;
    case ERRNO: {
      const { code, message } = describeErrno(errno);
      error = new Error(message);
      error.code = code;
      error.errno = -errno;
      error.syscall = 'splice';
      break;
    }
    case PREMATURE_EOF:
      error = new Error(`premature end of input after ${moved} bytes`);
      error.code = 'ERR_SPLICE_PREMATURE_EOF';
      break;
    case CANCELLED:
      error = new Error('cancelled');
      error.code = 'ERR_SPLICE_CANCELLED';
      break;
    case IDLE_TIMEOUT:
      error = new Error('idle timeout');
      error.code = 'ERR_SPLICE_IDLE_TIMEOUT';
      break;
    case UNSUPPORTED_FD:
      error = new Error(
        side === 'in'
          ? 'inFd must be a non-blocking socket or a pipe'
          : 'outFd must be a non-blocking socket, a pipe or a regular file without O_APPEND',
      );
      error.code = 'ERR_SPLICE_UNSUPPORTED_FD';
      break;
    default:
      error = new Error(`unknown splice outcome ${outcome}`);
      error.code = 'ERR_SPLICE_UNKNOWN';
  }
  if (side !== undefined) error.side = side;
  return error;
}

function checkInteger(options, name, max) {
  const value = options[name];
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new TypeError(`splice: options.${name} must be an integer from 0 to ${max}`);
  }
  return value;
}

/** Moves exactly `length` bytes from inFd (a socket) to outFd (a socket or a regular file). */
function splice(options, done) {
  if (!binding) {
    const error = new Error(`@mizuchi/native-splice is not available: ${loadError}`);
    error.code = 'ERR_SPLICE_UNAVAILABLE';
    throw error;
  }
  if (typeof done !== 'function') throw new TypeError('splice: done must be a function');
  if (options === null || typeof options !== 'object') {
    throw new TypeError('splice: options must be an object');
  }
  const inFd = checkInteger(options, 'inFd', MAX_FD);
  const outFd = checkInteger(options, 'outFd', MAX_FD);
  const length = checkInteger(options, 'length', Number.MAX_SAFE_INTEGER);
  const pipeSize = checkInteger(options, 'pipeSize', MAX_FD);
  const { idleTimeoutMs } = options;
  if (typeof idleTimeoutMs !== 'number' || !(idleTimeoutMs >= 0) || idleTimeoutMs > 2 ** 52) {
    throw new TypeError('splice: options.idleTimeoutMs must be a number >= 0 (0 = none)');
  }

  let finished = false;
  const settle = (error, moved) => {
    if (finished) return;
    finished = true;
    try {
      done(error, moved);
    } catch (thrown) {
      // Node swallows exceptions from Node-API callbacks by default (DEP0168, only a warning);
      // rethrown from a tick they reach 'uncaughtException' like any other callback's.
      process.nextTick(() => {
        throw thrown;
      });
    }
  };
  let id;
  try {
    id = binding.start(
      inFd,
      outFd,
      length,
      pipeSize,
      Math.ceil(idleTimeoutMs),
      (outcome, errno, side, moved) => settle(toError(outcome, errno, side, moved), moved),
    );
  } catch (error) {
    // Only when the epoll thread cannot start; done is still never called synchronously.
    setImmediate(() => settle(error, 0));
    return { cancel() {} };
  }
  return {
    cancel() {
      if (!finished) binding.cancel(id);
    },
  };
}

/** Counters of this process (or worker thread); all zero when the addon is not available. */
function stats() {
  if (!binding) return { active: 0, started: 0, completed: 0, failed: 0, threadRunning: false };
  return binding.stats();
}

module.exports = { available: binding !== undefined, loadError, splice, stats };
