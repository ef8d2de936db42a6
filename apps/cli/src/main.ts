import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '@warden/server/config';
import { registerAgentsCommand } from './agents-command.js';
import { registerAlertsCommand } from './alerts-command.js';
import { registerControlCommands } from './control-command.js';
import { registerDaemonCommand } from './daemon-command.js';
import { EXIT } from './exit-codes.js';
import { registerHealthCommand } from './health-command.js';
import { registerLogsCommand } from './logs-command.js';
import { registerMetricsCommand } from './metrics-command.js';
import { registerMonitorCommand } from './monitor-command.js';
import { registerOpenCommand } from './open-command.js';
import { serve } from './serve-command.js';
import { supervise } from './supervise-command.js';
import { token, type TokenFlags } from './token-command.js';

function configOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--config <file>', 'YAML config file').env('WARDEN_CONFIG'))
    .addOption(
      new Option('--data-dir <dir>', 'data folder (default ./.warden)').env('WARDEN_DATA_DIR'),
    );
}

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('warden')
    .description('Warden — control center for fleets of AI agents and ML workers')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();

  configOptions(
    program
      .command('serve')
      .description('run the control center (API, WebSocket, dashboard)')
      .addOption(
        new Option('--host <host>', 'interface to listen on (default 127.0.0.1)').env(
          'WARDEN_HOST',
        ),
      )
      .addOption(new Option('--port <port>', 'port to listen on (default 7070)').env('WARDEN_PORT'))
      .addOption(
        new Option('--database-url <url>', 'sqlite:PATH or postgres://…').env(
          'WARDEN_DATABASE_URL',
        ),
      )
      .addOption(new Option('--redis-url <url>', 'Redis for replicas').env('WARDEN_REDIS_URL')),
  ).action(async (opts: Record<string, string | undefined>) => {
    code = await serve({
      ...(opts.config ? { config: opts.config } : {}),
      ...(opts.host ? { host: opts.host } : {}),
      ...(opts.port ? { port: opts.port } : {}),
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
      ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}),
    });
  });

  configOptions(
    program
      .command('token')
      .description('print a signed JWT for scripts and agents (only the token, on stdout)')
      .requiredOption('--role <role>', 'admin | operator | viewer | agent')
      .option('--agent-id <id>', 'agent id for --role agent (* for a supervisor)')
      .option('--ttl <duration>', 'lifetime, e.g. 1h, 24h, 30d', '24h'),
  ).action(async (opts: Record<string, string | undefined>) => {
    const flags: TokenFlags = { role: opts.role!, ttl: opts.ttl ?? '24h' };
    if (opts.agentId) flags.agentId = opts.agentId;
    if (opts.config) flags.config = opts.config;
    if (opts.dataDir) flags.dataDir = opts.dataDir;
    code = await token(flags);
  });

  configOptions(
    program
      .command('supervise')
      .description('run the supervisor alone against a hub (for another machine)')
      .addOption(
        new Option('--url <url>', 'the hub (default: server.json in the data dir)').env(
          'WARDEN_URL',
        ),
      )
      .addOption(
        new Option(
          '--token <token>',
          'supervisor token: role agent, agent id * (default: minted from the secret)',
        ).env('WARDEN_TOKEN'),
      ),
  ).action(async (opts: Record<string, string | undefined>) => {
    code = await supervise({
      ...(opts.config ? { config: opts.config } : {}),
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.url ? { url: opts.url } : {}),
      ...(opts.token ? { token: opts.token } : {}),
    });
  });

  const setCode = (c: number) => (code = c);
  registerDaemonCommand(program, setCode);
  registerAgentsCommand(program, setCode);
  registerControlCommands(program, setCode);
  registerLogsCommand(program, setCode);
  registerHealthCommand(program, setCode);
  registerMetricsCommand(program, setCode);
  registerAlertsCommand(program, setCode);
  registerMonitorCommand(program, setCode);
  registerOpenCommand(program, setCode);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')
        return EXIT.ok;
      return EXIT.usage;
    }
    throw err;
  }
  return code;
}
