import { statfsSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { Gauge, type Registry } from 'prom-client';

/** The hub's host, as the fleet-wide `host_*` series and the `warden_host_*` gauges hold it. */
export interface HostSample {
  /** Busy share of all cores since the previous sample, 0–100. */
  cpuPercent: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
  load1: number;
  load5: number;
  load15: number;
  /** Of the file system holding the data dir; undefined when statfs fails. */
  diskUsedBytes: number | undefined;
  diskFreeBytes: number | undefined;
  diskTotalBytes: number | undefined;
}

/** The slice of `node:os` and `node:fs` the sampler reads (tests pass their own). */
export interface HostProbe {
  cpuTimes(): { busy: number; total: number };
  memory(): { used: number; total: number };
  loadavg(): number[];
  disk(path: string): { used: number; free: number; total: number } | undefined;
}

export const nodeHostProbe: HostProbe = {
  cpuTimes() {
    let busy = 0;
    let total = 0;
    for (const c of cpus()) {
      const t = c.times;
      const all = t.user + t.nice + t.sys + t.idle + t.irq;
      total += all;
      busy += all - t.idle;
    }
    return { busy, total };
  },
  memory() {
    // libuv's free memory is MemAvailable on Linux: what can be had without swapping.
    const total = totalmem();
    return { used: total - freemem(), total };
  },
  loadavg,
  disk(path) {
    try {
      const s = statfsSync(path);
      const total = s.blocks * s.bsize;
      // `bavail`: what an unprivileged writer (the hub) can still use.
      return { total, free: s.bavail * s.bsize, used: (s.blocks - s.bfree) * s.bsize };
    } catch {
      return undefined;
    }
  },
};

/** Samples closer together than this reuse the last one (a scrape right after a tick). */
const MIN_SAMPLE_GAP_MS = 1000;

/**
 * Host CPU, memory, load and the data dir's disk, sampled by MetricsHistory's system tick (for
 * the fleet history) and on a scrape that comes long after the last tick, and exported as
 * `warden_host_cpu_percent`, `warden_host_memory_bytes{kind="used|total"}`,
 * `warden_host_load1|5|15` and `warden_host_disk_bytes{kind="used|free|total"}`.
 */
export class HostSampler {
  private prev: { busy: number; total: number };
  private last: HostSample | undefined;
  private lastAt = -Infinity;

  constructor(
    private readonly dataDir: string,
    registry: Registry,
    private readonly probe: HostProbe = nodeHostProbe,
    private readonly now: () => number = Date.now,
  ) {
    this.prev = probe.cpuTimes();
    const fresh = () => this.current();
    new Gauge({
      name: 'warden_host_cpu_percent',
      help: "Busy share of the hub host's CPU cores since the previous sample, percent.",
      registers: [registry],
      collect() {
        this.set(fresh().cpuPercent);
      },
    });
    new Gauge({
      name: 'warden_host_memory_bytes',
      help: 'Memory of the hub host in bytes: used (total minus available) and total.',
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        const s = fresh();
        this.set({ kind: 'used' }, s.memoryUsedBytes);
        this.set({ kind: 'total' }, s.memoryTotalBytes);
      },
    });
    for (const [name, pick] of [
      ['warden_host_load1', (s: HostSample) => s.load1],
      ['warden_host_load5', (s: HostSample) => s.load5],
      ['warden_host_load15', (s: HostSample) => s.load15],
    ] as const) {
      new Gauge({
        name,
        help: `Load average of the hub host over ${name.slice('warden_host_load'.length)} minutes.`,
        registers: [registry],
        collect() {
          this.set(pick(fresh()));
        },
      });
    }
    new Gauge({
      name: 'warden_host_disk_bytes',
      help: "The file system of Warden's data dir in bytes: used, free (to the hub) and total.",
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        const s = fresh();
        if (s.diskTotalBytes === undefined) return;
        this.set({ kind: 'used' }, s.diskUsedBytes!);
        this.set({ kind: 'free' }, s.diskFreeBytes!);
        this.set({ kind: 'total' }, s.diskTotalBytes);
      },
    });
  }

  /** A new sample (CPU since the previous one). */
  sample(): HostSample {
    const t = this.probe.cpuTimes();
    const dTotal = t.total - this.prev.total;
    const dBusy = t.busy - this.prev.busy;
    const cpuPercent =
      dTotal > 0
        ? Math.min(100, Math.max(0, (dBusy / dTotal) * 100))
        : (this.last?.cpuPercent ?? 0);
    if (dTotal > 0) this.prev = t;
    const mem = this.probe.memory();
    const [load1 = 0, load5 = 0, load15 = 0] = this.probe.loadavg();
    const disk = this.probe.disk(this.dataDir);
    this.last = {
      cpuPercent,
      memoryUsedBytes: mem.used,
      memoryTotalBytes: mem.total,
      load1,
      load5,
      load15,
      diskUsedBytes: disk?.used,
      diskFreeBytes: disk?.free,
      diskTotalBytes: disk?.total,
    };
    this.lastAt = this.now();
    return this.last;
  }

  /** The last sample, or a new one when it is older than a second. */
  current(): HostSample {
    if (this.last && this.now() - this.lastAt < MIN_SAMPLE_GAP_MS) return this.last;
    return this.sample();
  }
}
