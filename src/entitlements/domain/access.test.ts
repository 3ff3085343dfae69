import { describe, expect, it } from 'vitest';
import { decideAccess, keysForCheck } from './access.js';
import type { Resource } from './resource.js';
import type { Window } from './validity.js';

const rows = (entries: [Resource, Window[]][]) => new Map<Resource, readonly Window[]>(entries);

describe('access decisions', () => {
  it('allows a resource held directly, inside its window only', () => {
    const held = rows([['course:ml', [{ validFrom: 100, validUntil: 200 }]]]);
    expect(decideAccess('course:ml', held, 150)).toEqual({ resource: 'course:ml', allowed: true, via: 'course:ml', validUntil: 200 });
    expect(decideAccess('course:ml', held, 200)).toEqual({ resource: 'course:ml', allowed: false, via: null, validUntil: null });
    expect(decideAccess('course:other', held, 150).allowed).toBe(false);
  });

  it('opens every course and specialization through an active catalog:all', () => {
    const held = rows([['catalog:all', [{ validFrom: 100, validUntil: 1000 }]]]);
    expect(decideAccess('course:anything', held, 500)).toEqual({ resource: 'course:anything', allowed: true, via: 'catalog:all', validUntil: 1000 });
    expect(decideAccess('specialization:ds', held, 500).via).toBe('catalog:all');
    expect(decideAccess('catalog:all', held, 500).allowed).toBe(true);
    expect(decideAccess('course:anything', held, 1000).allowed).toBe(false);
  });

  it('a course does not open the catalogue', () => {
    expect(decideAccess('catalog:all', rows([['course:ml', [{ validFrom: 0, validUntil: null }]]]), 5).allowed).toBe(false);
  });

  it('answers with whichever opens it for longer', () => {
    const held = rows([
      ['course:ml', [{ validFrom: 0, validUntil: null }]],
      ['catalog:all', [{ validFrom: 0, validUntil: 1000 }]],
    ]);
    expect(decideAccess('course:ml', held, 10)).toMatchObject({ via: 'course:ml', validUntil: null });
  });

  it('asks for each key once in a batch', () => {
    expect(keysForCheck(['course:a', 'course:b', 'catalog:all', 'course:a'])).toEqual(['course:a', 'catalog:all', 'course:b']);
  });
});
