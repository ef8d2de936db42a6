// A small SDK agent: reports busy, prints a line a second, and finishes a task now and then.
import { connect } from '@warden/sdk';

const warden = connect();
await warden.status('busy', 'working');
let n = 0;
const timer = setInterval(() => {
  n++;
  process.stdout.write(`tick ${n}\n`);
  if (n % 3 === 0) void warden.taskCompleted(`t-${n}`, { success: true, durationMs: 10 });
}, 200);
const stop = async () => {
  clearInterval(timer);
  await warden.close({ timeoutMs: 2000 });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
