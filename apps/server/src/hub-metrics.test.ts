import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '@warden/protocol';
import { HubMetrics } from './hub-metrics.js';

let seq = 0;
function ev(type: string, agentId: string, data: unknown): StoredEvent {
  return { seq: ++seq, receivedAt: 0, id: `e${seq}`, type, agentId, ts: 0, data } as StoredEvent;
}

async function text(m: HubMetrics): Promise<string> {
  return m.registry.metrics();
}

describe('HubMetrics label limits', () => {
  it('gives the first max_agent_series agents their own series and adds the rest up under _other', async () => {
    const m = new HubMetrics();
    m.configure({ perAgentLabels: true, maxAgentSeries: 2, maxErrorTypes: 1 });
    for (const [a, cpu] of [
      ['a', 1],
      ['b', 2],
      ['c', 4],
      ['d', 8],
    ] as const) {
      m.observe(ev('metric_update', a, { metrics: { cpu_percent: cpu } }));
    }
    // A folded agent's new value replaces its old one in the sum.
    m.observe(ev('metric_update', 'c', { metrics: { cpu_percent: 16 } }));
    m.observe(ev('error_occurred', 'a', { errorType: 'First', message: 'x' }));
    m.observe(ev('error_occurred', 'd', { errorType: 'Second', message: 'y' }));
    const t = await text(m);
    expect(t).toContain('warden_agent_cpu_percent{agent="a"} 1');
    expect(t).toContain('warden_agent_cpu_percent{agent="b"} 2');
    expect(t).toContain('warden_agent_cpu_percent{agent="_other"} 24');
    expect(t).not.toContain('agent="c"');
    expect(t).toContain('warden_errors_total{agent="a",error_type="First"} 1');
    expect(t).toContain('warden_errors_total{agent="_other",error_type="_other"} 1');
  });

  it('with per-agent labels off, exports each agent family as one fleet-wide series', async () => {
    const m = new HubMetrics();
    m.configure({ perAgentLabels: false, maxAgentSeries: 1000, maxErrorTypes: 10 });
    m.observe(ev('metric_update', 'a', { metrics: { memory_mb: 1, response_time_ms: 100 } }));
    m.observe(ev('metric_update', 'b', { metrics: { memory_mb: 2, response_time_ms: 300 } }));
    m.observe(ev('task_completed', 'a', { taskId: 't', success: true }));
    m.observe(ev('agent_lifecycle', 'b', { action: 'started', attempt: 1, reason: 'r' }));
    const t = await text(m);
    expect(t).not.toMatch(/agent="/);
    expect(t).toMatch(/^warden_agent_memory_bytes 3145728$/m);
    expect(t).toMatch(/^warden_agent_response_time_seconds_count 2$/m);
    expect(t).toContain('warden_tasks_completed_total{outcome="success"} 1');
    expect(t).toMatch(/^warden_agent_restarts_total 1$/m);
  });
});
