import pg from 'pg';
import { TestSchemas } from '../test-support/pg-schemas.js';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_PG_URL, describeWithServices, needPostgres } from '../test-support/service-gate.js';
import { PgTaskQueueStore } from './pg-task-queue-store.js';
import { SqlAgentStateStore } from './sql-agent-state-store.js';
import { describeQueueStoreConformance } from './task-queue-store.conformance.js';

const schemas = new TestSchemas('wq');
const database = () => schemas.migrated();

describeWithServices('PgTaskQueueStore', [await needPostgres()], () => {
  afterAll(() => schemas.dropAll());

  describeQueueStoreConformance('PgTaskQueueStore', async () => {
    const url = await database();
    const opened: Array<{ close(): Promise<void> }> = [];
    // Each set is its own pool, as another replica would be.
    const open = () => {
      const s = { tasks: PgTaskQueueStore.open(url), states: SqlAgentStateStore.open(url) };
      opened.push(s.tasks, s.states);
      return s;
    };
    return {
      ...open(),
      other: () => Promise.resolve(open()),
      close: async () => {
        for (const o of opened) await o.close();
      },
    };
  });

  describe('PgTaskQueueStore on PostgreSQL', () => {
    it('plans the lease on the pick index, not a scan of every task', async () => {
      const url = await database();
      const schema = new URL(url).searchParams.get('schema')!;
      const c = new pg.Client({ connectionString: TEST_PG_URL });
      await c.connect();
      try {
        await c.query(`SET search_path = "${schema}"`);
        await c.query(`INSERT INTO queue_tasks (id, queue, name, state, created_at, updated_at)
          SELECT 't' || g, 'q' || (g % 50), 'n', CASE WHEN g % 3 = 0 THEN 'queued' ELSE 'completed' END, g, g
          FROM generate_series(1, 20000) g`);
        await c.query('ANALYZE queue_tasks');
        const plan = await c.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN SELECT * FROM queue_tasks WHERE queue = 'q7' AND state = 'queued'
           ORDER BY priority DESC, seq ASC LIMIT 1 FOR UPDATE SKIP LOCKED`,
        );
        expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('queue_tasks_pick');
      } finally {
        await c.end();
      }
    });
  });
});
