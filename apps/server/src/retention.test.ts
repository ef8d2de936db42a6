import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { WardenEvent } from '@warden/protocol';
import { parseConfig } from './config.js';
import { RetentionJob } from './retention.js';
import { SqliteEventStore } from './store/sqlite-event-store.js';

const DAY = 86_400_000;

describe('RetentionJob', () => {
  it('when events pass the configured age, the next pass deletes exactly those', async () => {
    const store = new SqliteEventStore(join(mkdtempSync(join(tmpdir(), 'warden-ret-')), 'w.db'));
    await store.migrate();
    const start = Date.UTC(2026, 0, 1);
    let now = start;
    const clock = { now: () => now };
    const ev = (id: string) =>
      ({
        id,
        type: 'metric_update',
        agentId: 'r',
        ts: now,
        data: { metrics: { x: 1 } },
      }) as WardenEvent;
    // One batch a day for ten days.
    for (let d = 0; d < 10; d++) {
      await store.append([ev(`a${d}`), ev(`b${d}`)], start + d * DAY);
    }
    const retention = parseConfig({ retention: { events: '7d' } }).retention;
    const job = new RetentionJob(store, retention, clock, pino({ level: 'silent' }));

    now = start + 9 * DAY; // day 9: cutoff is day 2 → days 0 and 1 go
    expect(await job.runOnce()).toBe(4);
    now = start + 9 * DAY + 1; // cutoff just past day 2's batch
    expect(await job.runOnce()).toBe(2);
    expect(await job.runOnce()).toBe(0);
    now = start + 30 * DAY;
    expect(await job.runOnce()).toBe(14);
    expect(await store.readEvents({ since: 0, limit: 100 })).toEqual([]);
    await store.close();
  });

  it('parses retention durations from config with the documented defaults', () => {
    const r = parseConfig({}).retention;
    expect(r).toMatchObject({
      events: 7 * DAY,
      metrics_raw: DAY,
      metrics_1m: 30 * DAY,
      interval: 3_600_000,
    });
    expect(r.logs_max_bytes).toBe(1024 ** 3);
  });
});
