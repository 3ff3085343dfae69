import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from './unavailable.js';

const withCode = (message: string, fields: Record<string, unknown>): Error => Object.assign(new Error(message), fields);

describe('isDatabaseUnavailable', () => {
  it('recognizes a refused, lost or reset connection and a server shutting down, as mysql2 reports them', () => {
    expect(isDatabaseUnavailable(withCode('connect ECONNREFUSED 127.0.0.1:3306', { code: 'ECONNREFUSED', errno: -111 }))).toBe(true);
    expect(isDatabaseUnavailable(withCode('Connection lost: The server closed the connection.', { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }))).toBe(true);
    expect(isDatabaseUnavailable(withCode('Server shutdown in progress', { code: 'ER_SERVER_SHUTDOWN', errno: 1053 }))).toBe(true);
    expect(isDatabaseUnavailable(new Error("Can't add new command when connection is in closed state"))).toBe(true);
    expect(isDatabaseUnavailable(withCode('Too many connections', { errno: 1040 }))).toBe(true);
  });

  it('looks through the wrappers of GraphQL (originalError), causes and AggregateError', () => {
    const refused = withCode('connect ECONNREFUSED', { code: 'ECONNREFUSED' });
    expect(isDatabaseUnavailable({ name: 'GraphQLError', originalError: refused })).toBe(true);
    expect(isDatabaseUnavailable(new Error('query failed', { cause: refused }))).toBe(true);
    expect(isDatabaseUnavailable(new AggregateError([new Error('x'), refused]))).toBe(true);
  });

  it('does not take a bad statement, a constraint or a lock timeout for an outage', () => {
    expect(isDatabaseUnavailable(withCode("Duplicate entry 'x' for key 'PRIMARY'", { code: 'ER_DUP_ENTRY', errno: 1062 }))).toBe(false);
    expect(isDatabaseUnavailable(withCode('You have an error in your SQL syntax', { code: 'ER_PARSE_ERROR', errno: 1064 }))).toBe(false);
    expect(isDatabaseUnavailable(withCode('Lock wait timeout exceeded', { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
    const cyclic: { cause?: unknown } = {};
    cyclic.cause = cyclic;
    expect(isDatabaseUnavailable(cyclic)).toBe(false);
  });
});
