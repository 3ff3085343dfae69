/**
 * Serves a protobuf-es generated service with @grpc/grpc-js.
 *
 * Why the generated schemas and not @grpc/proto-loader: the generated `*_pb.ts` files are typed
 * (a handler that returns the wrong message, or forgets a method, does not compile), int64 arrives
 * as bigint rather than a lossy number or a string, and the server needs no .proto files at run
 * time. grpc-js only needs a path and four (de)serializers per method, which toBinary/fromBinary
 * of the generated schemas provide.
 *
 * Every call goes through the same steps: deadline check, card-data guard, authentication (the
 * same bearer tokens and verifier as the HTTP API), the handler, then one mapping of whatever it
 * threw to a gRPC status (errors.ts). Handlers call use cases and nothing deeper.
 */
import { randomUUID } from 'node:crypto';
import { create, fromBinary, toBinary, toJson, type DescMessage, type DescMethod, type DescService, type JsonObject, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ObolError, type Caller } from '../../kernel/index.js';
import type { App } from '../app.js';
import { isAuthenticationError, parseBearer, type Principal } from '../auth/index.js';
import { duplicateWaitMs, runIdempotent, type IdempotencyContext } from '../idempotency.js';
import { assertNoCardData, findCardNumber } from '../security/card-guard.js';
import { toServiceError } from './errors.js';
import { ROOT_CONTEXT, SpanStatusCode, type Span } from '@opentelemetry/api';
import { withLogScope } from '../logging.js';
import { contextFromHeaders, inSpan, SpanKind } from '../observability/tracing.js';

/** What a handler knows about its call besides the request. */
export interface CallContext {
  readonly caller: Caller;
  /**
   * Runs a mutation once per (caller, key), exactly like the GraphQL mutations: the same store,
   * the same per-caller key space; the operation is this gRPC method, so a key first used with
   * another method or API is refused (ALREADY_EXISTS) instead of replaying a different answer.
   */
  idempotent<T>(key: string, execute: (run: IdempotencyContext<T>) => Promise<T>): Promise<T>;
}

export type UnaryHandlers<S extends GenServiceMethods> = {
  readonly [K in keyof S]: (request: MessageShape<S[K]['input']>, ctx: CallContext) => Promise<MessageInitShape<S[K]['output']>>;
};

/** A status other than an Obol error code: DEADLINE_EXCEEDED, UNIMPLEMENTED. */
export class GrpcStatusError extends Error {
  readonly code: status;

  constructor(code: status, message: string) {
    super(message);
    this.name = 'GrpcStatusError';
    this.code = code;
  }
}

/** grpc-js gives a Date, or Infinity when the caller set no deadline. */
export function deadlineMs(deadline: Date | number): number {
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * Refuses to start work whose caller has already given up: nothing is done that nobody waits
 * for. Work already running when the deadline passes is not abandoned halfway (it is guarded by
 * its idempotency key and its own state); grpc-js answers DEADLINE_EXCEEDED at the deadline and
 * the late result is dropped.
 */
export function assertBeforeDeadline(deadline: number, now: number): void {
  if (now >= deadline) throw new GrpcStatusError(status.DEADLINE_EXCEEDED, 'The deadline passed before the request could start.');
}

/** What the server's deserializer hands on for bytes that are not the method's request message. */
class UndecodableRequest {}

/** The grpc-js definition of a generated service: paths and serializers only, unary methods only. */
export function serviceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const method of service.methods) {
    if (method.methodKind !== 'unary') throw new Error(`${service.typeName}.${method.name}: only unary methods are bound here`);
    definition[method.name] = methodDefinition(service, method);
  }
  return definition as ServiceDefinition;
}

export function methodDefinition(service: DescService, method: DescMethod): ServiceDefinition[string] {
  const input: DescMessage = method.input;
  const output: DescMessage = method.output;
  return {
    path: `/${service.typeName}/${method.name}`,
    requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
    responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
    requestSerialize: (value: MessageShape<DescMessage>) => Buffer.from(toBinary(input, value)),
    // Never throws: grpc-js answers a deserializer's throw with INTERNAL, but bytes that are not
    // the method's message are the caller's mistake, refused as INVALID_ARGUMENT by the handler.
    requestDeserialize: (bytes: Buffer) => {
      try {
        return fromBinary(input, bytes);
      } catch {
        return new UndecodableRequest();
      }
    },
    responseSerialize: (value: MessageShape<DescMessage>) => Buffer.from(toBinary(output, value)),
    responseDeserialize: (bytes: Buffer) => fromBinary(output, bytes),
    originalName: method.localName,
  };
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

function requestIdOf(metadata: Metadata): string {
  const given = metadata.get('x-request-id')[0];
  // Echoed and logged, so it must not smuggle a card number in (as on the HTTP side).
  return typeof given === 'string' && REQUEST_ID.test(given) && !findCardNumber(given) ? given : randomUUID();
}

/**
 * The same bearer tokens as the HTTP API, verified by the same verifier into the same Principal.
 * Unlike GraphQL there is no anonymous access: every Obol gRPC method needs a caller.
 */
export async function authenticate(app: App, metadata: Metadata): Promise<Principal> {
  const values = metadata.get('authorization');
  if (values.length === 0) throw new ObolError('UNAUTHENTICATED', 'Send a bearer token: metadata "authorization: Bearer <token>".');
  const token = values.length === 1 && typeof values[0] === 'string' ? parseBearer(values[0]) : null;
  if (token === null) throw new ObolError('UNAUTHENTICATED', 'Send the token as: authorization: Bearer <token>.');
  return app.verifier.verify({ token });
}

/** A generated service with its handlers, ready for `server.addService`. */
export function bindService<S extends GenServiceMethods>(
  app: App,
  service: GenService<S>,
  handlers: UnaryHandlers<S>,
): { readonly definition: ServiceDefinition; readonly implementation: UntypedServiceImplementation } {
  const definition = serviceDefinition(service);
  const implementation: UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = (handlers as Record<string, (req: unknown, ctx: CallContext) => Promise<MessageInitShape<DescMessage>>>)[method.localName];
    if (!handler) throw new Error(`${service.typeName}.${method.name} has no handler`);
    const name = `${service.typeName}/${method.name}`;
    implementation[method.name] = (call: ServerUnaryCall<MessageShape<DescMessage>, unknown>, callback: sendUnaryData<unknown>) => {
      void handleUnary(app, { name, method, handler, call, callback });
    };
  }
  return { definition, implementation };
}

