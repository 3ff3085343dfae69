/**
 * Whether an error means the database cannot be reached right now, rather than that a statement
 * was wrong: the connection was refused, lost or reset, the server is shutting down or has no
 * connection to spare. Such a failure is not the caller's mistake and not a bug in Obol, so the
 * API edges answer it as SERVICE_UNAVAILABLE (retry later with the same idempotency key) instead
 * of INTERNAL. Found by the database-outage fault test (test/faults/database-outage.test.ts),
 * where every request during a MariaDB restart was answered INTERNAL.
 */
import { ObolError } from '../../kernel/index.js';

/** Node's socket errors and mysql2's own codes for a connection that is gone or never came. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_CONNECTION_KILLED',
]);

/** MariaDB/MySQL error numbers for the same: server shutdown, too many connections, connection killed, client-side connection errors. */
const UNAVAILABLE_ERRNOS = new Set([1040, 1053, 1927, 2002, 2003, 2006, 2013]);

/** mysql2 reports a command on a connection that died in between with a bare message and no code. */
const CLOSED_CONNECTION = /connection is in closed state|Pool is closed/;

export function isDatabaseUnavailable(err: unknown): boolean {
  // Kysely and GraphQL wrap errors; AggregateError gathers several connection attempts.
  const seen = new Set<unknown>();
  const pending: unknown[] = [err];
  while (pending.length > 0 && seen.size < 20) {
    const current = pending.pop();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const { code, errno, message, cause, originalError, errors } = current as { code?: unknown; errno?: unknown; message?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    // Node's socket errors carry a negative errno (-111 is ECONNREFUSED); only the server's own numbers count here.
    if (typeof errno === 'number' && UNAVAILABLE_ERRNOS.has(errno)) return true;
    if (typeof message === 'string' && CLOSED_CONNECTION.test(message)) return true;
    pending.push(cause, originalError);
    if (Array.isArray(errors)) pending.push(...(errors as unknown[]));
  }
  return false;
}

/** The typed answer for a request that failed because the database could not be reached. */
export function databaseUnavailableError(): ObolError {
  return new ObolError('SERVICE_UNAVAILABLE', 'Obol cannot reach its database right now. Try again shortly with the same idempotency key.');
}
