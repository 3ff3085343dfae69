/**
 * The api role's HTTP server: GraphQL at /graphql, liveness and readiness probes, Prometheus
 * metrics at /metrics. Card data is refused here, before anything parses, stores or logs a
 * request (invariant 6).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ObolError, isObolError, type ErrorCode } from '../../kernel/index.js';
import type { App } from '../app.js';
import { registerOpsRoutes } from '../observability/ops-server.js';
import { httpStatusFor } from '../graphql/errors.js';
import { createGraphQL } from '../graphql/yoga.js';
import { assertNoCardData, CARD_DATA_MESSAGE, findCardNumber } from '../security/card-guard.js';
import { isAuthenticationError, parseBearer } from '../auth/index.js';
import { registerWebhookRoutes } from '../webhooks/index.js';
import type { Caller } from '../../kernel/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller of this request, or null when it carried no token. */
    caller: Caller | null;
  }
}

const OPS_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: Record<string, unknown>) {
  return reply
    .status(httpStatusFor(code))
    .header('content-type', 'application/json; charset=utf-8')
    .send({ errors: [{ message, extensions: { code, ...(details ? { details } : {}) } }] });
}

export async function createHttpServer(app: App): Promise<FastifyInstance> {
  const { config, logger } = app;
  const server = Fastify({
    logger: false,
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimitBytes,
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      // A caller's request id is echoed and logged, so it must not smuggle a card number in.
      return typeof given === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(given) && !findCardNumber(given) ? given : crypto.randomUUID();
    },
  });
  // JSON is read as text first: the card guard sees exactly what was sent, including numbers too
  // long for a JavaScript number and escapes that parsing would hide.
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (findCardNumber(text)) return done(new ObolError('CARD_DATA_REFUSED', CARD_DATA_MESSAGE), undefined);
    try {
      done(null, text.length === 0 ? undefined : JSON.parse(text));
    } catch {
      done(new ObolError('VALIDATION_FAILED', 'The request body is not valid JSON.'), undefined);
    }
  });
  const yoga = createGraphQL(app);

  server.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  server.addHook('onResponse', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    // Probes and scrapes come every few seconds: logged at debug unless they fail.
    const level = OPS_PATHS.has(path) && reply.statusCode < 400 ? 'debug' : 'info';
    logger[level]({ requestId: req.id, method: req.method, path, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  // A GraphQL request refused before it reached GraphQL (token, card data, body) is still a failed
  // operation for the metrics; GraphQL answers its own errors, so none of those arrive here.
  const refusedGraphQL = (req: FastifyRequest, reply: FastifyReply, code: ErrorCode) => {
    if (req.routeOptions.url === '/graphql') app.metrics.graphqlRequest({ field: 'unknown', type: 'unknown', ok: false, seconds: reply.elapsedTime / 1000, errorCodes: [code] });
  };

  server.setErrorHandler((err: unknown, req, reply) => {
    if (isAuthenticationError(err)) {
      // The client hears one generic message; the log keeps the reason for whoever investigates.
      logger.info({ requestId: req.id, reason: err.reason }, 'bearer token refused');
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
    }
    const send = (code: ErrorCode, message: string, details?: Record<string, unknown>) => {
      refusedGraphQL(req, reply, code);
      return sendError(reply, code, message, details);
    };
    if (isObolError(err)) return send(err.code, err.message, err.details ? { ...err.details } : undefined);
    const e = err as { code?: string; statusCode?: number; message?: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send('INPUT_TOO_LARGE', `The request body is larger than ${config.bodyLimitBytes} bytes.`);
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return send('VALIDATION_FAILED', 'Send application/json.');
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return send('VALIDATION_FAILED', 'The request could not be parsed as JSON.');
    logger.error({ err, requestId: req.id }, 'unhandled error');
    return send('INTERNAL', 'Internal error');
  });

  server.decorateRequest('caller', null);

  // Gateways' webhooks: verified against the raw body, stored in the inbox, acknowledged fast.
  await registerWebhookRoutes(server, {
    db: app.db,
    clock: app.clock,
    logger,
    secrets: { stripe: config.stripeWebhookSecrets, braintree: config.braintreeWebhookKeys, razorpay: config.razorpayWebhookSecrets },
  });

  // /healthz, /readyz (database, migrations, and DynamoDB and Kafka where configured), /metrics.
  registerOpsRoutes(server, app);

  server.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    preHandler: async (req) => {
      // Everything a caller sent: the query string and the parsed body.
      assertNoCardData(req.query, 'query');
      assertNoCardData(req.body, 'body');
      // A token that is present must be valid; no token means an anonymous caller, who may only
      // read the public catalog (the resolvers refuse everything else).
      const token = parseBearer(req.headers.authorization);
      if (req.headers.authorization !== undefined && token === null) throw new ObolError('UNAUTHENTICATED', 'Send the token as: Authorization: Bearer <token>.');
      if (token !== null) {
        const principal = await app.verifier.verify({ token });
        req.caller = { actor: principal, requestId: req.id, ip: req.ip };
      }
    },
    handler: async (req, reply) => {
      const response = await yoga.handleNodeRequestAndResponse(req, reply, { req, reply });
      response.headers.forEach((value, key) => {
        reply.header(key, value);
      });
      reply.status(response.status);
      reply.send(response.body);
      return reply;
    },
  });

  return server;
}

export { ObolError };
