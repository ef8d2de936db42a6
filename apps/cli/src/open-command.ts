import { spawn } from 'node:child_process';
import { Option, type Command } from 'commander';
import { EXIT } from './exit-codes.js';
import {
  HubClient,
  clientFlags,
  clientOptions,
  reportClientError,
  type ClientFlags,
} from './hub-client.js';

/** Flags of `warden open`. */
export interface OpenFlags extends ClientFlags {
  /** Role of the session the link opens. @defaultValue "admin" */
  role: 'admin' | 'operator' | 'viewer';
  /** Lifetime of the link, e.g. `10m` (at most `auth.login_link_ttl`). */
  ttl?: string;
  /** Try to open a browser on this machine. @defaultValue true */
  browser: boolean;
}

/** What `POST /api/v1/auth/login-links` answers. */
interface LoginLink {
  path: string;
  expiresAt: number;
}

/** A command that opens a URL in the desktop's browser, when this machine has one. */
function browserCommand(env: NodeJS.ProcessEnv): string | undefined {
  if (process.platform === 'darwin') return 'open';
  if (process.platform === 'win32') return undefined;
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return undefined;
  return 'xdg-open';
}

/**
 * `warden open`: a one-time login link for the dashboard, as Jupyter prints one. The link is
 * printed on stdout (only the link, for scripts) and, on a desktop, opened in the browser.
 * It works once, until it expires; the session it opens lasts `auth.session_ttl`.
 */
export async function open(
  flags: OpenFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  try {
    const client = await HubClient.connect(flags);
    const link = await client.post<LoginLink>('/api/v1/auth/login-links', {
      role: flags.role,
      ...(flags.ttl ? { ttl: flags.ttl } : {}),
    });
    const url = client.url + link.path;
    process.stdout.write(url + '\n');
    const minutes = Math.max(1, Math.round((link.expiresAt - Date.now()) / 60_000));
    process.stderr.write(
      `warden: one-time ${flags.role} login link for ${client.url}, valid for ${minutes} min\n`,
    );
    const cmd = flags.browser ? browserCommand(env) : undefined;
    if (cmd) {
      const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
      child.on('error', () => undefined);
      child.unref();
    }
    return EXIT.ok;
  } catch (err) {
    return reportClientError(err);
  }
}

/** Registers `warden open` on `program`; `done` receives the exit code. */
export function registerOpenCommand(program: Command, done: (code: number) => void): void {
  clientOptions(
    program
      .command('open')
      .description('print (and open in a browser) a one-time login link for the dashboard')
      .addOption(
        new Option('--role <role>', 'role of the session the link opens')
          .choices(['admin', 'operator', 'viewer'])
          .default('admin'),
      )
      .option('--ttl <duration>', 'how long the link can be used (default auth.login_link_ttl)')
      .option('--no-browser', 'only print the link'),
  ).action(async (opts: Record<string, unknown>) => {
    done(
      await open({
        ...clientFlags(opts),
        role: opts.role as OpenFlags['role'],
        ...(typeof opts.ttl === 'string' ? { ttl: opts.ttl } : {}),
        browser: opts.browser !== false,
      }),
    );
  });
}
