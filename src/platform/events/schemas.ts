/**
 * The event contract with consumers: one JSON Schema (draft 2020-12) per event type, describing
 * the whole CloudEvents envelope, at `schemas/<topic>/<type>.schema.json` in the package root.
 * The files are the source of truth that consumers read; this module loads them, checks that
 * they cover exactly the types Obol emits, and validates events against them (in tests, and for
 * any consumer or tool that wants to check an event before trusting it).
 *
 * `data` objects forbid unknown properties, so a field added, renamed or dropped in a use case
 * fails the event-schema test until the schema (the announced contract) changes with it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { EVENT_TOPICS, EVENT_TYPES, type EventType } from './outbox.js';

export const SCHEMA_FILE_SUFFIX = '.schema.json';
/** Every schema's `$id` is this base + `<topic>/<type>.json`. */
export const SCHEMA_ID_BASE = 'https://obol.dev/schemas/';

/** One schema file: the topic is its folder, the type its file name. */
export interface EventSchemaFile {
  readonly topic: string;
  readonly type: string;
  readonly path: string;
  readonly schema: SchemaObject;
}

export type EventValidation = { readonly ok: true } | { readonly ok: false; readonly errors: readonly string[] };

/**
 * The `schemas/` folder of the package this module belongs to: the nearest ancestor holding a
 * package.json. The same walk works from src/platform/events (vitest, tsx) and from
 * dist/platform/events (the built package, installed or not).
 */
export function findSchemasDir(from: string | URL = import.meta.url): string {
  const start = typeof from === 'string' && !from.startsWith('file:') ? from : fileURLToPath(from);
  let dir = dirname(start);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      const schemas = join(dir, 'schemas');
      if (!existsSync(schemas) || !statSync(schemas).isDirectory()) {
        throw new Error(`The package at ${dir} has no schemas/ folder: it must ship with the package (package.json "files").`);
      }
      return schemas;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No package.json above ${start}: cannot locate the event schemas.`);
    dir = parent;
  }
}

/** Reads every `<topic>/<type>.schema.json` under `dir`, sorted by topic and type. Compiles nothing. */
export function loadEventSchemaFiles(dir: string = findSchemasDir()): readonly EventSchemaFile[] {
  const files: EventSchemaFile[] = [];
  for (const topic of readdirSync(dir).sort()) {
    const topicDir = join(dir, topic);
    if (!statSync(topicDir).isDirectory()) continue;
    for (const name of readdirSync(topicDir).sort()) {
      if (!name.endsWith(SCHEMA_FILE_SUFFIX)) continue;
      const path = join(topicDir, name);
      let schema: unknown;
      try {
        schema = JSON.parse(readFileSync(path, 'utf8'));
      } catch (err) {
        throw new Error(`${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new Error(`${path} is not a JSON Schema object.`);
      files.push({ topic, type: name.slice(0, -SCHEMA_FILE_SUFFIX.length), path, schema: schema as SchemaObject });
    }
  }
  return files;
}

/** The `const` a schema pins at `properties.<name>`, if any. */
function pinned(schema: SchemaObject, name: string): unknown {
  const properties: unknown = schema['properties'];
  if (typeof properties !== 'object' || properties === null) return undefined;
  const property: unknown = (properties as Record<string, unknown>)[name];
  return typeof property === 'object' && property !== null ? (property as Record<string, unknown>)['const'] : undefined;
}

/**
 * Where the schema files and the emitted types disagree: a type without a schema, a schema for a
 * type (or topic) that does not exist, a type with two schemas, or a file whose name, folder,
 * `$id`, `type` const or `source` const contradict each other. Empty when the catalog is whole.
 */
