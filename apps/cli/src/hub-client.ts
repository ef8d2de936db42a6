import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import {
  ConfigError,
  TokenService,
  ensureSecret,
  loadConfig,
  type ConfigFlags,
  type ResolvedConfig,
} from '@warden/server/config';
import { EXIT } from './exit-codes.js';
import { isWardenProcess, systemProcessProbe, type ProcessProbe } from './pid-file.js';

/** Lifetime of the admin token the CLI mints for itself on the server's machine. */
export const LOCAL_TOKEN_TTL_MS = 5 * 60_000;

/** How long one request may take before the server counts as unreachable. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** Flags of every command that talks to a server (SPEC §11); each has an env twin. */
export interface ClientFlags extends ConfigFlags {
  /** `--url` / `WARDEN_URL`; else `<data-dir>/server.json`. */
  url?: string;
  /** `--token` / `WARDEN_TOKEN`; else a short-lived admin token minted from the secret. */
  token?: string;
}

/**
 * Why the CLI could not get an answer. `code` is a problem code of SPEC §12 when the server
 * answered with one, else one of the CLI's own: `unreachable`, `no_server` (nothing says
 * where a server is), `bad_url` (a malformed `--url`), `http_error` (a non-problem error
 * answer), `invalid_response` (an answer that is not the JSON expected).
 */
export class HubClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** HTTP status, when the server answered. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HubClientError';
  }
}

/** `<data-dir>/server.json` as `warden serve` writes it once listening. */
export interface ServerFile {
  url: string;
  pid: number;
}

/** Reads `<data-dir>/server.json`; undefined when it is missing or not what serve writes. */
export function readServerFile(dataDir: string): ServerFile | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const r = raw as Partial<ServerFile> | null;
  if (typeof r?.url !== 'string' || typeof r.pid !== 'number') return undefined;
  return { url: r.url, pid: r.pid };
}

/** Where the token came from, for the hint on a 401. */
type TokenSource = 'flag' | 'minted' | 'none';

/**
 * A Warden server as the CLI sees it: a base URL and a bearer token. {@link HubClient.connect}
 * finds both as SPEC §11 says; requests throw {@link HubClientError} with one-line messages.
 */
export class HubClient {
  constructor(
    /** Base URL without a trailing slash, e.g. `http://127.0.0.1:7070`. */
    readonly url: string,
    /** The bearer token, also for the WebSocket (`warden logs --follow`). */
    readonly token: string | undefined,
    private readonly options: {
      tokenSource?: TokenSource;
      /** Where a minted token's secret was read, for the 401 hint. */
      secretFrom?: string;
      timeoutMs?: number;
      fetch?: typeof fetch;
    } = {},
  ) {}

  /**
   * Finds the server: `--url`, else `WARDEN_URL`, else `<data-dir>/server.json` (whose pid
   * must still be a running Warden). The token: `--token`, else `WARDEN_TOKEN`, else a
   * {@link LOCAL_TOKEN_TTL_MS} admin token minted from the secret exactly as `warden token`
   * finds it — but only when there is one: a client never creates a secret.
   */
  static connect(
    flags: ClientFlags,
    env: NodeJS.ProcessEnv = process.env,
    probe: ProcessProbe = systemProcessProbe,
  ): Promise<HubClient> {
    return connect(flags, env, probe);
  }

  /** GET `path` with `query` (undefined values left out); resolves with the JSON body. */
  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.size > 0 ? `?${params.toString()}` : '';
    return this.request<T>('GET', path + qs);
  }

  /** POST `body` as JSON (none when undefined) to `path`; resolves with the JSON body. */
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /** DELETE `path`; resolves with the JSON body. */
  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const timeoutMs = this.options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await (this.options.fetch ?? fetch)(this.url + path, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new HubClientError(
        'unreachable',
        `cannot reach Warden at ${this.url}: ${networkReason(err, timeoutMs)}`,
        undefined,
        { cause: err },
      );
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new HubClientError(
        'unreachable',
        `cannot reach Warden at ${this.url}: ${networkReason(err, timeoutMs)}`,
        res.status,
        { cause: err },
      );
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) throw this.problem(method, path, res, json, text);
    if (json === undefined) {
      throw new HubClientError(
        'invalid_response',
        `${method} ${this.url}${path} answered ${res.status} without JSON — is ${this.url} a Warden server?`,
        res.status,
      );
    }
    return json as T;
  }

  private problem(
    method: string,
    path: string,
    res: Response,
    json: unknown,
    text: string,
  ): HubClientError {
    const p = (json ?? {}) as { code?: unknown; detail?: unknown; title?: unknown };
    const code = typeof p.code === 'string' ? p.code : 'http_error';
    const detail =
      typeof p.detail === 'string' && p.detail !== ''
        ? p.detail
        : typeof p.title === 'string'
          ? p.title
          : text.slice(0, 200) || res.statusText || `${method} ${path}`;
    let hint = '';
    if (res.status === 401) {
      hint =
        this.options.tokenSource === 'minted'
          ? ` — the token was minted from ${this.options.secretFrom}: is that the server's data dir? (else pass --token or WARDEN_TOKEN)`
          : this.options.tokenSource === 'none'
            ? ' — pass --token or WARDEN_TOKEN (mint one with `warden token --role operator` on the server)'
            : '';
    }
    return new HubClientError(
      code,
      `${code}: ${oneLine(detail)} (HTTP ${res.status})${hint}`,
      res.status,
    );
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The most specific reason fetch gives: undici hides the socket error in `cause`. */
function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return `no answer within ${timeoutMs < 1000 ? `${timeoutMs}ms` : `${Math.round(timeoutMs / 1000)}s`}`;
  }
  const cause = e?.cause;
  if (cause?.message) return oneLine(cause.message);
  if (cause?.code) return cause.code;
  return oneLine(e?.message ?? String(err));
}

