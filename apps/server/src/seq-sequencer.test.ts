import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import { BusMessage } from './bus.js';
import { SeqSequencer } from './seq-sequencer.js';

function stored(seq: number): StoredEvent {
  return {
    seq,
    receivedAt: 1,
    id: `e${seq}`,
    type: 'agent_status_update',
    agentId: 'a',
    ts: 1,
    data: { status: 'idle' },
  } as StoredEvent;
}

const msg = (seq: number) => new BusMessage(stored(seq));

/** A database holding the given seqs, and the reads made of it. */
function database(seqs: number[]) {
  const reads: Array<[number, number]> = [];
  return {
    reads,
    readGap: (since: number, until: number) => {
      reads.push([since, until]);
      return Promise.resolve(seqs.filter((s) => s > since && s <= until).map(stored));
    },
  };
}

function sequencer(head: number, db: ReturnType<typeof database>, gapTimeoutMs = 5) {
  const delivered: number[] = [];
  const s = new SeqSequencer({
    head,
    gapTimeoutMs,
    readGap: db.readGap,
    deliver: (ms) => delivered.push(...ms.map((m) => m.seq)),
  });
  return { s, delivered };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('SeqSequencer', () => {
  it('delivers contiguous seqs at once and drops what was already delivered', () => {
    const { s, delivered } = sequencer(10, database([]));
    s.offer([msg(11), msg(12)]);
    s.offer([msg(12), msg(9), msg(13)]);
    expect(delivered).toEqual([11, 12, 13]);
    expect(s.head()).toBe(13);
    s.close();
  });

  it('holds a later seq until the lower one arrives, then delivers both in order', () => {
    const db = database([]);
    const { s, delivered } = sequencer(0, db, 10_000);
    s.offer([msg(3)]);
    s.offer([msg(2)]);
    expect(delivered).toEqual([]);
    expect(s.heldCount()).toBe(2);
    s.offer([msg(1)]);
    expect(delivered).toEqual([1, 2, 3]);
    expect(db.reads).toEqual([]);
    s.close();
  });

  it('reads a gap that the stream does not fill from the database', async () => {
    const db = database([1, 2, 3, 4, 5]);
    const { s, delivered } = sequencer(0, db);
    s.offer([msg(5)]);
    await until(() => delivered.length === 5);
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    expect(db.reads).toEqual([[0, 4]]);
    s.close();
  });

  it('moves past seqs the database does not hold below a known one', async () => {
    // 2 and 3 were deleted by retention (or never assigned): only 1 and 4 exist.
    const db = database([1, 4, 6]);
    const { s, delivered } = sequencer(0, db);
    s.offer([msg(6)]);
    await until(() => delivered.includes(6));
    expect(delivered).toEqual([1, 4, 6]);
    s.close();
  });

  it('catches up to a head from the database in bounded reads', async () => {
    const all = Array.from({ length: 2500 }, (_, i) => i + 1);
    const db = database(all);
    const { s, delivered } = sequencer(0, db);
    await s.catchUpTo(2500);
    expect(delivered).toEqual(all);
    expect(db.reads.every(([a, b]) => b - a <= 1000)).toBe(true);
    s.close();
  });

  it('whatever the order and repeats of its input, delivers 1..n once each, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.shuffledSubarray(
              Array.from({ length: n }, (_, i) => i + 1),
              { minLength: 1 },
            ),
            fc.array(fc.integer({ min: 1, max: n }), { maxLength: 20 }),
          ),
        ),
        async ([n, order, repeats]) => {
          const db = database(Array.from({ length: n }, (_, i) => i + 1));
          const { s, delivered } = sequencer(0, db, 1);
          for (const seq of [...order, ...repeats]) s.offer([msg(seq)]);
          // The highest seq is known, so everything below it must come, some from the database.
          s.offer([msg(n)]);
          await until(() => delivered.length === n);
          s.close();
          expect(delivered).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        },
      ),
      { numRuns: 60 },
    );
  });
});
