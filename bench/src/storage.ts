/**
 * `npm run bench:storage [-- --hours 24] [--agents 200]`: what the metrics history costs on
 * disk. Simulated hours of N agents × one `metric_update` per second (cpu_percent, memory_mb,
 * response_time_ms) go through the real commit path of an in-process hub on SQLite with a
 * manual clock; the rollups are flushed every 5 simulated seconds (the default
 * flush_interval) by that clock. Then retention runs at the end of the feed and again once
 * the clock is past `retention.metrics_raw`, and the database size (file + WAL) and the rows
 * per table are printed each time. Target (issue 5): after retention the file holds the
 * rollups and no more, under 200 MB for 24 h × 200 agents.
 *
 * Why in-process through `ctx.ingestor.submit`: the question is storage, and a day of events
 * at 200/s takes a day over a socket; the submit path is the real one after validation
 * (group commit, the writer thread, the commit observers that feed the rollups, the bus),
 * and only the clock is fake. `--hours 0.2` is a smoke run.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createWarden, loadConfig, type Clock } from '@warden/server';
import { machineLine, makeTempDir, removeTempDir, wardenLine } from './bench-support.js';

const { values: args } = parseArgs({
  options: {
    hours: { type: 'string', default: '24' },
    agents: { type: 'string', default: '200' },
    keep: { type: 'boolean', default: false },
    batch: { type: 'string', default: '60' },
  },
});
const HOURS = Number(args.hours);
const AGENTS = Number(args.agents);
if (!(HOURS > 0) || !Number.isInteger(AGENTS) || AGENTS < 1) {
  console.error('usage: storage [--hours H] [--agents N] [--batch S]  (H > 0, N ≥ 1)');
  process.exit(64);
}
const TARGET_MB = 200;
/**
 * Simulated seconds submitted at once, then the rollups are flushed (the hub's own
 * `metrics.flush_interval` is 5 s). The stored rows are the same whatever the batch (flushes
 * merge into one row per series and minute); a larger batch only means fewer fsyncs, which
 * on a slow disk bound a simulated day, not Warden's CPU.
 */
const FLUSH_EVERY_S = Number(args.batch);
if (!Number.isInteger(FLUSH_EVERY_S) || FLUSH_EVERY_S < 1 || FLUSH_EVERY_S > 3600) {
  console.error('--batch S: simulated seconds per commit round, 1–3600');
  process.exit(64);
}
const MIN = 60_000;
const HOUR = 60 * MIN;
/** 2026-01-01T00:00Z. */
const T0 = Date.UTC(2026, 0, 1);

class ManualClock implements Clock {
  t = T0;
  now(): number {
    return this.t;
  }
}

