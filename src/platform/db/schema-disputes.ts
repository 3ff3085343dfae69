/** Row types of the tables this feature owns (merged into Database in schema.ts). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DisputeTables {}
