import {
  ConfigError,
  RoleSchema,
  TokenService,
  ensureSecret,
  loadConfig,
  parseDuration,
  type ConfigFlags,
} from '@warden/server/config';
import { EXIT } from './exit-codes.js';

export interface TokenFlags extends ConfigFlags {
  role: string;
  agentId?: string;
  ttl: string;
}

/** `warden token`: prints a signed JWT, finding the secret exactly as `serve` does. */
export async function token(flags: TokenFlags): Promise<number> {
  const role = RoleSchema.safeParse(flags.role);
  if (!role.success) {
    process.stderr.write(`warden: --role must be one of admin, operator, viewer, agent\n`);
    return EXIT.usage;
  }
  const ttlMs = parseDuration(flags.ttl);
  if (ttlMs === undefined || ttlMs <= 0) {
    process.stderr.write(
      `warden: --ttl ${JSON.stringify(flags.ttl)} is not a duration (e.g. 24h, 30d)\n`,
    );
    return EXIT.usage;
  }
  if (role.data === 'agent' && !flags.agentId) {
    process.stderr.write('warden: an agent token needs --agent-id ID (or * for a supervisor)\n');
    return EXIT.usage;
  }
  if (role.data !== 'agent' && flags.agentId) {
    process.stderr.write('warden: --agent-id goes with --role agent only\n');
    return EXIT.usage;
  }
  let secret: string;
  try {
    const config = loadConfig(flags);
    secret = ensureSecret(config.dataDir, config.auth.jwt_secret);
    const jwt = await new TokenService(secret, config.auth.clock_tolerance).mint({
      role: role.data,
      ttlMs,
      ...(flags.agentId ? { agentId: flags.agentId } : {}),
    });
    process.stdout.write(jwt + '\n');
    return EXIT.ok;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`warden: invalid configuration: ${err.message}\n`);
      return EXIT.config;
    }
    throw err;
  }
}
