// An SDK agent that reports a fatal error and exits 1 at once. The error's type and message
// come from FATAL_TYPE / FATAL_MESSAGE; with CRASH=1 it throws instead (stderr only).
import { connect } from '@warden/sdk';

const type = process.env.FATAL_TYPE ?? 'AuthenticationError';
const message = process.env.FATAL_MESSAGE ?? 'invalid API key';
if (process.env.CRASH === '1') {
  const err = new Error(message);
  err.name = type;
  throw err;
}
const warden = connect();
await warden.error({ errorType: type, message }, { fatal: true });
await warden.close({ timeoutMs: 2000 });
process.exit(1);
