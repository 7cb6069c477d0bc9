/** For specs: which request's async context the TCP connections of a piece of work were opened in. */
import { AsyncLocalStorage, createHook } from 'node:async_hooks';

/** What `connectionsOpenedBy` saw. */
export interface OpenedConnections {
  /** Outgoing TCP connections started while the work ran. */
  connects: number;
  /** TCP handles (outgoing or accepted) made in the work's own context. */
  inTheRequest: number;
}

/**
 * Runs `work` as a request with a store of its own and counts the connections it started, and
 * the TCP handles that were made in its context. A handle keeps the context it was made in for
 * as long as it lives, so a pooled connection made there would keep the request's store (and all
 * it refers to) after the request ended. Accepted connections of a server started outside the
 * work are made in the server's context and never count.
 */
export async function connectionsOpenedBy(
  work: () => Promise<unknown>,
): Promise<OpenedConnections> {
  const storage = new AsyncLocalStorage<string>();
  const seen: OpenedConnections = { connects: 0, inTheRequest: 0 };
  const hook = createHook({
    init(_id, type) {
      if (type === 'TCPCONNECTWRAP') seen.connects++;
      if (type === 'TCPWRAP' && storage.getStore() === 'the request') seen.inTheRequest++;
    },
  });
  hook.enable();
  try {
    await storage.run('the request', work);
  } finally {
    hook.disable();
  }
  return seen;
}
