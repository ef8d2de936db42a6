// A document indexer with a bug: its embedding cache never evicts, so its memory grows by
// about 1.5 MB every 10 s (LEAK_KB_PER_SECOND). Warden's memory_leak check sees the steady
// rise within a few minutes, long before max_memory_mb; at LEAK_CAP_MB the indexer gives up
// and exits 1 (as an out-of-memory crash would), and the supervisor starts it fresh.
import { between, secs, sleep, startDemoAgent } from './demo-agent.mjs';

const LEAK_KB_PER_SECOND = Number(process.env.LEAK_KB_PER_SECOND ?? 150);
const LEAK_CAP_MB = Number(process.env.LEAK_CAP_MB ?? 300);
const MB = 1024 * 1024;

const agent = startDemoAgent();
const { warden, say, report } = agent;

// The bug: every document's vectors are kept "for later", and later never comes. Filled, not
// just allocated, so the pages are really resident and count in RSS.
const cache = [];
let cachedBytes = 0;
const leak = setInterval(() => {
  if (process.memoryUsage().rss >= LEAK_CAP_MB * MB) return;
  const chunk = Buffer.allocUnsafe(LEAK_KB_PER_SECOND * 1024).fill(cache.length & 0xff);
  cache.push(chunk);
  cachedBytes += chunk.length;
}, 1000);

let batch = 0;
let documents = 0;
report(warden.status('busy', { message: 'indexing documents' }));
while (!agent.signal.aborted) {
  const rssMb = process.memoryUsage().rss / MB;
  if (rssMb >= LEAK_CAP_MB) {
    clearInterval(leak);
    const err = new RangeError(
      `embedding cache holds ${Math.round(cachedBytes / MB)} MB in ${cache.length} entries and nothing is ever evicted; RSS ${Math.round(rssMb)} MB reached the ${LEAK_CAP_MB} MB cap`,
    );
    err.name = 'OutOfMemoryError';
    agent.warn(`${err.name}: ${err.message}`);
    await warden.error(err, { fatal: true }).catch(() => undefined);
    await warden.close({ timeoutMs: 2000 }).catch(() => undefined);
    process.exit(1);
  }
  // One batch of documents as a task of its own (reported by the agent, not a queue task).
  batch++;
  const taskId = `${agent.id}-${Date.now().toString(36)}-batch-${batch}`;
  const docs = Math.floor(between(20, 120));
  const started = Date.now();
  report(warden.taskAssigned(taskId, { name: `index batch ${batch} (${docs} documents)` }));
  for (const percent of [33, 66]) {
    if (!(await sleep(between(1500, 3000), agent.signal))) break;
    report(
      warden.taskProgress(taskId, {
        percent,
        message: `${Math.round((docs * percent) / 100)} documents embedded`,
      }),
    );
  }
  if (agent.signal.aborted) break;
  documents += docs;
  report(
    warden.taskCompleted(taskId, {
      success: true,
      durationMs: Date.now() - started,
      result: { docs },
    }),
  );
  say(
    `indexed batch ${batch}: ${docs} documents in ${secs(Date.now() - started)}; cache ${Math.round(cachedBytes / MB)} MB, RSS ${Math.round(rssMb)} MB`,
  );
  report(warden.metrics({ documents_indexed: documents, cache_mb: Math.round(cachedBytes / MB) }));
  await sleep(between(3000, 8000), agent.signal);
}
