import { afterEach, describe, expect, it } from 'vitest';
import type { LogRow, LogStore } from './log-store.js';

/** A store on a freshly migrated database, and a second one on the same data (a replica). */
export interface LogStoreHarness {
  store: LogStore;
  other(): Promise<LogStore>;
  close(): Promise<void>;
}

const T0 = 1_760_000_000_000;

function row(seq: number, over: Partial<LogRow> = {}): LogRow {
  return {
    seq,
    agentId: 'a1',
    ts: T0 + seq * 1000,
    level: 'info',
    message: `line ${seq}`,
    ...over,
  };
}

/** The behaviour every LogStore adapter must show, against its real engine. */
export function describeLogStoreConformance(
  name: string,
  open: () => Promise<LogStoreHarness>,
): void {
  describe(`${name} (LogStore conformance)`, () => {
    let h: LogStoreHarness | undefined;
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });

    it('stores rows with their position; a replay of the same seqs writes nothing twice', async () => {
      h = await open();
      const rows = [
        row(1, { stream: 'stdout', correlationId: 'req-1' }),
        row(3, { level: 'error', stream: 'stderr' }),
      ];
      await h.store.insert(rows, 4);
      await h.store.insert(rows, 3); // a replay; the position never goes back
      expect(await h.store.readState()).toMatchObject({ seq: 4 });
      const got = await h.store.query({ order: 'asc', limit: 10 });
      expect(got).toEqual(rows);
      const replica = await h.other();
      await replica.insert([row(3), row(5)], 5);
      expect((await h.store.query({ order: 'asc', limit: 10 })).map((r) => r.seq)).toEqual([
        1, 3, 5,
      ]);
      expect((await h.store.readState()).seq).toBe(5);
    });

    it('filters by agent, level and above, time range, substring and correlation id; pages by seq either way', async () => {
      h = await open();
      await h.store.insert(
        [
          row(1, { level: 'debug', message: 'starting up' }),
          row(2, { level: 'info', message: 'Connected to DB' }),
          row(3, { level: 'warn', message: 'slow query 100%_done' }),
          row(4, { level: 'error', message: 'connection lost', agentId: 'a2' }),
          row(5, { level: 'error', message: 'db CONNECTION refused', correlationId: 'c-9' }),
        ],
        5,
      );
      const seqs = async (q: Parameters<LogStore['query']>[0]) =>
        (await h!.store.query(q)).map((r) => r.seq);
      expect(await seqs({ order: 'desc', limit: 10 })).toEqual([5, 4, 3, 2, 1]);
      expect(await seqs({ order: 'asc', limit: 10, agentId: 'a2' })).toEqual([4]);
      expect(await seqs({ order: 'asc', limit: 10, minLevel: 2 })).toEqual([3, 4, 5]);
      expect(await seqs({ order: 'asc', limit: 10, q: 'connect' })).toEqual([2, 4, 5]);
      // LIKE wildcards in the text are literal.
      expect(await seqs({ order: 'asc', limit: 10, q: '%_' })).toEqual([3]);
      expect(await seqs({ order: 'asc', limit: 10, q: '_' })).toEqual([3]);
      expect(await seqs({ order: 'asc', limit: 10, correlationId: 'c-9' })).toEqual([5]);
      expect(await seqs({ order: 'asc', limit: 10, since: T0 + 2000, until: T0 + 4000 })).toEqual([
        2, 3,
      ]);
      expect(await seqs({ order: 'desc', limit: 2 })).toEqual([5, 4]);
      expect(await seqs({ order: 'desc', limit: 2, cursor: 4 })).toEqual([3, 2]);
      expect(await seqs({ order: 'asc', limit: 2, cursor: 2 })).toEqual([3, 4]);
      expect(await seqs({ order: 'desc', limit: 10, maxSeq: 3 })).toEqual([3, 2, 1]);
    });

    it('deletes rows older than a cutoff', async () => {
      h = await open();
      await h.store.insert(
        Array.from({ length: 20 }, (_, i) => row(i + 1)),
        20,
      );
      expect(await h.store.deleteOlderThan(T0 + 11_000)).toBe(10);
      expect((await h.store.query({ order: 'asc', limit: 100 })).map((r) => r.seq)[0]).toBe(11);
    });

    it('estimates its size from the running totals and sheds the oldest rows down to a cap', async () => {
      h = await open();
      const message = 'x'.repeat(932); // with the 64-byte share and the id: 1,000 bytes a row
      const rows = Array.from({ length: 50 }, (_, i) => row(i * 3 + 1, { message, agentId: 'a1' }));
      await h.store.insert(rows.slice(0, 25), 75);
      await h.store.insert(rows.slice(25), 150);
      expect(await h.store.estimatedBytes()).toBe(50 * 1000);
      expect(await h.store.shrinkTo(100_000)).toBe(0);
      expect(await h.store.shrinkTo(20_500)).toBe(30);
      expect(await h.store.estimatedBytes()).toBe(20 * 1000);
      const left = await h.store.query({ order: 'asc', limit: 100 });
      expect(left.map((r) => r.seq)).toEqual(rows.slice(30).map((r) => r.seq));
      await h.store.reclaim();
      // A store opened later carries the running total on from the newest row.
      const again = await h.other();
      await again.insert([row(200, { message, agentId: 'a1' })], 200);
      expect(await h.store.estimatedBytes()).toBe(21 * 1000);
    });

    it('an empty table is 0 bytes and shrinks to nothing', async () => {
      h = await open();
      expect(await h.store.estimatedBytes()).toBe(0);
      expect(await h.store.shrinkTo(0)).toBe(0);
      expect(await h.store.readState()).toEqual({ seq: 0, cumBytes: 0 });
    });
  });
}
