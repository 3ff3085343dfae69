/**
 * GraphQL metrics as a Yoga plugin: per operation, its first root field (bounded by the schema),
 * its type, whether it answered errors and how long it took, and each distinct error code. The
 * same labels name the request's server span (`mutation confirmCheckoutSession`), so traces are
 * found by operation rather than all under `POST /graphql`.
 *
 * Timing starts when Yoga has the operation's parameters and ends with its result, so parse,
 * validation and execution are inside it. Parse and validation failures are operations too
 * (field `unknown` when the document names no known root field).
 */
import { Kind, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { trace } from '@opentelemetry/api';
import { isErrorCode } from '../../kernel/index.js';
import type { ObolMetrics } from './metrics.js';

interface OperationState {
  readonly started: number;
  readonly operationName: string | null;
  document?: DocumentNode;
}

/** The operation's type and first root field; `unknown` for anything the schema does not name. */
export function operationLabels(schema: GraphQLSchema, document: DocumentNode | undefined, operationName: string | null): { readonly field: string; readonly type: string } {
  if (!document) return { field: 'unknown', type: 'unknown' };
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!operation) return { field: 'unknown', type: 'unknown' };
  const type = operation.operation;
  const root = type === 'query' ? schema.getQueryType() : type === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  const name = firstField(document, operation.selectionSet, 0);
  const known = name !== undefined && root !== null && root !== undefined && (Object.hasOwn(root.getFields(), name) || name === '__typename' || (type === 'query' && (name === '__schema' || name === '__type')));
  return { field: known ? name : 'unknown', type };
}

function firstField(document: DocumentNode, selectionSet: SelectionSetNode, depth: number): string | undefined {
  if (depth > 5) return undefined;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) return selection.name.value;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      const inner = firstField(document, selection.selectionSet, depth + 1);
      if (inner !== undefined) return inner;
    }
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
      if (fragment && fragment.kind === Kind.FRAGMENT_DEFINITION) {
        const inner = firstField(document, fragment.selectionSet, depth + 1);
        if (inner !== undefined) return inner;
      }
    }
  }
  return undefined;
}

interface ErrorLike {
  readonly path?: unknown;
  readonly extensions?: { readonly code?: unknown };
}

/**
 * The Obol code of an answered error: its code when it is one of Obol's; a request-level error
 * (parse, validation, limits: no path) is the caller's, VALIDATION_FAILED; anything else INTERNAL.
 */
export function errorCodeLabel(error: ErrorLike): string {
  const code = error.extensions?.code;
  if (isErrorCode(code)) return code;
  return error.path === undefined ? 'VALIDATION_FAILED' : 'INTERNAL';
}

function errorsOf(result: unknown): readonly ErrorLike[] {
  if (typeof result !== 'object' || result === null || Symbol.asyncIterator in result) return [];
  const items = Array.isArray(result) ? result : [result];
  return items.flatMap((r: { errors?: readonly ErrorLike[] }) => (Array.isArray(r?.errors) ? r.errors : []));
}

export function graphqlMetricsPlugin(args: { readonly metrics: ObolMetrics; readonly schema: GraphQLSchema }): Plugin {
  const { metrics, schema } = args;
  const operations = new WeakMap<Request, OperationState>();
  /** Requests that yielded GraphQL parameters: their operations are recorded by onExecutionResult. */
  const parsed = new WeakSet<Request>();

  const record = (state: OperationState | undefined, result: unknown) => {
    const errors = errorsOf(result);
    const { field, type } = operationLabels(schema, state?.document, state?.operationName ?? null);
    const span = trace.getActiveSpan();
    if (span !== undefined) {
      span.updateName(`${type} ${field}`);
      span.setAttributes({ 'graphql.operation.type': type, 'obol.graphql.field': field, ...(state?.operationName ? { 'graphql.operation.name': state.operationName.slice(0, 100) } : {}) });
    }
    metrics.graphqlRequest({
      field,
      type,
      ok: errors.length === 0,
      seconds: state ? (performance.now() - state.started) / 1000 : 0,
      errorCodes: errors.map(errorCodeLabel),
    });
  };

  return {
    onParams({ request, params }) {
      operations.set(request, { started: performance.now(), operationName: params.operationName ?? null });
    },
    onParse({ context }) {
      const request = (context as { request?: Request }).request;
      return ({ result }) => {
        const state = request ? operations.get(request) : undefined;
        if (state && typeof result === 'object' && result !== null && (result as { kind?: unknown }).kind === Kind.DOCUMENT) state.document = result as DocumentNode;
      };
    },
    onExecutionResult({ request, result }) {
      record(operations.get(request), result);
      operations.delete(request);
    },
    onRequestParse({ request }) {
      return {
        onRequestParseDone() {
          parsed.add(request);
        },
      };
    },
    onResultProcess({ request, result }) {
      // The HTTP request did not even yield GraphQL parameters (no query, say): one failed operation.
      if (!parsed.has(request)) record(undefined, result);
    },
  };
}
