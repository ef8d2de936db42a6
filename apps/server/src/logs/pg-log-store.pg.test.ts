import { TestSchemas } from '../test-support/pg-schemas.js';
import { afterAll } from 'vitest';
import { describeWithServices, needPostgres } from '../test-support/service-gate.js';
import { describeLogStoreConformance } from './log-store.conformance.js';
import { PgLogStore } from './pg-log-store.js';

const schemas = new TestSchemas('wl');
const database = () => schemas.migrated();

describeWithServices('PgLogStore', [await needPostgres()], () => {
  afterAll(() => schemas.dropAll());

  describeLogStoreConformance('PgLogStore', async () => {
    const url = await database();
    const opened: PgLogStore[] = [PgLogStore.open(url)];
    return {
      store: opened[0]!,
      other: () => {
        const s = PgLogStore.open(url);
        opened.push(s);
        return Promise.resolve(s);
      },
      close: async () => {
        for (const s of opened) await s.close();
      },
    };
  });
});
