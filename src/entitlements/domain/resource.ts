/**
 * What an entitlement unlocks. A resource is a string so that events, the read model's key and
 * every API spell it the same way: `course:<slug>`, `specialization:<slug>`, or `catalog:all` (the
 * all-access catalogue, which implies every course and specialization).
 */
export const RESOURCE_KINDS = ['course', 'specialization', 'catalog'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export type Resource = `course:${string}` | `specialization:${string}` | 'catalog:all';

export const ALL_ACCESS = 'catalog:all' satisfies Resource;

/** Longest resource the store accepts (the key column is varchar(200)). */
export const MAX_RESOURCE_LENGTH = 200;

const SLUG = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** The resource `value` names, or undefined when it names none (wrong kind, bad slug, too long). */
export function parseResource(value: string): Resource | undefined {
  if (value.length > MAX_RESOURCE_LENGTH) return undefined;
  if (value === ALL_ACCESS) return ALL_ACCESS;
  const colon = value.indexOf(':');
  if (colon < 0) return undefined;
  const kind = value.slice(0, colon);
  const slug = value.slice(colon + 1);
  if (!SLUG.test(slug)) return undefined;
  if (kind === 'course') return `course:${slug}`;
  if (kind === 'specialization') return `specialization:${slug}`;
  return undefined;
}

export function isResource(value: unknown): value is Resource {
  return typeof value === 'string' && parseResource(value) === value;
}

export function resourceKind(resource: Resource): ResourceKind {
  const kind = resource.slice(0, resource.indexOf(':'));
  switch (kind) {
    case 'course':
    case 'specialization':
    case 'catalog':
      return kind;
    default:
      throw new Error(`not a resource: ${resource}`);
  }
}

/**
 * The read-model keys whose rows can open `resource`: itself, and for anything inside the
 * catalogue also `catalog:all`. The access check looks up exactly these keys and nothing else.
 */
export function keysGranting(resource: Resource): readonly Resource[] {
  const kind = resourceKind(resource);
  switch (kind) {
    case 'catalog':
      return [resource];
    case 'course':
    case 'specialization':
      return [resource, ALL_ACCESS];
    default: {
      const never: never = kind;
      throw new Error(`unhandled resource kind ${String(never)}`);
    }
  }
}
