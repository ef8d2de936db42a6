// A queue worker. `flaky` leases one task and dies holding it; `good` completes what it leases.
import { TaskQueueClient } from '@warden/sdk';

const mode = process.argv[2];
const tasks = new TaskQueueClient();
if (mode === 'flaky') {
  for (;;) {
    const task = await tasks.lease('jobs', { leaseMs: 600_000 });
    if (task) {
      process.stdout.write(`leased ${task.id}, crashing\n`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
} else {
  const worker = tasks.work('jobs', async (task) => ({ doneBy: tasks.agentId, id: task.id }), {
    leaseMs: 60_000,
    pollMs: 100,
  });
  process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
}
