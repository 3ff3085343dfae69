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
import { withLogScope } from '../logging.js';
import { contextFromHeaders, recordFailure, SpanKind, startSpan, withContext } from '../observability/tracing.js';
import { ROOT_CONTEXT, SpanStatusCode, type Span } from '@opentelemetry/api';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller of this request, or null when it carried no token. */
    caller: Caller | null;
    /** This request's server span; null for probes and scrapes, which are not traced. */
    span: Span | null;
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
  const { config } = app;
  const logger = app.logFor('http');
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

  // Everything this request does runs inside its log scope (each line carries requestId) and, but
  // for probes and scrapes, inside its server span, which continues the caller's W3C trace. Hooks
  // run in sequence from `done`, so the context set here holds through the handler.
  server.decorateRequest('span', null);
  server.addHook('onRequest', (req, _reply, done) => {
    const path = req.url.split('?')[0] ?? '';
    if (OPS_PATHS.has(path)) {
      withLogScope({ requestId: req.id }, done);
      return;
    }
    // The route pattern, never the raw path: a path is the caller's text and could hold anything.
    const route = req.routeOptions.url ?? 'unmatched';
    const { span, context } = startSpan(`${req.method} ${route}`, {
      kind: SpanKind.SERVER,
      parent: contextFromHeaders(req.headers, ROOT_CONTEXT),
      attributes: { 'http.request.method': req.method, 'http.route': route, 'obol.request_id': req.id },
    });
    req.span = span;
    withContext(context, () => withLogScope({ requestId: req.id }, done));
  });
  server.addHook('onRequestAbort', async (req) => {
    req.span?.setStatus({ code: SpanStatusCode.ERROR, message: 'client closed the connection' });
    req.span?.end();
  });
  server.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  server.addHook('onResponse', async (req, reply) => {
    if (req.span !== null) {
      req.span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) req.span.setStatus({ code: SpanStatusCode.ERROR });
      req.span.end();
    }
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
    if (req.span !== null) recordFailure(req.span, err);
    return send('INTERNAL', 'Internal error');
  });

  server.decorateRequest('caller', null);

  // Gateways' webhooks: verified against the raw body, stored in the inbox, acknowledged fast.
  await registerWebhookRoutes(server, {
    db: app.db,
    clock: app.clock,
    logger: app.logFor('webhooks'),
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
