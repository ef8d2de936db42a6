import type { DeliverableReceiver } from './notification-delivery.js';
import { DeliveryError, retryFromConfig } from './notification-delivery.js';
import type { AlertNotification, NotifiedAlert } from './receiver.js';
import type { WebhookReceiverConfig } from './receiver-config.js';

/** Alertmanager's zero time, used for `endsAt` of an alert that has not ended. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * The request body: Alertmanager's webhook payload (version 4), so tools that read it work
 * unchanged, plus Slack's `text` (a Slack incoming webhook takes the same POST) and Warden's
 * own facts per alert (`id`, `rule`, `value`, `acknowledged`) and the escalation tier.
 */
export function webhookBody(n: AlertNotification): Record<string, unknown> {
  return {
    version: '4',
    groupKey: n.groupKey,
    truncatedAlerts: 0,
    status: n.status,
    receiver: n.receiver,
    groupLabels: n.groupLabels,
    commonLabels: n.commonLabels,
    commonAnnotations: n.commonAnnotations,
    externalURL: '',
    alerts: n.alerts.map(webhookAlert),
    ...(n.escalation ? { escalation: n.escalation } : {}),
    text: n.text,
  };
}

function webhookAlert(a: NotifiedAlert): Record<string, unknown> {
  return {
    status: a.status,
    labels: a.labels,
    annotations: a.annotations,
    startsAt: new Date(a.startsAt).toISOString(),
    endsAt: a.endsAt === null ? ZERO_TIME : new Date(a.endsAt).toISOString(),
    generatorURL: '',
    fingerprint: a.fingerprint,
    id: a.id,
    rule: a.rule,
    value: a.value,
    acknowledged: a.acknowledged,
  };
}

/** The fetch the receiver needs; injectable, the global one by default. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/**
 * `type: webhook` — POSTs {@link webhookBody} as JSON. A 2xx is success; anything else fails
 * the attempt with the status in the reason. 4xx other than 408 and 429 is the receiver
 * refusing this body, which a retry cannot change, so it is not retried. `user:pass@` in the
 * URL is sent as a Basic Authorization header (fetch refuses credentials in a URL) and kept
 * out of every log line and error.
 */
export class WebhookReceiver implements DeliverableReceiver {
  readonly type = 'webhook';
  readonly name: string;
  readonly retry;
  readonly sendResolved: boolean;
  readonly secrets: string[] = [];
  /** The URL without credentials: what logs and errors may show. */
  readonly safeUrl: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly fetch: FetchLike;

  constructor(config: WebhookReceiverConfig, options: { fetch?: FetchLike } = {}) {
    this.name = config.name;
    this.sendResolved = config.send_resolved;
    this.retry = retryFromConfig(config);
    const url = new URL(config.url);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'warden-alerts',
    };
    if (url.username !== '' || url.password !== '') {
      const user = decodeURIComponent(url.username);
      const pass = decodeURIComponent(url.password);
      const basic = Buffer.from(`${user}:${pass}`).toString('base64');
      headers.authorization = `Basic ${basic}`;
      this.secrets.push(basic);
      if (pass !== '') this.secrets.push(pass, url.password);
      url.username = '';
      url.password = '';
    }
    for (const [k, v] of Object.entries(config.headers)) {
      headers[k.toLowerCase()] = v;
      // Header values often are tokens (Authorization, X-Api-Key): never in a log line.
      if (v.length >= 8) this.secrets.push(v);
    }
    this.url = url.toString();
    this.safeUrl = this.url;
    this.headers = headers;
    this.fetch = options.fetch ?? ((u, init) => fetch(u, init));
  }

  async send(n: AlertNotification, signal: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await this.fetch(this.url, {
        method: 'POST',
        headers: this.headers,
        body: JSON.stringify(webhookBody(n)),
        signal,
        redirect: 'manual',
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const detail = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new DeliveryError(`POST ${this.safeUrl} failed: ${detail}`, { cause: error });
    }
    // The body is not used; reading it frees the connection for keep-alive.
    const text = await res.text().catch(() => '');
    if (res.status >= 200 && res.status < 300) return;
    const retryable =
      res.status >= 500 || res.status === 408 || res.status === 429 || res.status < 400;
    const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    throw new DeliveryError(
      `POST ${this.safeUrl} answered ${res.status}${snippet === '' ? '' : `: ${snippet}`}`,
      { retryable, ...retryAfter(res) },
    );
  }
}

/** `Retry-After` in seconds (the HTTP-date form is rare for webhooks and ignored). */
function retryAfter(res: Response): { retryAfterMs?: number } {
  const v = res.headers.get('retry-after');
  if (v === null || !/^\d+$/.test(v.trim())) return {};
  return { retryAfterMs: Number(v.trim()) * 1000 };
}
