import { afterAll } from 'vitest';
import { TestSchemas } from '../test-support/pg-schemas.js';
import { describeWithServices, needPostgres } from '../test-support/service-gate.js';
import { startTestServer } from '../test-support/test-server.js';
import { conformanceErrorsConfig, errorGroupConformance } from './error-groups.conformance.js';

const schemas = new TestSchemas('weg');
const schema = schemas.name();

describeWithServices(
  'error groups and retry policies on PostgreSQL',
  [await needPostgres()],
  () => {
    afterAll(() => schemas.dropAll());

    let now = 0;
    errorGroupConformance(async () => ({
      server: await startTestServer({
        config: {
          ...conformanceErrorsConfig,
          server: { database_url: schemas.url(schema) },
        },
        clock: { now: () => now },
      }),
      setNow: (ms) => (now = ms),
    }));
  },
);
