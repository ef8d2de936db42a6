/**
 * Fan-out load generator, run in its own process by fanout.ts (never inside a server).
 *
 * `fanout`: opens N subscribers and one publisher against one server (Warden, bare ws or
 * Socket.IO), then (i) publishes at a steady rate and measures publish → receive latency over
 * every delivery, and (ii) raises the publish rate step by step until p99 passes the limit or
 * fewer than the required share of deliveries arrive, then refines between the last passing
 * and the first failing rate. The publish time travels in the event (`data.metrics.sent_at`,
 * this process's monotonic clock) and is read back from the raw frame on receipt.
 *
 * `rss`: server RSS with no connections and with N idle (authenticated, for Warden)
 * connections, each read after a full GC of the server through its inspector.
 */
import { io as ioClient, type Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';
import {
  LatencyHistogram,
  cpuWindow,
  procSample,
  serveGenerator,
  sleep,
  waitForQuiet,
  type CpuUse,
  type LatencySummary,
} from './bench-support.js';
import { RawWsClient, after, readNumber } from './raw-ws-client.js';

export type ServerKind = 'warden' | 'ws' | 'socketio';

interface Target {
  kind: ServerKind;
  port: number;
  serverPid: number;
  /** Warden: token of the subscribers (viewer) and of the publisher (agent `*`). */
  subscriberToken?: string;
  publisherToken?: string;
}

export interface SaturationPlan {
  startRate: number;
  factor: number;
  stepMs: number;
  maxSteps: number;
  refineSteps: number;
  maxP99Ms: number;
  minDelivered: number;
  /** Longest wait after a step for its deliveries to arrive. */
  drainMs: number;
}

export type FanoutTask =
  | (Target & {
      task: 'fanout';
      clients: number;
      steady: { rate: number; warmupMs: number; measureMs: number };
      saturation: SaturationPlan;
    })
  | (Target & { task: 'rss'; clients: number; inspectorUrl: string });

export interface StepResult {
  rate: number;
  sent: number;
  expected: number;
  received: number;
  deliveredFraction: number;
  deliveriesPerSec: number;
  latency: LatencySummary;
  /** CPU of the server, this generator and the rest of the machine over the step. */
  cpu: CpuUse;
  disconnects: number;
  errors: number;
  pass: boolean;
}

export interface FanoutResult {
  connectSec: number;
  steady: StepResult;
  steps: StepResult[];
  maxDeliveriesPerSec: number;
  maxRate: number;
}

export interface RssResult {
  clients: number;
  baseKiB: number;
  loadedKiB: number;
  perConnKiB: number;
}

const RUN = Date.now().toString(36);
const SENT_AT = Buffer.from('"sent_at":');
const EVENT_PREFIX = Buffer.from('{"op":"event"');
const IO_EVENT_PREFIX = Buffer.from('42["event"');
const SUBSCRIBED_PREFIX = Buffer.from('{"op":"subscribed"');
const ERROR_PREFIX = Buffer.from('{"op":"error"');

function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  return (
    end - start >= prefix.length &&
    buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0
  );
}

function eventObject(n: number, sentAt: number) {
  return {
    id: `${RUN}-${n}`,
    type: 'metric_update',
    agentId: 'bench-publisher',
    ts: Date.now(),
    data: { metrics: { cpu_percent: n % 100, sent_at: Math.round(sentAt * 1000) / 1000 } },
  };
}

/** What the subscribers are counting into right now. */
interface Tally {
  hist: LatencyHistogram;
  received: number;
  disconnects: number;
  errors: number;
}

const newTally = (): Tally => ({
  hist: new LatencyHistogram(),
  received: 0,
  disconnects: 0,
  errors: 0,
});

function subscriberPath(kind: ServerKind): string {
  return kind === 'warden' ? '/ws' : kind === 'ws' ? '/' : '/socket.io/?EIO=4&transport=websocket';
}

/**
 * Opens one subscriber and resolves once it will receive broadcasts: Warden after
 * `subscribed`, Socket.IO after the namespace connect, bare ws at once.
 */
