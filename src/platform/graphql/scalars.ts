import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

/**
 * Amounts in minor units. GraphQL's `Int` is 32-bit (21 474 836.47 USD at most), too small for
 * money, so amounts use SafeInt: any integer JavaScript represents exactly (|n| ≤ 2^53 − 1),
 * serialised as a JSON number. Strings of digits are accepted on input for clients that keep
 * 64-bit values as strings.
 */
function toSafeInt(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,16}$/.test(value)) {
    const n = Number(value);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new GraphQLError('SafeInt must be an integer between -(2^53 - 1) and 2^53 - 1 (minor units).', { extensions: { code: 'VALIDATION_FAILED' } });
}

export const SafeIntScalar = new GraphQLScalarType({
  name: 'SafeInt',
  description: 'An integer in −(2^53−1)…2^53−1, used for amounts in minor units (never a float).',
  serialize: (value) => toSafeInt(value),
  parseValue: (value) => toSafeInt(value),
  parseLiteral(ast) {
    if (ast.kind === Kind.INT || ast.kind === Kind.STRING) return toSafeInt(ast.kind === Kind.INT ? Number(ast.value) : ast.value);
    throw new GraphQLError('SafeInt must be an integer literal.', { extensions: { code: 'VALIDATION_FAILED' } });
  },
});

/** Epoch milliseconds in, ISO 8601 UTC out. */
export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An instant as an ISO 8601 string in UTC.',
  serialize(value) {
    if (typeof value === 'number') return new Date(value).toISOString();
    if (value instanceof Date) return value.toISOString();
    if (typeof value === 'string') return value;
    throw new TypeError('DateTime cannot represent this value');
  },
  parseValue(value) {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw new GraphQLError('DateTime must be an ISO 8601 string.', { extensions: { code: 'VALIDATION_FAILED' } });
    return Date.parse(value);
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING || Number.isNaN(Date.parse(ast.value))) throw new GraphQLError('DateTime must be an ISO 8601 string.', { extensions: { code: 'VALIDATION_FAILED' } });
    return Date.parse(ast.value);
  },
});
