import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PgEventStore } from '../store/pg-event-store.js';
import { TEST_PG_URL } from './service-gate.js';

/**
 * The PostgreSQL schemas of one test file: unique names (test files run in parallel on one
 * database), migrated on request, all dropped at the end (`afterAll(() => schemas.dropAll())`).
 */
export class TestSchemas {
  private readonly made: string[] = [];
  private count = 0;

  /** @param prefix a few letters naming the test file, so a leftover schema says whose it is */
  constructor(private readonly prefix: string) {}

  /** A new schema name (created by whoever first connects with it). */
  name(): string {
    const schema = `${this.prefix}_${process.pid}_${this.count++}_${randomBytes(3).toString('hex')}`;
    this.made.push(schema);
    return schema;
  }

  /** The database URL of `schema`. */
  url(schema: string): string {
    return `${TEST_PG_URL}?schema=${schema}`;
  }

  /** A fresh schema migrated by the hub's event store (every table of every part); its URL. */
  async migrated(): Promise<string> {
    const schema = this.name();
    const events = PgEventStore.fromUrl(TEST_PG_URL, { schema, poolSize: 2 });
    await events.migrate();
    await events.close();
    return this.url(schema);
  }

  async dropAll(): Promise<void> {
    const c = new pg.Client({ connectionString: TEST_PG_URL });
    await c.connect();
    try {
      for (const s of this.made.splice(0)) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    } finally {
      await c.end();
    }
  }
}
