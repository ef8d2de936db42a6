/**
 * Ingest load generator, run in its own process by ingest.ts (never inside a server).
 *
 * - `warden-closed`: N WebSocket publishers, one event per frame, each keeping up to `window`
 *   frames unacked (closed loop: a new frame goes out for every ack), for warm-up + measure.
 * - `warden-open`: the same publishers at a fixed offered rate (open loop, spread round-robin,
 *   independent of acks); the unacked cap still applies and any lateness is reported.
 * - `naive-http`: N keep-alive HTTP clients, each POSTing one event and waiting for the reply.
 *
 * Acks are counted when they arrive inside the measurement window; ack latency is send → ack.
 */
import { Agent, request } from 'node:http';
import {
  LatencyHistogram,
  cpuWindow,
  serveGenerator,
  sleep,
  type CpuUse,
  type LatencySummary,
} from './bench-support.js';
import { RawWsClient, after, readNumber } from './raw-ws-client.js';

export type IngestTask =
  | {
      mode: 'warden-closed';
      port: number;
      token: string;
      serverPid: number;
      connections: number;
      window: number;
      warmupMs: number;
      measureMs: number;
    }
  | {
      mode: 'warden-open';
      port: number;
      token: string;
      serverPid: number;
      connections: number;
      window: number;
      rate: number;
      warmupMs: number;
      measureMs: number;
    }
  | {
      mode: 'naive-http';
      port: number;
      serverPid: number;
      connections: number;
      warmupMs: number;
      measureMs: number;
    };

export interface IngestResult {
  /** Acks (or HTTP 200s) received inside the measurement window. */
  acked: number;
  eventsPerSec: number;
  latency: LatencySummary;
  /** Events sent over the whole run, and acked over the whole run (after draining). */
  sent: number;
  ackedTotal: number;
  errors: number;
  firstErrors: string[];
  /** Highest seq seen in an ack, and whether every ack had a distinct seq. */
  maxSeq: number;
  distinctSeqs: boolean;
  duplicates: number;
  disconnects: number;
  /** CPU of the server, this generator and the rest of the machine over the window. */
  cpu: CpuUse;
  /** Open loop only: how late the generator was against its schedule (ms). */
  maxLagMs?: number;
  capHits?: number;
}

const RUN = Date.now().toString(36);

function eventJson(conn: number, n: number, sentAt: number): string {
  return (
    `{"id":"${RUN}-${conn}-${n}","type":"metric_update","agentId":"bench-${conn}","ts":${Date.now()},` +
    `"data":{"metrics":{"cpu_percent":${n % 100},"sent_at":${sentAt.toFixed(3)}}}}`
  );
}

const ACK_PREFIX = Buffer.from('{"op":"ack"');
const REF = Buffer.from('"ref":"');
const SEQ = Buffer.from('"seq":');
const DUP = Buffer.from('"duplicate"');

interface Publisher {
  client: RawWsClient;
  index: number;
  next: number;
  inflight: number;
  sentAt: Float64Array;
}

