/**
 * `npm run bench:alerts` — the alert engine at fleet scale (issue 5 point 6): 100 rules that
 * select agents by labels over 1,000 agents (100,000 (rule, agent) series per cycle), one
 * metric update per agent per second, sent by a load generator in its own process.
 *
 * Prints the evaluation cost per cycle (the engine's own `warden_alert_evaluation_seconds_total`
 * over `warden_alert_evaluations_total`: ms per cycle and % of one core) beside the CPU seconds
 * of server and generator, and the notification latency: from the moment a probe's condition
 * has held for the rule's `for` to the webhook POST arriving at a real HTTP server on loopback.
 * Targets: evaluation ≤ 10% of one core; firing within one evaluation interval.
 *
 * Flags (env): ALERTS_AGENTS (1000), ALERTS_RULES (100), ALERTS_SECONDS (120), ALERTS_PROBES (5).
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { AlertsLoadResult, AlertsLoadTask } from './alerts-load.js';
import {
  cpuUseLine,
  cpuWindow,
  fmt,
  installCleanup,
  machineLine,
  makeTempDir,
  runGenerator,
  startWarden,
  wardenLine,
} from './bench-support.js';

const AGENTS = Number(process.env.ALERTS_AGENTS ?? 1000);
const RULES = Number(process.env.ALERTS_RULES ?? 100);
const SECONDS = Number(process.env.ALERTS_SECONDS ?? 120);
const PROBES = Number(process.env.ALERTS_PROBES ?? 5);
const EVAL_MS = 5000;
const FOR_MS = 10_000;
const METRICS = 10;
const TARGET_CORE = 0.1;

const verdict = (ok: boolean) => (ok ? 'MET' : 'NOT MET');

async function evalCounters(
  url: string,
  token: string,
): Promise<{ seconds: number; cycles: number }> {
  const text = await (
    await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    seconds: read('warden_alert_evaluation_seconds_total'),
    cycles: read('warden_alert_evaluations_total'),
  };
}

async function main(): Promise<void> {
  installCleanup();
  console.log(machineLine());
  console.log(wardenLine());
  // The receiver: a real HTTP server on loopback, in this process (not the server's).
  const received: Array<{
    at: number;
    body: { alerts: Array<{ labels: Record<string, string> }> };
  }> = [];
  const hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        at: Date.now(),
        body: JSON.parse(Buffer.concat(chunks).toString()) as never,
      });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;

  const metrics = Array.from({ length: METRICS }, (_, i) => `m${i}`);
  const rules: unknown[] = [];
  // 99 rules over the ten metrics, each selecting the fleet by label (some by group too);
  // thresholds above the values sent, so they evaluate but never fire.
  for (let i = 0; i < RULES - 1; i++) {
    rules.push({
      name: `r${i}`,
      type: 'threshold',
      metric: metrics[i % METRICS],
      op: '>',
      threshold: 1000 + i,
      for: '1m',
      agents: { match: { fleet: 'bench' } },
    });
  }
  rules.push({
    name: 'probe-high',
    type: 'threshold',
    metric: 'probe',
    op: '>',
    threshold: 50,
    for: `${FOR_MS / 1000}s`,
    agents: { match: { fleet: 'bench' } },
    group_by: ['alertname', 'agentId'],
  });
  const dir = makeTempDir('alerts-config');
  const configFile = join(dir, 'warden.yaml');
  // JSON is YAML: the config loader reads it as it is.
  writeFileSync(
    configFile,
    JSON.stringify({
      alerts: {
        evaluation_interval: `${EVAL_MS / 1000}s`,
        group_wait: '0s',
        builtin_rules: false,
        receivers: [{ name: 'hook', type: 'webhook', url: hookUrl }],
        default_receivers: ['hook'],
        rules,
      },
    }),
  );
  console.log(
    `alerts: ${RULES} rules selecting by label × ${AGENTS} agents = ${fmt(RULES * AGENTS)} series; ` +
      `1 metric_update (${METRICS + 1} metrics) per agent per second for ${SECONDS} s; evaluation every ${EVAL_MS / 1000} s`,
  );
  const warden = await startWarden({ configFile });
  const token = warden.token('admin');
  const probeAt = Array.from({ length: PROBES }, (_, k) =>
    Math.round(((k + 1) * (SECONDS - FOR_MS / 1000 - 2 * (EVAL_MS / 1000))) / (PROBES + 1)),
  );
  const before = await evalCounters(warden.url, token);
  const cpu = cpuWindow(warden.pid);
  const load = await runGenerator<AlertsLoadResult>(
    'alerts-load.js',
    {
      port: warden.port,
      token,
      agents: AGENTS,
      metrics,
      seconds: SECONDS,
      probeAt,
    } satisfies AlertsLoadTask,
    (SECONDS + 120) * 1000,
  );
  // The last probe fires within for + one interval; give the webhook that long.
  await new Promise((r) => setTimeout(r, FOR_MS + 2 * EVAL_MS));
  const use = cpu();
  const after = await evalCounters(warden.url, token);
  const problems = warden.problems();
  await warden.stop();
  hook.close();

  const cycles = after.cycles - before.cycles;
  const evalSec = after.seconds - before.seconds;
  const msPerCycle = (evalSec * 1000) / cycles;
  const coreShare = evalSec / use.wallSec;
  const latencies = load.probes.map((p) => {
    const got = received.find((r) => r.body.alerts.some((a) => a.labels.agentId === p.agentId));
    return got ? got.at - (p.at + FOR_MS) : NaN;
  });
  const worst = Math.max(...latencies);
  console.log(cpuUseLine({ ...use, generator: load.cpuSec }));
  console.log(
    `evaluation: ${cycles} cycles, ${msPerCycle.toFixed(2)} ms per cycle, ${(coreShare * 100).toFixed(2)}% of one core ` +
      `(target ≤ ${TARGET_CORE * 100}%: ${verdict(coreShare <= TARGET_CORE)}); ${fmt(load.sent)} events sent, ${load.lateTicks} late ticks`,
  );
  console.log(
    `notification latency (condition held for ${FOR_MS / 1000} s → webhook POST): ` +
      latencies.map((l) => (Number.isNaN(l) ? 'never' : `${(l / 1000).toFixed(2)} s`)).join(', ') +
      ` (target ≤ ${EVAL_MS / 1000} s: ${verdict(!Number.isNaN(worst) && worst <= EVAL_MS)})`,
  );
  for (const p of problems.slice(0, 5)) console.log(`  PROBLEM: ${p.slice(0, 300)}`);
  console.log(
    JSON.stringify({
      bench: 'alerts',
      agents: AGENTS,
      rules: RULES,
      series: AGENTS * RULES,
      seconds: SECONDS,
      eval_ms_per_cycle: Math.round(msPerCycle * 100) / 100,
      eval_core_percent: Math.round(coreShare * 10000) / 100,
      server_cpu_s: Math.round(use.server * 100) / 100,
      generator_cpu_s: Math.round(load.cpuSec * 100) / 100,
      notify_latency_max_s: Number.isNaN(worst) ? null : Math.round(worst) / 1000,
      notify_latency_s: latencies.map((l) => (Number.isNaN(l) ? null : Math.round(l) / 1000)),
    }),
  );
}

void main().then(() => process.exit(0));
