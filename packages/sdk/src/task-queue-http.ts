import type { ValidationIssue } from '@warden/protocol';
import { systemClock, type Clock } from './clock.js';
import { WardenSdkError } from './errors.js';

/** The slice of WHATWG `fetch` the SDK's HTTP calls use (Node ≥ 18 and browsers have it). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

/** Options of the HTTP side of the SDK (task queue, agent state). Every one has a default. */
export interface HttpOptions {
  /** `http(s)://` or `ws(s)://` base of the server. @defaultValue env `WARDEN_URL` */
  url?: string;
  /** A JWT, or a function asked before every request. @defaultValue env `WARDEN_TOKEN` */
  token?: string | (() => string | Promise<string>);
  /** The agent this process works for. @defaultValue env `WARDEN_AGENT_ID` */
  agentId?: string;
  /** Longest wait for one answer; then the call fails with `timeout`. @defaultValue 10000 */
  timeoutMs?: number;
  /** @defaultValue `globalThis.fetch` */
  fetch?: FetchLike;
  /** Timers of the request timeout and of `work()` polling. @defaultValue the system clock */
  clock?: Clock;
}

/** A refusal by the server: its stable `code` (SPEC §12), HTTP status and bad fields. */
export class WardenHttpError extends WardenSdkError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
    details?: ValidationIssue[],
  ) {
    super(code, message, details ? { details } : undefined);
    this.name = 'WardenHttpError';
  }
}

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[name];
  return v === '' ? undefined : v;
}

/**
 * JSON over `/api/v1` for the task queue and agent state: one call, its problem turned into a
 * {@link WardenHttpError} (`conflict`, `forbidden_agent`, `not_found`, …), a network failure
 * into `connection_failed`, a call that outlives `timeoutMs` into `timeout`. Calls are not
 * retried here: a lease or a report sent twice is not always the same as once.
 */
export class TaskQueueHttp {
  /** `http(s)://host:port` without a trailing slash. */
  readonly base: string;
  readonly agentId: string | undefined;
  readonly clock: Clock;
  private readonly token: HttpOptions['token'];
  private readonly timeoutMs: number;
  private readonly fetchFn: FetchLike;

  constructor(options: HttpOptions = {}) {
    const url = options.url ?? env('WARDEN_URL');
    if (!url) throw new WardenSdkError('no_url', 'no Warden URL: pass { url } or set WARDEN_URL');
    this.base = url.replace(/^ws/, 'http').replace(/\/+$/, '').replace(/\/ws$/, '');
    this.token = options.token ?? env('WARDEN_TOKEN');
    this.agentId = options.agentId ?? env('WARDEN_AGENT_ID');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
    const f = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (!f) throw new WardenSdkError('no_fetch', 'no fetch in this runtime: pass { fetch }');
    this.fetchFn = f;
  }

  /**
   * The agent to act for: `agentId` if given, else this client's (not `*`); throws
   * `no_agent_id` when neither.
   */
  agent(agentId?: string): string {
    // `*` (a supervisor's client) is every agent, so a call must say which one.
    const id = agentId ?? (this.agentId === '*' ? undefined : this.agentId);
    if (id === undefined) {
      throw new WardenSdkError(
        'no_agent_id',
        'no agent id: pass { agentId } or set WARDEN_AGENT_ID',
      );
    }
    return id;
  }

  /**
   * Sends one request; resolves with the status and the parsed JSON body (undefined for an
   * empty one, as with 204). Any status of 400 and above rejects.
   */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T | undefined }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = typeof this.token === 'function' ? await this.token() : this.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let text: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      try {
        text = JSON.stringify(body);
      } catch (err) {
        throw new WardenSdkError(
          'invalid_request',
          `${method} ${path}: the body cannot be serialised as JSON: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = this.clock.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    let res: Awaited<ReturnType<FetchLike>>;
    let raw: string;
    try {
      res = await this.fetchFn(this.base + path, {
        method,
        headers,
        ...(text !== undefined ? { body: text } : {}),
        signal: controller.signal,
      });
      raw = await res.text();
    } catch (err) {
      if (timedOut) {
        throw new WardenSdkError(
          'timeout',
          `${method} ${path}: no answer within ${this.timeoutMs} ms`,
          { cause: err },
        );
      }
      throw new WardenSdkError(
        'connection_failed',
        `${method} ${path}: cannot reach ${this.base}: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      this.clock.clearTimeout(timer);
    }
    let parsed: unknown;
    try {
      parsed = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (res.status >= 400) {
      const p = (parsed ?? {}) as { code?: unknown; detail?: unknown; errors?: unknown };
      const code = typeof p.code === 'string' ? p.code : `http_${res.status}`;
      const detail = typeof p.detail === 'string' ? p.detail : raw.slice(0, 200);
      throw new WardenHttpError(
        code,
        `${method} ${path}: ${res.status} ${code}: ${detail}`,
        res.status,
        Array.isArray(p.errors) ? (p.errors as ValidationIssue[]) : undefined,
      );
    }
    return { status: res.status, body: parsed as T | undefined };
  }
}
