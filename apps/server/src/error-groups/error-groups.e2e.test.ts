import { describe } from 'vitest';
import { startTestServer } from '../test-support/test-server.js';
import { conformanceErrorsConfig, errorGroupConformance } from './error-groups.conformance.js';

describe('error groups and retry policies on SQLite', () => {
  let now = 0;
  errorGroupConformance(async () => ({
    // The writer on the event loop, so the projection runs from these sources (the writer
    // thread runs the built ones; error-groups-thread.e2e.test.ts covers it).
    server: await startTestServer({
      config: { ...conformanceErrorsConfig, ingest: { writer_thread: false } },
      clock: { now: () => now },
    }),
    setNow: (ms) => (now = ms),
  }));
});