async function wardenLoad(task: Extract<IngestTask, { mode: 'warden-closed' | 'warden-open' }>) {
  const RING = 1 << Math.ceil(Math.log2(task.window + 1));
  const hist = new LatencyHistogram();
  const seqSeen = new Uint8Array(16 * 1024 * 1024); // bitmap of seqs up to 128 M
  let measuring = false;
  let acked = 0;
  let ackedTotal = 0;
  let sent = 0;
  let errors = 0;
  let duplicates = 0;
  let maxSeq = 0;
  let distinctSeqs = true;
  let disconnects = 0;
  let stopping = false;
  const firstErrors: string[] = [];
  const closed = task.mode === 'warden-closed';
  const pubs: Publisher[] = [];

  const send = (p: Publisher) => {
    const n = p.next++;
    const t = performance.now();
    p.sentAt[n & (RING - 1)] = t;
    p.inflight++;
    sent++;
    p.client.sendText(`{"op":"publish","ref":"${n}","event":${eventJson(p.index, n, t)}}`);
  };
  const refill = (p: Publisher) => {
    if (stopping || p.inflight >= task.window || p.client.closed) return;
    p.client.cork();
    while (p.inflight < task.window) send(p);
    p.client.uncork();
  };

  for (let i = 0; i < task.connections; i++) {
    const p: Publisher = {
      client: undefined as unknown as RawWsClient,
      index: i,
      next: 0,
      inflight: 0,
      sentAt: new Float64Array(RING),
    };
    p.client = await RawWsClient.open({
      port: task.port,
      path: '/ws',
      headers: { Authorization: `Bearer ${task.token}` },
      onMessage: (buf, start, end) => {
        const now = performance.now();
        if (buf.compare(ACK_PREFIX, 0, ACK_PREFIX.length, start, start + ACK_PREFIX.length)) {
          errors++;
          if (firstErrors.length < 5) firstErrors.push(buf.toString('utf8', start, end));
          const r = after(buf, REF, start, end);
          if (r > 0) p.inflight--;
          return;
        }
        const ref = readNumber(buf, after(buf, REF, start, end));
        const s = after(buf, SEQ, start, end);
        const seq = s > 0 ? readNumber(buf, s) : 0;
        if (after(buf, DUP, start, end) > 0) duplicates++;
        if (seq > maxSeq) maxSeq = seq;
        const bit = 1 << (seq & 7);
        const byte = seq >>> 3;
        if (byte < seqSeen.length) {
          if (seqSeen[byte]! & bit) distinctSeqs = false;
          seqSeen[byte]! |= bit;
        }
        p.inflight--;
        ackedTotal++;
        if (measuring) {
          acked++;
          hist.record(now - p.sentAt[ref & (RING - 1)]!);
        }
      },
      onChunkEnd: closed ? () => refill(p) : undefined,
      onClose: () => {
        if (!stopping) disconnects++;
      },
    });
    pubs.push(p);
  }

  let maxLagMs = 0;
  let capHits = 0;
  let ticker: NodeJS.Timeout | undefined;
  const t0 = performance.now();
  if (closed) {
    for (const p of pubs) refill(p);
  } else {
    const rate = task.rate;
    let scheduled = 0;
    let rr = 0;
    const tick = () => {
      const now = performance.now();
      const due = Math.floor(((now - t0) / 1000) * rate);
      if (due > scheduled) {
        // The schedule time of the oldest event being sent now.
        const lag = now - (t0 + (scheduled / rate) * 1000);
        if (lag > maxLagMs) maxLagMs = lag;
      }
      while (scheduled < due) {
        scheduled++;
        const p = pubs[rr]!;
        rr = (rr + 1) % pubs.length;
        if (p.inflight >= task.window || p.client.closed) {
          capHits++;
          continue;
        }
        send(p);
      }
      if (!stopping) ticker = setTimeout(tick, 1);
    };
    tick();
  }

  await sleep(task.warmupMs);
  const window = cpuWindow(task.serverPid);
  measuring = true;
  await sleep(task.measureMs);
  measuring = false;
  const cpu = window();
  stopping = true;
  clearTimeout(ticker);
  // Drain: every frame sent gets its ack (or error) before we report totals.
  const drainUntil = Date.now() + 60_000;
  while (pubs.some((p) => p.inflight > 0 && !p.client.closed) && Date.now() < drainUntil) {
    await sleep(20);
  }
  for (const p of pubs) p.client.close();

  const result: IngestResult = {
    acked,
    eventsPerSec: acked / cpu.wallSec,
    latency: hist.summary(),
    sent,
    ackedTotal,
    errors,
    firstErrors,
    maxSeq,
    distinctSeqs,
    duplicates,
    disconnects,
    cpu,
    ...(closed ? {} : { maxLagMs, capHits }),
  };
  return result;
}

async function naiveLoad(task: Extract<IngestTask, { mode: 'naive-http' }>) {
  const agent = new Agent({ keepAlive: true, maxSockets: task.connections });
  const hist = new LatencyHistogram();
  let measuring = false;
  let stopping = false;
  let acked = 0;
  let ackedTotal = 0;
  let sent = 0;
  let errors = 0;
  let maxSeq = 0;
  const firstErrors: string[] = [];

  const post = (conn: number, n: number) =>
    new Promise<void>((resolve) => {
      const t = performance.now();
      const body = eventJson(conn, n, t);
      sent++;
      const req = request(
        {
          host: '127.0.0.1',
          port: task.port,
          method: 'POST',
          path: '/api/v1/events',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const now = performance.now();
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 200) {
              ackedTotal++;
              const seq = (JSON.parse(text) as { acks: Array<{ seq: number }> }).acks[0]!.seq;
              if (seq > maxSeq) maxSeq = seq;
              if (measuring) {
                acked++;
                hist.record(now - t);
              }
            } else {
              errors++;
              if (firstErrors.length < 5) firstErrors.push(`${res.statusCode}: ${text}`);
            }
            resolve();
          });
        },
      );
      req.on('error', (err) => {
        errors++;
        if (firstErrors.length < 5) firstErrors.push(err.message);
        resolve();
      });
      req.end(body);
    });

  const loops: Promise<void>[] = [];
  for (let c = 0; c < task.connections; c++) {
    loops.push(
      (async () => {
        for (let n = 0; !stopping; n++) await post(c, n);
      })(),
    );
  }
  await sleep(task.warmupMs);
  const window = cpuWindow(task.serverPid);
  measuring = true;
  await sleep(task.measureMs);
  measuring = false;
  const cpu = window();
  stopping = true;
  await Promise.all(loops);
  agent.destroy();
  const result: IngestResult = {
    acked,
    eventsPerSec: acked / cpu.wallSec,
    latency: hist.summary(),
    sent,
    ackedTotal,
    errors,
    firstErrors,
    maxSeq,
    distinctSeqs: true,
    duplicates: 0,
    disconnects: 0,
    cpu,
  };
  return result;
}

serveGenerator<IngestTask, IngestResult>((task) =>
  task.mode === 'naive-http' ? naiveLoad(task) : wardenLoad(task),
);
