export const DIALECTS = ['sqlite', 'mysql'] as const;
export type Dialect = (typeof DIALECTS)[number];
