import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';
import { TEST_PG_URL, describeWithServices, needPostgres } from '../test-support/service-gate.js';
import { startTestServer } from '../test-support/test-server.js';
import { conformanceErrorsConfig, errorGroupConformance } from './error-groups.conformance.js';

const schema = `weg_${process.pid}_${randomBytes(3).toString('hex')}`;

describeWithServices(
  'error groups and retry policies on PostgreSQL',
  [await needPostgres()],
  () => {
    afterAll(async () => {
      const c = new pg.Client({ connectionString: TEST_PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    });

    let now = 0;
    errorGroupConformance(async () => ({
      server: await startTestServer({
        config: {
          ...conformanceErrorsConfig,
          server: { database_url: `${TEST_PG_URL}?schema=${schema}` },
        },
        clock: { now: () => now },
      }),
      setNow: (ms) => (now = ms),
    }));
  },
);