export function schemaCatalogProblems(
  files: readonly EventSchemaFile[],
  known: { readonly types: readonly string[]; readonly topics: readonly string[] } = { types: EVENT_TYPES, topics: EVENT_TOPICS },
): string[] {
  const problems: string[] = [];
  const byType = new Map<string, EventSchemaFile[]>();
  for (const file of files) byType.set(file.type, [...(byType.get(file.type) ?? []), file]);
  for (const type of known.types) {
    if (!byType.has(type)) problems.push(`event type "${type}" has no schema: add schemas/<topic>/${type}${SCHEMA_FILE_SUFFIX}`);
  }
  for (const [type, same] of byType) {
    if (same.length > 1) problems.push(`event type "${type}" has ${same.length} schemas: ${same.map((f) => f.path).join(', ')}`);
  }
  for (const file of files) {
    const at = `${file.topic}/${file.type}${SCHEMA_FILE_SUFFIX}`;
    if (!known.types.includes(file.type)) problems.push(`${at} names event type "${file.type}", which Obol does not emit (not in EVENT_TYPES)`);
    if (!known.topics.includes(file.topic)) problems.push(`${at} is under topic "${file.topic}", which is not in EVENT_TOPICS`);
    const id = `${SCHEMA_ID_BASE}${file.topic}/${file.type}.json`;
    if (file.schema.$id !== id) problems.push(`${at} has $id ${JSON.stringify(file.schema.$id)}, expected "${id}"`);
    if (pinned(file.schema, 'type') !== file.type) problems.push(`${at} pins type ${JSON.stringify(pinned(file.schema, 'type'))}, expected "${file.type}"`);
    // The outbox derives `source` from the topic's context: obol.payments.v1 → /obol/payments.
    const source = `/obol/${file.topic.split('.')[1] ?? 'core'}`;
    if (pinned(file.schema, 'source') !== source) problems.push(`${at} pins source ${JSON.stringify(pinned(file.schema, 'source'))}, expected "${source}"`);
    if (typeof file.schema.description !== 'string' || file.schema.description.length === 0) problems.push(`${at} has no description`);
  }
  return problems;
}

/** One ajv error as a sentence a person can act on, naming the JSON pointer it is about. */
export function describeSchemaError(error: ErrorObject): string {
  const at = error.instancePath === '' ? '(event)' : error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${at} is missing required property "${String(params['missingProperty'])}"`;
    case 'additionalProperties':
      return `${at} has property "${String(params['additionalProperty'])}", which the schema does not announce`;
    case 'const':
      return `${at} must be ${JSON.stringify(params['allowedValue'])}`;
    case 'enum':
      return `${at} must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${at} ${error.message ?? `fails ${error.keyword}`}`;
  }
}

interface Compiled {
  readonly validators: ReadonlyMap<string, ValidateFunction>;
}

let compiled: Compiled | undefined;

/** Loads and compiles the package's schemas once per process; a broken schema throws here. */
function catalog(): Compiled {
  if (compiled) return compiled;
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats.default(ajv, ['date-time']);
  const validators = new Map<string, ValidateFunction>();
  for (const file of loadEventSchemaFiles()) {
    if (validators.has(file.type)) throw new Error(`Two schemas for event type "${file.type}" (second: ${file.path}).`);
    try {
      validators.set(file.type, ajv.compile(file.schema));
    } catch (err) {
      throw new Error(`${file.path} does not compile: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  compiled = { validators };
  return compiled;
}

function run(validate: ValidateFunction, event: unknown): EventValidation {
  if (validate(event)) return { ok: true };
  // `if`/`then` failures only say a branch failed; the branch's own error says why.
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if').map(describeSchemaError);
  return { ok: false, errors: [...new Set(errors)] };
}

/** Validates an event against the schema of the type it claims to be. */
export function validateEvent(event: unknown): EventValidation {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return { ok: false, errors: ['(event) must be a JSON object'] };
  const type: unknown = (event as Record<string, unknown>)['type'];
  if (typeof type !== 'string') return { ok: false, errors: ['(event) is missing required property "type" (a string)'] };
  const validate = catalog().validators.get(type);
  if (!validate) {
    const known = (EVENT_TYPES as readonly string[]).includes(type);
    return { ok: false, errors: [known ? `/type "${type}" has no schema under schemas/` : `/type "${type}" is not an event type Obol emits`] };
  }
  return run(validate, event);
}

/** Validates an event against the schema of `type`, whatever type it claims (a consumer expecting one type). */
export function validateEventAs(type: EventType, event: unknown): EventValidation {
  const validate = catalog().validators.get(type);
  if (!validate) return { ok: false, errors: [`/type "${type}" has no schema under schemas/`] };
  return run(validate, event);
}
