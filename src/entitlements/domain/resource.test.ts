import { describe, expect, it } from 'vitest';
import { DEMO_PRODUCTS } from '../../catalog/demo.js';
import { isResource, keysGranting, MAX_RESOURCE_LENGTH, parseResource } from './resource.js';

describe('resources', () => {
  it('accepts courses, specializations and the all-access catalogue', () => {
    expect(parseResource('course:machine-learning')).toBe('course:machine-learning');
    expect(parseResource('specialization:data-science')).toBe('specialization:data-science');
    expect(parseResource('catalog:all')).toBe('catalog:all');
    expect(parseResource('course:ml-101')).toBe('course:ml-101');
  });

  it('refuses other kinds, bad slugs and over-long names', () => {
    for (const bad of ['', 'course', 'course:', 'course:ML', 'course:-ml', 'course:ml-', 'course:ml_101', 'course:a b', 'catalog:some', 'catalog:', 'video:x', ':x', 'course:x:y']) {
      expect(parseResource(bad), bad).toBeUndefined();
    }
    expect(parseResource(`course:${'a'.repeat(MAX_RESOURCE_LENGTH)}`)).toBeUndefined();
    expect(isResource(42)).toBe(false);
  });

  it('opens a course or specialization through itself or catalog:all, and catalog:all only through itself', () => {
    expect(keysGranting('course:ml')).toEqual(['course:ml', 'catalog:all']);
    expect(keysGranting('specialization:ds')).toEqual(['specialization:ds', 'catalog:all']);
    expect(keysGranting('catalog:all')).toEqual(['catalog:all']);
  });

  it('every demo product grants a valid resource', () => {
    for (const p of DEMO_PRODUCTS) expect(p.grants !== null && isResource(p.grants), p.id).toBe(true);
    expect(Object.fromEntries(DEMO_PRODUCTS.map((p) => [p.id, p.grants]))).toEqual({
      prod_ml_certificate: 'course:machine-learning',
      prod_data_science_specialization: 'specialization:data-science',
      prod_obol_plus: 'catalog:all',
    });
  });
});