interface UnaryArgs {
  readonly name: string;
  readonly method: DescMethod;
  readonly handler: (req: unknown, ctx: CallContext) => Promise<MessageInitShape<DescMessage>>;
  readonly call: ServerUnaryCall<MessageShape<DescMessage>, unknown>;
  readonly callback: sendUnaryData<unknown>;
}

/** Status codes that are the server's failure rather than the caller's (OpenTelemetry's rule for gRPC servers). */
const SERVER_FAULTS: ReadonlySet<status> = new Set([status.UNKNOWN, status.DEADLINE_EXCEEDED, status.UNIMPLEMENTED, status.INTERNAL, status.UNAVAILABLE, status.DATA_LOSS]);

/** One call: a server span continuing the caller's W3C trace (metadata), and a log scope with its request id. */
function handleUnary(app: App, args: UnaryArgs): Promise<void> {
  const requestId = requestIdOf(args.call.metadata);
  const service = args.name.slice(0, args.name.indexOf('/'));
  return inSpan(
    args.name,
    {
      kind: SpanKind.SERVER,
      parent: contextFromHeaders(args.call.metadata.getMap(), ROOT_CONTEXT),
      attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': args.method.name, 'obol.request_id': requestId },
    },
    (span) => withLogScope({ requestId }, () => handleUnaryInScope(app, { ...args, requestId, span })),
  );
}

async function handleUnaryInScope(app: App, args: UnaryArgs & { readonly requestId: string; readonly span: Span }): Promise<void> {
  const { name, method, handler, call, callback, requestId, span } = args;
  const logger = app.logFor('grpc');
  const started = Date.now();
  const startedPrecise = performance.now();
  const deadline = deadlineMs(call.getDeadline());
  const headers = new Metadata();
  headers.set('x-request-id', requestId);
  call.sendMetadata(headers);
  let code: status = status.OK;
  try {
    assertBeforeDeadline(deadline, Date.now());
    if ((call.request as unknown) instanceof UndecodableRequest) throw new ObolError('VALIDATION_FAILED', `The request is not a valid ${method.input.typeName} message (protobuf).`);
    // Invariant 6: card data is refused before anything reads, stores or logs the request.
    assertNoCardData(call.request, 'request');
    const principal = await authenticate(app, call.metadata);
    // Authentication may have waited on the identity provider; re-check before any effect.
    assertBeforeDeadline(deadline, Date.now());
    // The peer is another back end, not the learner: its address must not feed per-IP limits.
    const caller: Caller = { actor: principal, requestId, ip: null };
    const scope = `${principal.kind}:${principal.subject}`;
    const ctx: CallContext = {
      caller,
      idempotent: (key, execute) => {
        const { idempotencyKey: _key, ...request } = toJson(method.input, call.request) as JsonObject;
        // A gRPC caller's deadline is its own; the wait stays inside the HTTP edge's bound too.
        return runIdempotent({ db: app.db, clock: app.clock, store: app.idempotency, waitMs: duplicateWaitMs(app.config.requestTimeoutMs) }, { scope, key, operation: name, request }, execute);
      },
    };
    const response = create(method.output, await handler(call.request, ctx));
    if (call.cancelled || Date.now() >= deadline) {
      code = status.DEADLINE_EXCEEDED;
      logger.info({ requestId, method: name }, 'grpc call finished after its caller gave up; its result stays recorded for a retry with the same key');
      return;
    }
    callback(null, response);
  } catch (err) {
    let error: ServiceError;
    if (err instanceof GrpcStatusError) {
      error = Object.assign(new Error(err.message), { code: err.code, details: err.message, metadata: new Metadata() });
    } else {
      if (isAuthenticationError(err)) logger.info({ requestId, reason: err.reason }, 'bearer token refused');
      const mapped = toServiceError(err);
      if (mapped.unexpected) logger.error({ err, requestId, method: name }, 'unhandled error');
      error = mapped.error;
    }
    code = error.code;
    callback(error);
  } finally {
    const seconds = (performance.now() - startedPrecise) / 1000;
    span.setAttribute('rpc.grpc.status_code', code);
    if (SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: status[code] ?? 'UNKNOWN' });
    app.metrics.grpcRequest({ method: name, code: status[code] ?? 'UNKNOWN', seconds });
    logger.info({ requestId, method: name, code: status[code], ms: Date.now() - started }, 'grpc call');
  }
}