/** Seeded PRNG (mulberry32), so every run feeds the same values. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const mb = (bytes: number) => bytes / 2 ** 20;
const cpuSec = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  console.log(machineLine());
  console.log(wardenLine());
  const dir = makeTempDir('storage');
  const clock = new ManualClock();
  const config = loadConfig({ dataDir: dir, port: 0 }, {}, dir);
  config.server.host = '127.0.0.1';
  config.server.log_level = 'warn';
  // The bench drives flushes and retention with its own clock.
  config.metrics.flush_interval = 24 * HOUR;
  config.metrics.system_interval = 24 * HOUR;
  config.retention.interval = 24 * HOUR;
  const warden = await createWarden({ config, clock, writeServerFile: false });
  await warden.listen();
  const metrics = warden.ctx.features.metrics;
  const db = join(dir, 'warden.db');
  const size = () => statSync(db).size + (existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0);

  const r = rng(42);
  // Per agent: a CPU level, a memory footprint that drifts, a response-time median.
  const base = Array.from({ length: AGENTS }, (_, i) => ({
    id: `agent-${String(i).padStart(3, '0')}`,
    cpu: 5 + r() * 70,
    mem: 100 + r() * 900,
    rt: 30 + r() * 300,
  }));
  const gauss = () => Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());

  const seconds = Math.round(HOURS * 3600);
  console.log(
    `feeding ${HOURS} h × ${AGENTS} agents × 1 metric_update/s (3 metrics each): ` +
      `${(seconds * AGENTS).toLocaleString('en')} events`,
  );
  const wall0 = performance.now();
  const cpu0 = cpuSec();
  let flushMs = 0;
  let lastReport = performance.now();
  for (let s = 0; s < seconds; s += FLUSH_EVERY_S) {
    const acks: Array<Promise<unknown>> = [];
    for (let k = s; k < Math.min(seconds, s + FLUSH_EVERY_S); k++) {
      clock.t = T0 + k * 1000;
      const events = base.map((a) => {
        a.mem = Math.max(50, a.mem + gauss() * 0.5);
        return {
          id: `${a.id}-${k}`,
          type: 'metric_update' as const,
          agentId: a.id,
          ts: clock.t,
          data: {
            metrics: {
              cpu_percent: Math.round(Math.max(0, a.cpu + gauss() * 3) * 10) / 10,
              memory_mb: Math.round(a.mem),
              response_time_ms: Math.round(a.rt * Math.exp(0.4 * gauss())),
            },
          },
        };
      });
      acks.push(warden.ctx.ingestor.submit(events));
    }
    await Promise.all(acks);
    clock.t = T0 + (s + FLUSH_EVERY_S) * 1000;
    const f0 = performance.now();
    await metrics.flush();
    flushMs += performance.now() - f0;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      console.log(
        `  … ${((s / 3600) | 0).toString()} h ${(((s % 3600) / 60) | 0).toString()} min simulated, ` +
          `${mb(size()).toFixed(0)} MB`,
      );
    }
  }
  const feedWall = (performance.now() - wall0) / 1000;
  const feedCpu = cpuSec() - cpu0;

  const report = async (label: string) => {
    const rows = await metrics.rowCounts();
    const bytes = size();
    console.log(
      `${label}: ${mb(bytes).toFixed(1)} MB; rows: ` +
        Object.entries(rows)
          .map(([t, n]) => `${t} ${n.toLocaleString('en')}`)
          .join(', '),
    );
    return { mb: mb(bytes), rows };
  };
  const fed = await report(`after ${HOURS} h fed, before retention`);
  // Twice: the pass the hub started at listen may still be running with the old clock.
  const retainAt = async () => {
    await warden.retention.runOnce();
    await warden.retention.runOnce();
  };
  const r0 = performance.now();
  await retainAt();
  const atEnd = await report('retention at the end of the feed');
  clock.t += config.retention.metrics_raw + HOUR;
  await retainAt();
  const retainSec = (performance.now() - r0) / 1000;
  const after = await report('retention with the clock past metrics_raw');
  const perHourMb = after.mb / HOURS;
  const projected24 = perHourMb * 24 * (200 / AGENTS);
  console.log(
    `feed: ${feedWall.toFixed(1)} s wall, ${feedCpu.toFixed(1)} CPU s ` +
      `(${((seconds * AGENTS) / feedWall).toFixed(0)} events/s; flushes ${(flushMs / 1000).toFixed(1)} s); ` +
      `retention ${retainSec.toFixed(1)} s`,
  );
  console.log(
    `after retention: ${after.mb.toFixed(1)} MB (target < ${TARGET_MB} MB for 24 h × 200 agents; ` +
      `projected ${projected24.toFixed(0)} MB ${projected24 < TARGET_MB ? 'PASS' : 'FAIL'}); ` +
      `projected full run (24 h × 200): ${(((feedWall / HOURS) * 24 * (200 / AGENTS)) / 60).toFixed(0)} min feed`,
  );
  await warden.close();
  if (!args.keep) removeTempDir(dir);
  console.log(
    JSON.stringify({
      bench: 'storage',
      hours: HOURS,
      agents: AGENTS,
      events: seconds * AGENTS,
      mb_before_retention: Math.round(fed.mb * 10) / 10,
      mb_after_retention_at_end: Math.round(atEnd.mb * 10) / 10,
      mb_after_raw_retention: Math.round(after.mb * 10) / 10,
      projected_mb_24h_200_agents: Math.round(projected24),
      rows: after.rows,
      feed_wall_s: Math.round(feedWall * 10) / 10,
      feed_cpu_s: Math.round(feedCpu * 10) / 10,
      flush_s: Math.round(flushMs / 100) / 10,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
