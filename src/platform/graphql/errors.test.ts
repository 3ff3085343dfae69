import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
import { httpStatusFor, toGraphQLError } from './errors.js';

describe('toGraphQLError', () => {
  it('keeps a typed error’s code, looking through the error GraphQL execution wraps it in', () => {
    const wrapped = new GraphQLError('wrapped', { originalError: new ObolError('NOT_FOUND', 'No payment with this id.') });
    expect(toGraphQLError(wrapped)?.extensions.code).toBe('NOT_FOUND');
  });

  it('answers a database that cannot be reached as SERVICE_UNAVAILABLE (HTTP 503), without the connection’s details', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED db.internal:3306'), { code: 'ECONNREFUSED', errno: -111 });
    const typed = toGraphQLError(new GraphQLError('wrapped', { originalError: refused }));
    expect(typed?.extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect(typed?.message).not.toContain('db.internal');
    expect(httpStatusFor('SERVICE_UNAVAILABLE')).toBe(503);
  });

  it('leaves any other untyped error untyped (the caller answers it INTERNAL and logs it)', () => {
    expect(toGraphQLError(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBeUndefined();
  });
});