async function openSubscriber(
  t: Target,
  tally: () => Tally,
  opts: { subscribe: boolean },
): Promise<RawWsClient> {
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const deliveryPrefix = t.kind === 'socketio' ? IO_EVENT_PREFIX : EVENT_PREFIX;
  // Set once the handshake is done; frames that arrive with the handshake wait in `early`.
  const self: { client?: RawWsClient } = {};
  let early: Array<[Buffer, number, number]> = [];
  const onMessage = (buf: Buffer, start: number, end: number) => {
    const client = self.client;
    if (!client) {
      // Socket.IO speaks first (its open packet arrives with the handshake response).
      early.push([Buffer.from(buf.subarray(start, end)), 0, end - start]);
      return;
    }
    if (startsWith(buf, start, end, deliveryPrefix)) {
      const i = after(buf, SENT_AT, start, end);
      const now = performance.now();
      const tl = tally();
      if (i > 0) tl.hist.record(now - readNumber(buf, i));
      tl.received++;
      return;
    }
    if (t.kind === 'socketio') {
      // Engine.IO: "2" ping → "3" pong; "0{…}" open → "40" joins the default namespace, which
      // answers "40{…}".
      const c0 = buf[start];
      if (c0 === 0x32 && end - start === 1) client.sendText('3');
      else if (c0 === 0x30) client.sendText('40');
      else if (c0 === 0x34 && buf[start + 1] === 0x30) ready();
    } else if (t.kind === 'warden') {
      if (startsWith(buf, start, end, SUBSCRIBED_PREFIX)) ready();
      else if (startsWith(buf, start, end, ERROR_PREFIX)) tally().errors++;
    }
  };
  const client = await RawWsClient.open({
    port: t.port,
    path: subscriberPath(t.kind),
    ...(t.kind === 'warden' ? { headers: { Authorization: `Bearer ${t.subscriberToken}` } } : {}),
    onMessage,
    onClose: () => tally().disconnects++,
  });
  self.client = client;
  for (const [b, s, e] of early) onMessage(b, s, e);
  early = [];
  if (t.kind === 'ws') ready();
  else if (t.kind === 'warden') {
    if (opts.subscribe) client.sendText('{"op":"subscribe","topics":["events"]}');
    else ready();
  }
  const timeout = sleep(10_000).then(() => {
    throw new Error(`subscriber ${t.kind} not ready after 10 s`);
  });
  await Promise.race([isReady, timeout]);
  return client;
}

/** Opens `n` subscribers, `parallel` handshakes at a time. */
async function openMany(
  t: Target,
  n: number,
  tally: () => Tally,
  opts: { subscribe: boolean },
  parallel = 100,
): Promise<RawWsClient[]> {
  const out: RawWsClient[] = [];
  for (let i = 0; i < n; i += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, n - i) }, () => openSubscriber(t, tally, opts)),
    );
    out.push(...batch);
  }
  return out;
}

interface Publisher {
  /** Sends every event due at `rate` for `ms`; resolves with the count sent. */
  publishFor(rate: number, ms: number): Promise<number>;
  close(): void;
}

