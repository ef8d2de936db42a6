import { DEFAULT_LIMITS, utf8Length, type AgentStateRecord } from '@warden/protocol';
import { WardenSdkError } from './errors.js';
import { TaskQueueHttp, WardenHttpError, type HttpOptions } from './task-queue-http.js';

/**
 * An agent's saved state on the hub (issue 4 "Recovery"): a small JSON value (at most 64 KiB)
 * the agent saves as it goes and reads back after a restart, so a restarted agent resumes
 * where it was. One value per agent; the last save wins.
 *
 * @example
 * ```ts
 * const state = new AgentStateClient(); // WARDEN_URL, WARDEN_TOKEN, WARDEN_AGENT_ID
 * let count = (await state.load<{ count: number }>())?.count ?? 0;
 * for (;;) { count++; await state.save({ count }); }
 * ```
 */
export class AgentStateClient {
  private readonly http: TaskQueueHttp;

  constructor(options: HttpOptions | TaskQueueHttp = {}) {
    this.http = options instanceof TaskQueueHttp ? options : new TaskQueueHttp(options);
  }

  private path(agentId?: string): string {
    return `/api/v1/agents/${encodeURIComponent(this.http.agent(agentId))}/state`;
  }

  /**
   * Replaces the agent's saved state with `state` (any JSON value) and resolves with the
   * stored record once it is committed. A value over 64 KiB as JSON fails at once with
   * `payload_too_large`, one JSON cannot hold with `invalid_request`.
   */
  async save(state: unknown, opts: { agentId?: string } = {}): Promise<AgentStateRecord> {
    let json: string | undefined;
    try {
      json = JSON.stringify(state);
    } catch (err) {
      throw new WardenSdkError(
        'invalid_request',
        `state cannot be saved as JSON: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (json === undefined) {
      throw new WardenSdkError('invalid_request', 'state cannot be saved as JSON: it is undefined');
    }
    const bytes = utf8Length(json);
    if (bytes > DEFAULT_LIMITS.maxEventBytes) {
      throw new WardenSdkError(
        'payload_too_large',
        `state is ${bytes} bytes as JSON, over the limit of ${DEFAULT_LIMITS.maxEventBytes}: keep large data elsewhere and save a reference`,
      );
    }
    const r = await this.http.request<AgentStateRecord>('PUT', this.path(opts.agentId), state);
    return r.body!;
  }

  /** The saved state, or undefined when the agent has saved none. */
  async load<T = unknown>(opts: { agentId?: string } = {}): Promise<T | undefined> {
    return (await this.record(opts))?.state as T | undefined;
  }

  /** The saved state with its agent and save time, or undefined when none. */
  async record(opts: { agentId?: string } = {}): Promise<AgentStateRecord | undefined> {
    try {
      return (await this.http.request<AgentStateRecord>('GET', this.path(opts.agentId))).body;
    } catch (err) {
      if (err instanceof WardenHttpError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  /** Forgets the saved state; false when there was none. */
  async clear(opts: { agentId?: string } = {}): Promise<boolean> {
    try {
      await this.http.request('DELETE', this.path(opts.agentId));
      return true;
    } catch (err) {
      if (err instanceof WardenHttpError && err.code === 'not_found') return false;
      throw err;
    }
  }
}
