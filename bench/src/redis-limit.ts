/**
 * The Redis limit, run in its own process by `ingest.ts --redis`: pipelined `XADD … MAXLEN ~`
 * of stored-event JSON the size of the bench's events, through the same client Warden uses
 * (ioredis), back to back on one connection. What Redis and the client allow for this stream.
 */
import { Redis } from 'ioredis';
import {
  LatencyHistogram,
  selfCpuSec,
  serveGenerator,
  type LatencySummary,
} from './bench-support.js';

export interface RedisLimitTask {
  url: string;
  key: string;
  maxLen: number;
  /** Entries per pipeline. */
  batch: number;
  seconds: number;
}

export interface RedisLimitRun {
  batch: number;
  eventsPerSec: number;
  pipeline: LatencySummary;
  cpuSec: number;
  wallSec: number;
}

async function run(task: RedisLimitTask): Promise<RedisLimitRun> {
  const redis = new Redis(task.url, { lazyConnect: true });
  await redis.connect();
  const hist = new LatencyHistogram();
  const cpu0 = selfCpuSec();
  const t0 = performance.now();
  const end = t0 + task.seconds * 1000;
  const runId = Date.now().toString(36);
  let n = 0;
  try {
    for (let t = t0; t < end;) {
      const p = redis.pipeline();
      const now = Date.now();
      for (let i = 0; i < task.batch; i++, n++) {
        const conn = n % 100;
        const json =
          `{"seq":${n + 1},"receivedAt":${now},"id":"${runId}-${conn}-${n}","type":"metric_update",` +
          `"agentId":"bench-${conn}","ts":${now},"data":{"metrics":{"cpu_percent":${n % 100},"sent_at":${t.toFixed(3)}}}}`;
        p.xadd(task.key, 'MAXLEN', '~', task.maxLen, `${n + 1}-0`, 'event', json);
      }
      await p.exec();
      const t1 = performance.now();
      hist.record(t1 - t);
      t = t1;
    }
    const wallSec = (performance.now() - t0) / 1000;
    return {
      batch: task.batch,
      eventsPerSec: n / wallSec,
      pipeline: hist.summary(),
      cpuSec: selfCpuSec() - cpu0,
      wallSec,
    };
  } finally {
    await redis.del(task.key);
    redis.disconnect();
  }
}

serveGenerator(run);
