import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationContext } from 'graphql';
import { createSchema, createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import { graphqlMetricsPlugin } from '../observability/graphql-metrics.js';
import { toGraphQLError } from './errors.js';
import { resolvers, type GraphQLContext } from './resolvers.js';
import { typeDefs } from './typeDefs.js';

export interface ServerContext {
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
}

export function createGraphQL(app: App): YogaServerInstance<ServerContext, GraphQLContext> {
  const { config } = app;
  const logger = app.logFor('graphql');
  const schema = createSchema<GraphQLContext & ServerContext>({ typeDefs, resolvers: resolvers as never });
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: config.graphiql,
    landingPage: false,
    logging: false,
    context: ({ req }): GraphQLContext => ({ app, caller: req.caller }),
    maskedErrors: {
      maskError(error, message) {
        const typed = toGraphQLError(error);
        const located = isGraphQLErrorLike(error) ? error : undefined;
        if (typed) return new GraphQLError(typed.message, { nodes: located?.nodes, path: located?.path, extensions: typed.extensions });
        // Errors before execution (parse, validation, limits, variable coercion) have no path:
        // they are the caller's, so they keep their message and get a stable code.
        if (located && located.path === undefined) {
          const code = typeof located.extensions?.code === 'string' ? located.extensions.code : 'VALIDATION_FAILED';
          return new GraphQLError(located.message, { nodes: located.nodes, extensions: { ...located.extensions, code } });
        }
        logger.error({ err: located?.originalError ?? error }, 'unexpected error in GraphQL execution');
        return new GraphQLError(message || 'Internal error', { path: located?.path, extensions: { code: 'INTERNAL' } });
      },
    },
    plugins: [
      // First, so its timing includes the limits below and it sees every operation they refuse.
      graphqlMetricsPlugin({ metrics: app.metrics, schema }),
      EnvelopArmorPlugin({
        maxDepth: { n: config.graphqlMaxDepth, ...REPORT_AS_VALIDATION_ERROR },
        costLimit: { maxCost: config.graphqlMaxCost, ...REPORT_AS_VALIDATION_ERROR },
        maxAliases: { n: config.graphqlMaxAliases, ...REPORT_AS_VALIDATION_ERROR },
        maxDirectives: { n: 20, ...REPORT_AS_VALIDATION_ERROR },
        // The token limit acts while parsing: its throw is a syntax error, which is the caller's.
        maxTokens: { n: 2000 },
        blockFieldSuggestion: { enabled: config.nodeEnv === 'production' },
      }),
    ],
  });
}

/**
 * A limit the operation goes over is the caller's mistake (HTTP 400, VALIDATION_FAILED). Armor's
 * rules throw by default, and a throw from inside validation is a server error to Yoga (HTTP 500);
 * reported to the validation context instead, it is an ordinary validation error.
 */
const REPORT_AS_VALIDATION_ERROR: { propagateOnRejection: boolean; onReject: ((ctx: ValidationContext | null, error: GraphQLError) => void)[] } = {
  propagateOnRejection: false,
  onReject: [
    (ctx: ValidationContext | null, error: GraphQLError) => {
      // Every rule Obol enables runs with a context; without one, refusing is still the answer.
      if (ctx === null) throw error;
      ctx.reportError(error);
    },
  ],
};

/**
 * Duck-typed: graphql ships CommonJS and ESM builds, and a plugin may load the other one, so
 * `instanceof GraphQLError` is not reliable across packages.
 */
function isGraphQLErrorLike(err: unknown): err is GraphQLError {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'GraphQLError' && 'locations' in err;
}