function pick(flag: string | undefined, value: string | undefined): string | undefined {
  if (flag !== undefined && flag !== '') return flag;
  return value !== undefined && value !== '' ? value : undefined;
}

function checkUrl(url: string, from: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new HubClientError('bad_url', `${from} ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new HubClientError(
      'bad_url',
      `${from} ${JSON.stringify(url)} must be http:// or https://`,
    );
  }
  return url.replace(/\/+$/, '');
}

async function connect(
  flags: ClientFlags,
  env: NodeJS.ProcessEnv,
  probe: ProcessProbe,
): Promise<HubClient> {
  const rawUrl = pick(flags.url, env.WARDEN_URL);
  let url = rawUrl ? checkUrl(rawUrl, flags.url ? '--url' : 'WARDEN_URL') : undefined;
  const token = pick(flags.token, env.WARDEN_TOKEN);
  if (url && token) return new HubClient(url, token, { tokenSource: 'flag' });

  // Only now is the config needed: a remote call with both given must not fail on an
  // unrelated ./warden.yaml.
  const config: ResolvedConfig = loadConfig(flags, env);
  if (!url) {
    const server = readServerFile(config.dataDir);
    if (!server) {
      throw new HubClientError(
        'no_server',
        `no Warden server found: ${join(config.dataDir, 'server.json')} does not exist — start one (warden serve, warden daemon start) or pass --url / WARDEN_URL`,
      );
    }
    if (!isWardenProcess(server.pid, probe)) {
      throw new HubClientError(
        'no_server',
        `no Warden server running: ${join(config.dataDir, 'server.json')} names pid ${server.pid}, which is gone — start one (warden serve, warden daemon start) or pass --url / WARDEN_URL`,
      );
    }
    url = checkUrl(server.url, join(config.dataDir, 'server.json'));
  }
  if (token) return new HubClient(url, token, { tokenSource: 'flag' });

  const secretFile = join(config.dataDir, 'secret');
  if (!config.auth.jwt_secret && !existsSync(secretFile)) {
    return new HubClient(url, undefined, { tokenSource: 'none' });
  }
  const secret = ensureSecret(config.dataDir, config.auth.jwt_secret);
  const minted = await new TokenService(secret, config.auth.clock_tolerance).mint({
    role: 'admin',
    ttlMs: LOCAL_TOKEN_TTL_MS,
    sub: 'cli',
  });
  return new HubClient(url, minted, {
    tokenSource: 'minted',
    secretFrom: config.auth.jwt_secret ? 'the configured jwt_secret' : secretFile,
  });
}

/**
 * Adds the flags of every client command: `--url`, `--token` (SPEC §11) and `--config`,
 * `--data-dir` (where server.json and the secret are), each with its env twin.
 */
export function clientOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--url <url>', 'Warden server (default: <data-dir>/server.json)').env(
        'WARDEN_URL',
      ),
    )
    .addOption(
      new Option(
        '--token <jwt>',
        'bearer token (default: a 5-minute admin token from the local secret)',
      ).env('WARDEN_TOKEN'),
    )
    .addOption(new Option('--config <file>', 'YAML config file').env('WARDEN_CONFIG'))
    .addOption(
      new Option('--data-dir <dir>', 'data folder (default ./.warden)').env('WARDEN_DATA_DIR'),
    );
}

/** Reads commander's parsed options into {@link ClientFlags}, leaving out what is unset. */
export function clientFlags(opts: Record<string, unknown>): ClientFlags {
  const flags: ClientFlags = {};
  const s = (k: string) =>
    typeof opts[k] === 'string' && opts[k] !== '' ? (opts[k] as string) : undefined;
  if (s('url')) flags.url = s('url')!;
  if (s('token')) flags.token = s('token')!;
  if (s('config')) flags.config = s('config')!;
  if (s('dataDir')) flags.dataDir = s('dataDir')!;
  return flags;
}

/**
 * Prints `err` as the one-line reason of SPEC §12 and returns the exit code: 2 for an
 * invalid config, 64 for a malformed `--url`, 1 for everything else a client meets.
 * Anything that is not one of those is a bug and is rethrown.
 */
export function reportClientError(
  err: unknown,
  stderr: NodeJS.WritableStream = process.stderr,
): number {
  if (err instanceof ConfigError) {
    stderr.write(`warden: invalid configuration: ${oneLine(err.message)}\n`);
    return EXIT.config;
  }
  if (err instanceof HubClientError) {
    stderr.write(`warden: ${err.message}\n`);
    return err.code === 'bad_url' ? EXIT.usage : EXIT.failure;
  }
  throw err;
}
