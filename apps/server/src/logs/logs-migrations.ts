import type { Migration } from 'kysely';
import type { Dialect } from '../store/migrations.js';

/** The tables of this feature, as migrations merged into the store's list (see store/migrations.ts). */
export function logsMigrations(_dialect: Dialect): Record<string, Migration> {
  return {};
}
