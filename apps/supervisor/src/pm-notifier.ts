import type { Clock } from './clock.js';
import { exactTarget, singleLine, type TmuxResult } from './tmux-client.js';

/** The slice of {@link TmuxClient} that types into a pane. */
export interface PaneTyper {
  /** Types the text literally (`send-keys -l`), no Enter. */
  typeText(target: string, text: string): Promise<TmuxResult<void>>;
  /** Presses Enter in the pane. */
  pressEnter(target: string): Promise<TmuxResult<void>>;
}

/** One notice about one agent, as queued for a PM pane. */
export interface PmMessage {
  agentId: string;
  text: string;
}

/** Options of {@link PmNotifier}. Durations in milliseconds. */
export interface PmNotifierOptions {
  typer: PaneTyper;
  clock: Clock;
  /**
   * After a send to a PM pane, further messages to that pane wait this long and then go out
   * together as one line, so a flapping fleet does not flood the PM's input.
   * @defaultValue 30000
   */
  cooldownMs?: number;
  /**
   * Pause between typing the text and pressing Enter. Agent TUIs (Claude Code among them)
   * take a burst of typed characters for a paste and may swallow an Enter that arrives in
   * the same burst, leaving the message typed but not submitted.
   * @defaultValue 500
   */
  enterDelayMs?: number;
  /**
   * Turns a batch (one or more messages, oldest first) into the one line that is typed.
   * @defaultValue `[warden] a: text | b: text`
   */
  format?: (messages: readonly PmMessage[]) => string;
  /** Called after the text and Enter reached the PM pane. */
  onSent?: (pm: string, text: string, messages: readonly PmMessage[]) => void;
  /**
   * Called when tmux refused or failed; the messages are dropped, and their dedup entries
   * forgotten so the same notice is tried again the next time it is raised.
   */
  onFailed?: (pm: string, reason: string, messages: readonly PmMessage[]) => void;
}

/** What {@link PmNotifier.notify} did with a message. */
export type NotifyOutcome = 'sending' | 'batched' | 'duplicate' | 'closed';

interface PmPane {
  lastSentAt: number | undefined;
  pending: PmMessage[];
  timer: unknown;
}

/** The default line: every message as `agent: text`, after a `[warden]` tag the PM can spot. */
export function formatPmMessages(messages: readonly PmMessage[]): string {
  return `[warden] ${messages.map((m) => `${m.agentId}: ${m.text}`).join(' | ')}`;
}

/**
 * Notifications to project-manager panes (`pm:` of a tmux agent) by `send-keys`.
 * Deduplicated: a message is dropped when it is the text last accepted for that agent and
 * PM. Throttled per PM pane: the first message goes out at once; messages within the
 * cooldown that follows are batched and sent as one line when it ends (the batch keeps one
 * copy of each distinct message, in the order last raised).
 */
export class PmNotifier {
  private readonly typer: PaneTyper;
  private readonly clock: Clock;
  private readonly cooldownMs: number;
  private readonly enterDelayMs: number;
  private readonly format: (messages: readonly PmMessage[]) => string;
  private readonly onSent: PmNotifierOptions['onSent'];
  private readonly onFailed: PmNotifierOptions['onFailed'];
  private readonly panes = new Map<string, PmPane>();
  /** Last text accepted per PM pane and agent. */
  private readonly lastText = new Map<string, string>();
  private readonly enterTimers = new Set<unknown>();
  private closed = false;

  constructor(options: PmNotifierOptions) {
    this.typer = options.typer;
    this.clock = options.clock;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.enterDelayMs = options.enterDelayMs ?? 500;
    this.format = options.format ?? formatPmMessages;
    this.onSent = options.onSent;
    this.onFailed = options.onFailed;
  }

  /** Queues `text` about `agentId` for the PM pane `pm`; never blocks, never throws. */
  notify(pm: string, agentId: string, text: string): NotifyOutcome {
    const clean = singleLine(text).trim();
    const key = dedupKey(pm, agentId);
    if (this.closed) return 'closed';
    if (this.lastText.get(key) === clean) return 'duplicate';
    this.lastText.set(key, clean);
    const pane = this.pane(pm);
    pane.pending = pane.pending.filter((m) => !(m.agentId === agentId && m.text === clean));
    pane.pending.push({ agentId, text: clean });
    const now = this.clock.now();
    const coolUntil = pane.lastSentAt === undefined ? now : pane.lastSentAt + this.cooldownMs;
    if (pane.timer === undefined && now >= coolUntil) {
      this.flush(pm, pane);
      return 'sending';
    }
    pane.timer ??= this.clock.setTimeout(() => {
      pane.timer = undefined;
      this.flush(pm, pane);
    }, coolUntil - now);
    return 'batched';
  }

  /** Forgets what was last said about `agentId`, so its next message is never a duplicate. */
  forget(agentId: string): void {
    for (const key of this.lastText.keys())
      if (key.endsWith(`\u0000${agentId}`)) this.lastText.delete(key);
  }

  /** Messages waiting for the cooldown of `pm` to end. */
  pendingFor(pm: string): readonly PmMessage[] {
    return this.panes.get(pm)?.pending ?? [];
  }

  /**
   * Cancels every timer; batched messages are dropped, and a send waiting for its Enter is
   * abandoned (its text stays typed, unsubmitted). Idempotent.
   */
  close(): void {
    this.closed = true;
    for (const pane of this.panes.values()) {
      this.clock.clearTimeout(pane.timer);
      pane.timer = undefined;
      pane.pending = [];
    }
    for (const t of this.enterTimers) this.clock.clearTimeout(t);
    this.enterTimers.clear();
  }

  private pane(pm: string): PmPane {
    let pane = this.panes.get(pm);
    if (!pane) {
      pane = { lastSentAt: undefined, pending: [], timer: undefined };
      this.panes.set(pm, pane);
    }
    return pane;
  }

  private flush(pm: string, pane: PmPane): void {
    if (this.closed || pane.pending.length === 0) return;
    const batch = pane.pending;
    pane.pending = [];
    // The cooldown runs from the attempt, failed or not: a PM pane that is gone is not
    // hammered every time a message comes in.
    pane.lastSentAt = this.clock.now();
    void this.deliver(pm, batch);
  }

  private async deliver(pm: string, batch: PmMessage[]): Promise<void> {
    const text = singleLine(this.format(batch));
    const target = exactTarget(pm);
    let result = await this.safe(() => this.typer.typeText(target, text));
    if (result.ok) {
      if (this.enterDelayMs > 0) await this.delay(this.enterDelayMs);
      result = await this.safe(() => this.typer.pressEnter(target));
    }
    try {
      if (result.ok) {
        this.onSent?.(pm, text, batch);
        return;
      }
      for (const m of batch) {
        const key = dedupKey(pm, m.agentId);
        if (this.lastText.get(key) === m.text) this.lastText.delete(key);
      }
      this.onFailed?.(pm, result.reason, batch);
    } catch {
      // A throwing callback is the owner's bug; it must not become an unhandled rejection
      // that takes the supervisor down.
    }
  }

  private async safe(call: () => Promise<TmuxResult<void>>): Promise<TmuxResult<void>> {
    try {
      return await call();
    } catch (error) {
      return { ok: false, liveness: 'unknown', reason: `tmux call threw: ${String(error)}` };
    }
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(() => {
        this.enterTimers.delete(t);
        resolve();
      }, ms);
      this.enterTimers.add(t);
    });
  }
}

function dedupKey(pm: string, agentId: string): string {
  return `${pm}\u0000${agentId}`;
}
