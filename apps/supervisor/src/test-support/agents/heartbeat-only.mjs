// Says its status once, then only sends WebSocket heartbeats (not stored events) every
// HEARTBEAT_MS (0: none at all).
import { connect } from '@warden/sdk';

const warden = connect({ heartbeatMs: Number(process.env.HEARTBEAT_MS ?? 500) });
await warden.status('idle', 'waiting for work');
const stop = async () => {
  await warden.close({ timeoutMs: 2000 });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
setInterval(() => undefined, 60_000);
