import { ConfigError, createWarden, loadConfig, type ConfigFlags } from '@warden/server';
import { EXIT } from './exit-codes.js';

/** `warden serve`: runs the hub until SIGINT/SIGTERM. Resolves with the exit code. */
export async function serve(flags: ConfigFlags): Promise<number> {
  let warden;
  try {
    const config = loadConfig(flags);
    warden = await createWarden({ config });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`warden: invalid configuration: ${err.message}\n`);
      return EXIT.config;
    }
    throw err;
  }
  let url: string;
  try {
    url = await warden.listen();
  } catch (err) {
    // Listening failed (port taken, data dir unwritable): close what was opened, so the
    // process exits instead of idling with a database and Redis connections open.
    await warden.close().catch(() => undefined);
    throw err;
  }
  process.stderr.write(`Warden listening on ${url}  (API docs: ${url}/docs)\n`);
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`warden: ${signal} received, shutting down\n`);
      warden.close().then(
        () => resolve(EXIT.ok),
        (err: unknown) => {
          process.stderr.write(`warden: shutdown failed: ${(err as Error).message}\n`);
          resolve(EXIT.failure);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