async function openPublisher(t: Target, tally: () => Tally): Promise<Publisher> {
  let n = 0;
  let send: (count: number) => void;
  let close: () => void;
  if (t.kind === 'socketio') {
    const socket: IoSocket = ioClient(`http://127.0.0.1:${t.port}`, {
      transports: ['websocket'],
      reconnection: false,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    send = (count) => {
      for (let i = 0; i < count; i++) socket.emit('publish', eventObject(n++, performance.now()));
    };
    close = () => socket.close();
  } else {
    const client = await RawWsClient.open({
      port: t.port,
      path: subscriberPath(t.kind),
      ...(t.kind === 'warden' ? { headers: { Authorization: `Bearer ${t.publisherToken}` } } : {}),
      onMessage: (buf, start, end) => {
        if (t.kind === 'warden' && startsWith(buf, start, end, ERROR_PREFIX)) tally().errors++;
      },
    });
    const ref = t.kind === 'warden';
    send = (count) => {
      client.cork();
      for (let i = 0; i < count; i++) {
        const ev = JSON.stringify(eventObject(n, performance.now()));
        client.sendText(
          ref ? `{"op":"publish","ref":"${n}","event":${ev}}` : `{"op":"publish","event":${ev}}`,
        );
        n++;
      }
      client.uncork();
    };
    close = () => client.close();
  }
  return {
    publishFor: (rate, ms) =>
      new Promise((resolve) => {
        const t0 = performance.now();
        const total = Math.floor((ms / 1000) * rate);
        let sent = 0;
        const tick = () => {
          const elapsed = performance.now() - t0;
          const due = Math.min(total, Math.floor((elapsed / 1000) * rate));
          if (due > sent) {
            send(due - sent);
            sent = due;
          }
          if (elapsed >= ms) resolve(sent);
          else setTimeout(tick, 1);
        };
        tick();
      }),
    close: () => close(),
  };
}

async function fanout(task: Extract<FanoutTask, { task: 'fanout' }>): Promise<FanoutResult> {
  let tally = newTally();
  const current = () => tally;
  const c0 = performance.now();
  const subs = await openMany(task, task.clients, current, { subscribe: true });
  const connectSec = (performance.now() - c0) / 1000;
  const pub = await openPublisher(task, current);
  process.stdout.write(
    `  ${task.kind}: ${task.clients} subscribers connected in ${connectSec.toFixed(1)} s\n`,
  );

  const plan = task.saturation;
  const runStep = async (rate: number, ms: number, warmupMs = 0): Promise<StepResult> => {
    // Replace subscribers a server dropped, so every step starts with the full audience.
    for (let i = 0; i < subs.length; i++) {
      if (subs[i]!.closed) subs[i] = await openSubscriber(task, current, { subscribe: true });
    }
    // A failed step's backlog drains, and other work on the machine settles, before the next.
    await waitForQuiet(5000);
    if (warmupMs > 0) await pub.publishFor(rate, warmupMs);
    await sleep(200);
    tally = newTally();
    const window = cpuWindow(task.serverPid);
    const sent = await pub.publishFor(rate, ms);
    const expected = sent * task.clients;
    const drainUntil = performance.now() + plan.drainMs;
    while (tally.received < expected && performance.now() < drainUntil) await sleep(5);
    const cpu = window();
    const t = tally;
    const latency = t.hist.summary();
    const deliveredFraction = expected === 0 ? 0 : t.received / expected;
    return {
      rate,
      sent,
      expected,
      received: t.received,
      deliveredFraction,
      deliveriesPerSec: t.received / (ms / 1000),
      latency,
      cpu,
      disconnects: t.disconnects,
      errors: t.errors,
      pass:
        latency.p99 <= plan.maxP99Ms &&
        deliveredFraction >= plan.minDelivered &&
        t.disconnects === 0 &&
        t.errors === 0,
    };
  };
  const report = (label: string, s: StepResult) => {
    const pct = (sec: number) => `${Math.round((sec / s.cpu.wallSec) * 100)}%`;
    process.stdout.write(
      `  ${task.kind} ${label} ${s.rate.toFixed(0)} events/s: ${Math.round(s.deliveriesPerSec).toLocaleString('en-US')} deliveries/s, ` +
        `${(s.deliveredFraction * 100).toFixed(2)}% delivered, p50 ${s.latency.p50.toFixed(2)} ms, p99 ${s.latency.p99.toFixed(2)} ms; ` +
        `CPU server ${pct(s.cpu.server)}, generator ${pct(s.cpu.generator)}, rest ${pct(s.cpu.other)}` +
        (s.disconnects || s.errors ? `; ${s.disconnects} disconnects, ${s.errors} errors` : '') +
        ` → ${s.pass ? 'pass' : 'FAIL'}\n`,
    );
  };

  const steady = await runStep(task.steady.rate, task.steady.measureMs, task.steady.warmupMs);
  report('steady', steady);

  const steps: StepResult[] = [];
  let best: StepResult | undefined;
  let failRate: number | undefined;
  let rate = plan.startRate;
  for (let i = 0; i < plan.maxSteps; i++) {
    const s = await runStep(rate, plan.stepMs);
    steps.push(s);
    report('step', s);
    if (!s.pass) {
      failRate = rate;
      break;
    }
    best = s;
    rate = Math.round(rate * plan.factor);
  }
  if (failRate !== undefined) {
    let lo = best?.rate ?? 0;
    let hi = failRate;
    for (let i = 0; i < plan.refineSteps && hi - lo > 2; i++) {
      const mid = Math.round(lo > 0 ? Math.sqrt(lo * hi) : hi / 2);
      const s = await runStep(mid, plan.stepMs);
      steps.push(s);
      report('refine', s);
      if (s.pass) {
        lo = mid;
        if (!best || s.deliveriesPerSec > best.deliveriesPerSec) best = s;
      } else {
        hi = mid;
      }
    }
  }
  pub.close();
  for (const s of subs) s.destroy();
  return {
    connectSec,
    steady,
    steps,
    maxDeliveriesPerSec: best?.deliveriesPerSec ?? 0,
    maxRate: best?.rate ?? 0,
  };
}

/** A Chrome DevTools Protocol session with the server's inspector, just enough to force a GC. */
async function inspector(url: string) {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  const call = (method: string) =>
    new Promise<void>((resolve, reject) => {
      const my = ++id;
      const onMessage = (data: Buffer) => {
        const msg = JSON.parse(data.toString('utf8')) as { id?: number; error?: unknown };
        if (msg.id !== my) return;
        ws.off('message', onMessage);
        if (msg.error) reject(new Error(`${method}: ${JSON.stringify(msg.error)}`));
        else resolve();
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: my, method }));
    });
  return {
    gc: async () => {
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      await sleep(500);
    },
    close: () => ws.close(),
  };
}

async function rss(task: Extract<FanoutTask, { task: 'rss' }>): Promise<RssResult> {
  const session = await inspector(task.inspectorUrl);
  const tally = newTally();
  // Warm up: the first connections load and compile code (upgrade, JWT checks) once per
  // process; that is not a per-connection cost.
  const warm = await openMany(task, 50, () => tally, { subscribe: false });
  for (const c of warm) c.close();
  await sleep(1000);
  await session.gc();
  const baseKiB = procSample(task.serverPid).rssKiB;
  const conns = await openMany(task, task.clients, () => tally, { subscribe: false });
  await sleep(1000);
  await session.gc();
  const loadedKiB = procSample(task.serverPid).rssKiB;
  const open = conns.filter((c) => !c.closed).length;
  for (const c of conns) c.destroy();
  session.close();
  if (open !== task.clients) throw new Error(`only ${open} of ${task.clients} stayed connected`);
  return {
    clients: task.clients,
    baseKiB,
    loadedKiB,
    perConnKiB: (loadedKiB - baseKiB) / task.clients,
  };
}

serveGenerator<FanoutTask, FanoutResult | RssResult>((task) =>
  task.task === 'fanout' ? fanout(task) : rss(task),
);
