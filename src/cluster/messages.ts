/**
 * The IPC messages between the primary and its workers. They share the channel with Node's own
 * cluster messages (never seen by listeners) and prom-client's (`prom-client:*`), so ours carry
 * a `mizuchi:` type and everything else is ignored.
 */
import type { AppConfig } from '../config/config.schema';

/** From the primary to a worker. */
export type ToWorker =
  | { type: 'mizuchi:config'; config: AppConfig }
  | { type: 'mizuchi:shutdown'; reason: string }
  | { type: 'mizuchi:metrics'; id: number; text?: string; error?: string };

/** From a worker to the primary. */
export type ToPrimary =
  | { type: 'mizuchi:config-request' }
  | { type: 'mizuchi:ready' }
  | { type: 'mizuchi:metrics-request'; id: number };

/** Whether `message` is one of ours (of the direction the receiver expects). */
export function isOwnMessage<M extends ToWorker | ToPrimary>(message: unknown): message is M {
  if (typeof message !== 'object' || message === null) return false;
  const type: unknown = (message as { type?: unknown }).type;
  return typeof type === 'string' && type.startsWith('mizuchi:');
}
