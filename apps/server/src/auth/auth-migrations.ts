import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../store/migrations.js';

/** The tables of dashboard sign-in, merged into the store's migrations (see store/migrations.ts). */
export function authMigrations(_dialect: Dialect): Record<string, Migration> {
  return {
    '0010_sessions': {
      async up(db: Kysely<unknown>) {
        // One row per sign-in. The session token (a JWT) carries the row's id as `sid`;
        // a revoked or expired row refuses the token on every route and socket, so sign-out
        // is real and not only "the browser forgot it". `login_jti` is the id of the one-time
        // login link that opened the session: its uniqueness makes the link single-use
        // across replicas. `method` (`login_link`, `token`; later `password`) and `sub`
        // (`role:admin` today, a user id once accounts exist) are where accounts slot in.
        await db.schema
          .createTable('sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('sub', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('login_jti', 'text', (c) => c.unique())
          .addColumn('user_agent', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('sessions_expires')
          .on('sessions')
          .columns(['expires_at'])
          .execute();
      },
    },
  };
}
