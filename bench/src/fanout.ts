/**
 * `npm run bench:fanout`: live delivery to many subscribers — Warden against a bare `ws`
 * broadcast server and a Socket.IO broadcast server. Every server and the load generator run
 * in their own processes; see bench/RESULTS.md.
 */
import { readFileSync } from 'node:fs';
import {
  cpuUseLine,
  fmt,
  installCleanup,
  latencyLine,
  machineLine,
  removeTempDir,
  runGenerator,
  startBaselineServer,
  startWarden,
  waitForQuiet,
  wardenLine,
  type ServerProcess,
  type WardenProcess,
} from './bench-support.js';
import type {
  FanoutResult,
  FanoutTask,
  RssResult,
  SaturationPlan,
  ServerKind,
} from './fanout-load.js';

const CLIENTS = 1000;
const STEADY_RATE = 100;
const TARGET_P99_MS = 50;
const TARGET_VS_WS = 0.8;
const TARGET_VS_SOCKETIO = 1.0;
const TARGET_RSS_KIB = 16;

const PLAN: SaturationPlan = {
  startRate: 20,
  factor: 1.5,
  stepMs: 3000,
  maxSteps: 14,
  refineSteps: 2,
  maxP99Ms: 100,
  minDelivered: 0.99,
  drainMs: 2000,
};

const NAMES: Record<ServerKind, string> = {
  warden: 'Warden',
  ws: 'bare ws',
  socketio: 'Socket.IO',
};

async function startServer(
  kind: ServerKind,
  inspect = false,
): Promise<{ server: ServerProcess; warden?: WardenProcess; inspectorUrl?: string }> {
  if (kind === 'warden') {
    const w = await startWarden({ inspect });
    return { server: w, warden: w, ...(w.inspectorUrl ? { inspectorUrl: w.inspectorUrl } : {}) };
  }
  const script = kind === 'ws' ? 'ws-broadcast-server.js' : 'socketio-broadcast-server.js';
  const server = await startBaselineServer(script, [], inspect ? ['--inspect=127.0.0.1:0'] : []);
  if (!inspect) return { server };
  const m = /Debugger listening on (ws:\/\/\S+)/.exec(readFileSync(server.logFile, 'utf8'));
  return { server, ...(m?.[1] ? { inspectorUrl: m[1] } : {}) };
}

function tokens(w: WardenProcess | undefined) {
  return w ? { subscriberToken: w.token('viewer'), publisherToken: w.token('agent', '*') } : {};
}

async function stop(s: { server: ServerProcess; warden?: WardenProcess }): Promise<void> {
  await s.server.stop();
  if (s.warden) removeTempDir(s.warden.dataDir);
}

async function runFanout(kind: ServerKind): Promise<FanoutResult> {
  const q = await waitForQuiet(20_000);
  if (!q.quiet) {
    console.log(
      `  note: machine still busy (${q.busyCores.toFixed(2)} cores used by other processes) before ${NAMES[kind]}`,
    );
  }
  const s = await startServer(kind);
  try {
    const r = await runGenerator<FanoutResult>(
      'fanout-load.js',
      {
        task: 'fanout',
        kind,
        port: s.server.port,
        serverPid: s.server.pid,
        ...tokens(s.warden),
        clients: CLIENTS,
        steady: { rate: STEADY_RATE, warmupMs: 2000, measureMs: 8000 },
        saturation: PLAN,
      } satisfies FanoutTask,
      240_000,
    );
    const st = r.steady;
    console.log(
      `${NAMES[kind]} (i) ${CLIENTS} subscribers at ${STEADY_RATE} events/s: publish→receive ${latencyLine(st.latency)}; ` +
        `${(st.deliveredFraction * 100).toFixed(2)}% delivered`,
    );
    console.log(`  ${cpuUseLine(st.cpu)}`);
    const best = r.steps.find((x) => x.pass && x.deliveriesPerSec === r.maxDeliveriesPerSec);
    console.log(
      `${NAMES[kind]} (ii) saturation: ${fmt(r.maxDeliveriesPerSec)} deliveries/s held ` +
        `(${fmt(r.maxRate)} events/s × ${CLIENTS} subscribers)` +
        (best ? `; p99 ${best.latency.p99.toFixed(1)} ms; ${cpuUseLine(best.cpu)}` : ''),
    );
    if (best && best.cpu.generator / best.cpu.wallSec >= 0.9) {
      console.log(
        `  note: the load generator used ${Math.round((best.cpu.generator / best.cpu.wallSec) * 100)}% of a core at the best passing rate, ` +
          `so this is a floor for ${NAMES[kind]}: the generator ran out of CPU first`,
      );
    }
    if (s.warden) {
      const problems = s.warden.problems();
      if (problems.length > 0) {
        console.log(`  Warden logged ${problems.length} warn/error lines, first: ${problems[0]}`);
      }
    }
    return r;
  } finally {
    await stop(s);
  }
}

