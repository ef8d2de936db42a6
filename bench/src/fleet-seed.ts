/**
 * Stores a fleet's history for the dashboard's bench and browser test: `events` status and
 * metric updates spread over `agents` agents (`<prefix>000`, …), posted in batches of 1,000
 * with a supervisor token. Throws naming the answer when a batch is refused.
 */
export async function seedFleet(opts: {
  url: string;
  token: string;
  agents: number;
  events: number;
  prefix: string;
}): Promise<void> {
  const width = String(opts.agents - 1).length;
  for (let b = 0; b < Math.ceil(opts.events / 1000); b++) {
    const size = Math.min(1000, opts.events - b * 1000);
    const events = Array.from({ length: size }, (_, i) => {
      const n = b * 1000 + i;
      const agentId = `${opts.prefix}${String(n % opts.agents).padStart(width, '0')}`;
      return n % 2
        ? {
            id: `s${n}`,
            type: 'metric_update',
            agentId,
            data: { metrics: { cpu_percent: n % 97, memory_mb: 50 + (n % 300) } },
          }
        : {
            id: `s${n}`,
            type: 'agent_status_update',
            agentId,
            data: { status: n % 10 ? 'busy' : 'idle' },
          };
    });
    const r = await fetch(`${opts.url}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    if (r.status !== 200) throw new Error(`seeding failed: ${r.status} ${await r.text()}`);
  }
}
