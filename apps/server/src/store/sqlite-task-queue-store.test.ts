import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '@warden/protocol';
import { SqlAgentStateStore } from './sql-agent-state-store.js';
import { SqliteTaskQueueStore } from './sqlite-task-queue-store.js';
import { SqliteEventStore } from './sqlite-event-store.js';
import { describeQueueStoreConformance } from './task-queue-store.conformance.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/**
 * A migrated database file with the hub's event store open on it (its writer thread only
 * where a test needs it: starting one per test costs CPU the suite does not need).
 */
async function database(writerThread = false): Promise<{ url: string; events: SqliteEventStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-queue-'));
  dirs.push(dir);
  const file = join(dir, 'w.db');
  const events = new SqliteEventStore(file, { writerThread });
  await events.migrate();
  return { url: `sqlite:${file}`, events };
}

describeQueueStoreConformance('SqliteTaskQueueStore on SQLite', async () => {
  const { url, events } = await database();
  const opened: Array<{ close(): Promise<void> }> = [events];
  const open = () => {
    const s = { tasks: SqliteTaskQueueStore.open(url), states: SqlAgentStateStore.open(url) };
    opened.push(s.tasks, s.states);
    return s;
  };
  return {
    ...open(),
    other: () => Promise.resolve(open()),
    close: async () => {
      for (const o of opened.reverse()) await o.close();
    },
  };
});

describe('SqliteTaskQueueStore on SQLite beside the event writer', () => {
  it('leases and completes while the writer thread commits events, without SQLITE_BUSY', async () => {
    const { url, events } = await database(true);
    const tasks = SqliteTaskQueueStore.open(url);
    let writing = true;
    let batches = 0;
    const writer = (async () => {
      while (writing) {
        const batch = Array.from(
          { length: 200 },
          (_, i) =>
            ({
              id: `e${batches}-${i}`,
              type: 'metric_update',
              agentId: 'w',
              ts: 1,
              data: { metrics: { n: i } },
            }) as WardenEvent,
        );
        await events.append(batch, 1);
        batches++;
      }
    })();
    for (let i = 0; i < 100; i++) {
      const t = await tasks.enqueue({
        id: `t${i}`,
        queue: 'q',
        name: 'n',
        payloadJson: null,
        priority: 0,
        createdAt: 1,
      });
      const got = await tasks.lease({ queue: 'q', agentId: 'a', leaseMs: 1000, now: 2 });
      expect(got!.id).toBe(t.id);
      expect(await tasks.complete(t.id, { agentId: 'a', resultJson: null, now: 3 })).toMatchObject({
        ok: true,
      });
    }
    writing = false;
    await writer;
    expect(batches).toBeGreaterThan(0);
    expect((await tasks.stats({ since: 0, windowMin: 5 }))[0]).toMatchObject({ completed: 100 });
    await tasks.close();
    await events.close();
  });

  it('keeps tasks and state across a reopen of the file', async () => {
    const { url, events } = await database();
    const tasks = SqliteTaskQueueStore.open(url);
    const states = SqlAgentStateStore.open(url);
    const t = await tasks.enqueue({
      id: 'keep',
      queue: 'q',
      name: 'n',
      payloadJson: '{"a":1}',
      priority: 1,
      createdAt: 1,
    });
    await tasks.lease({ queue: 'q', agentId: 'a', leaseMs: 1000, now: 2 });
    await states.put('a', '{"count":7}', 5);
    await Promise.all([tasks.close(), states.close(), events.close()]);
    const again = SqliteTaskQueueStore.open(url);
    const statesAgain = SqlAgentStateStore.open(url);
    expect(await again.get(t.id)).toMatchObject({
      state: 'leased',
      agentId: 'a',
      payload: { a: 1 },
    });
    expect(await statesAgain.get('a')).toEqual({ agentId: 'a', state: { count: 7 }, updatedAt: 5 });
    await Promise.all([again.close(), statesAgain.close()]);
  });
});