async function runRss(kind: ServerKind): Promise<RssResult> {
  const s = await startServer(kind, true);
  try {
    if (!s.inspectorUrl) throw new Error(`no inspector URL for ${kind}`);
    const r = await runGenerator<RssResult>(
      'fanout-load.js',
      {
        task: 'rss',
        kind,
        port: s.server.port,
        serverPid: s.server.pid,
        ...tokens(s.warden),
        clients: CLIENTS,
        inspectorUrl: s.inspectorUrl,
      } satisfies FanoutTask,
      120_000,
    );
    console.log(
      `${NAMES[kind]} RSS: ${fmt(r.baseKiB)} KiB with no connections, ${fmt(r.loadedKiB)} KiB with ` +
        `${r.clients} idle ${kind === 'warden' ? 'authenticated ' : ''}connections → ${r.perConnKiB.toFixed(2)} KiB per connection (after GC)`,
    );
    return r;
  } finally {
    await stop(s);
  }
}

async function main(): Promise<void> {
  installCleanup();
  const started = Date.now();
  console.log(machineLine());
  console.log(wardenLine());
  console.log(
    `fanout: ${CLIENTS} subscribers and 1 publisher in one generator process; saturation steps of ` +
      `${PLAN.stepMs / 1000} s from ${PLAN.startRate} events/s ×${PLAN.factor}, ` +
      `pass = p99 ≤ ${PLAN.maxP99Ms} ms and ≥ ${PLAN.minDelivered * 100}% delivered`,
  );
  const results = {} as Record<ServerKind, FanoutResult>;
  for (const kind of ['warden', 'ws', 'socketio'] as const) results[kind] = await runFanout(kind);
  const rss = {} as Record<ServerKind, RssResult>;
  for (const kind of ['warden', 'ws', 'socketio'] as const) rss[kind] = await runRss(kind);

  const w = results.warden;
  const ratioWs = w.maxDeliveriesPerSec / results.ws.maxDeliveriesPerSec;
  const ratioIo = w.maxDeliveriesPerSec / results.socketio.maxDeliveriesPerSec;
  const v = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(
    `targets: p99 ≤ ${TARGET_P99_MS} ms at ${STEADY_RATE} events/s: ${w.steady.latency.p99.toFixed(2)} ms ${v(w.steady.latency.p99 <= TARGET_P99_MS)}; ` +
      `≥ ${TARGET_VS_WS}× bare ws: ${ratioWs.toFixed(2)}× ${v(ratioWs >= TARGET_VS_WS)}; ` +
      `≥ ${TARGET_VS_SOCKETIO}× Socket.IO: ${ratioIo.toFixed(2)}× ${v(ratioIo >= TARGET_VS_SOCKETIO)}; ` +
      `RSS ≤ ${TARGET_RSS_KIB} KiB per idle authenticated connection: ${rss.warden.perConnKiB.toFixed(2)} KiB ${v(rss.warden.perConnKiB <= TARGET_RSS_KIB)}`,
  );
  console.log(
    `baselines at (i): bare ws p50 ${results.ws.steady.latency.p50.toFixed(2)} ms p99 ${results.ws.steady.latency.p99.toFixed(2)} ms; ` +
      `Socket.IO p50 ${results.socketio.steady.latency.p50.toFixed(2)} ms p99 ${results.socketio.steady.latency.p99.toFixed(2)} ms`,
  );
  console.log(`total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
  console.log(
    JSON.stringify({
      bench: 'fanout',
      clients: CLIENTS,
      p50_ms: round(w.steady.latency.p50),
      p99_ms: round(w.steady.latency.p99),
      warden_max_deliveries_per_s: Math.round(w.maxDeliveriesPerSec),
      ws_max_deliveries_per_s: Math.round(results.ws.maxDeliveriesPerSec),
      socketio_max_deliveries_per_s: Math.round(results.socketio.maxDeliveriesPerSec),
      ratio_vs_ws: round(ratioWs),
      ratio_vs_socketio: round(ratioIo),
      rss_per_conn_kib: round(rss.warden.perConnKiB),
    }),
  );
}

await main();
