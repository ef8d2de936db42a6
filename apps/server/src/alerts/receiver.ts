/**
 * The contract between the alert engine (what to send, when, to whom) and the receivers (how
 * to deliver). The engine hands a notification to a receiver by name; delivery — retries with
 * backoff, timeouts, reporting failures — is the receivers' side, and one receiver that fails
 * never holds up another.
 */

/** One alert inside a notification (Alertmanager's webhook shape, plus acknowledgement). */
export interface NotifiedAlert {
  /** Stable alert id (`GET /api/v1/alerts` id). */
  id: string;
  /** Rule name (also in `labels.alertname`). */
  rule: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The value that made the condition hold (metric value, count, seconds absent…). */
  value: number | null;
  /** Epoch ms. */
  startsAt: number;
  /** Epoch ms, for resolved alerts. */
  endsAt: number | null;
  acknowledged: boolean;
  /** Label fingerprint: the alert's identity. */
  fingerprint: string;
}

/** What one receiver is asked to deliver: one group's alerts at one moment. */
export interface AlertNotification {
  /** Receiver name, as configured. */
  receiver: string;
  /** Identity of the group (rule + `group_by` label values). */
  groupKey: string;
  /** `firing` when any alert of the group fires, else `resolved`. */
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  alerts: NotifiedAlert[];
  /** Set when this is an escalation: tier index (0 = first `escalate` entry) and its delay. */
  escalation?: { tier: number; afterMs: number };
  /** One human-readable summary (Slack-compatible `text`, e-mail subject line, tmux line). */
  text: string;
  /** Epoch ms when the engine decided to send. */
  at: number;
}

/** Delivers notifications of one configured receiver. */
export interface Receiver {
  readonly name: string;
  readonly type: 'console' | 'webhook' | 'email' | 'tmux';
  /** Rejects when this attempt failed (the delivery side retries); honours `signal`. */
  send(n: AlertNotification, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}
