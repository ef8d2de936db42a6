/**
 * Alert bench load generator, run in its own process by alerts.ts (never inside the server).
 * Announces `agents` agents with labels, then sends one `metric_update` per agent per second
 * (every metric the rules read) in batches over keep-alive HTTP, for `seconds`. At each probe
 * time one agent's `probe` metric goes over its rule's threshold (and stays there); the wall
 * time it was sent is reported, so the bench can time condition → firing → webhook.
 */
import { Agent, request } from 'node:http';
import { selfCpuSec, serveGenerator, sleep } from './bench-support.js';

export interface AlertsLoadTask {
  port: number;
  token: string;
  agents: number;
  metrics: string[];
  seconds: number;
  /** Seconds into the run at which probe k starts (agent `bench-<k>`). */
  probeAt: number[];
}

export interface AlertsLoadResult {
  sent: number;
  /** Epoch ms at which each probe's first over-threshold value was acknowledged. */
  probes: Array<{ agentId: string; at: number }>;
  lateTicks: number;
  cpuSec: number;
  wallSec: number;
}

const BATCH = 500;

function post(port: number, token: string, agent: Agent, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/events',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode ?? 0}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function run(t: AlertsLoadTask): Promise<AlertsLoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const cpu0 = selfCpuSec();
  const w0 = Date.now();
  const ids = Array.from({ length: t.agents }, (_, i) => `bench-${i}`);
  let seq = 0;
  const id = () => `al-${process.pid}-${seq++}`;
  const send = async (events: unknown[]) => {
    for (let i = 0; i < events.length; i += BATCH) {
      await post(t.port, t.token, agent, JSON.stringify({ events: events.slice(i, i + BATCH) }));
    }
  };
  await send(
    ids.map((agentId, i) => ({
      id: id(),
      type: 'agent_status_update',
      agentId,
      data: { status: 'running', meta: { labels: { fleet: 'bench', group: `g${i % 10}` } } },
    })),
  );
  let sent = ids.length;
  const probes: AlertsLoadResult['probes'] = [];
  const probing = new Set<number>();
  let lateTicks = 0;
  const start = Date.now();
  for (let tick = 0; tick < t.seconds; tick++) {
    const due = start + tick * 1000;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -200) lateTicks++;
    const newProbes: number[] = [];
    t.probeAt.forEach((s, k) => {
      if (s === tick) {
        probing.add(k);
        newProbes.push(k);
      }
    });
    const events = ids.map((agentId, i) => {
      const metrics: Record<string, number> = {};
      for (const m of t.metrics) metrics[m] = (i + tick) % 50;
      metrics.probe = probing.has(i) ? 100 : 0;
      return { id: id(), type: 'metric_update', agentId, data: { metrics } };
    });
    // The probe agents go first, so their time is the time of their own batch's ack.
    const first = events.splice(0, Math.max(0, ...newProbes.map((k) => k + 1)));
    if (first.length > 0) {
      await send(first);
      const at = Date.now();
      for (const k of newProbes) probes.push({ agentId: ids[k]!, at });
    }
    await send(events);
    sent += ids.length;
  }
  agent.destroy();
  return {
    sent,
    probes,
    lateTicks,
    cpuSec: selfCpuSec() - cpu0,
    wallSec: (Date.now() - w0) / 1000,
  };
}

serveGenerator(run);
