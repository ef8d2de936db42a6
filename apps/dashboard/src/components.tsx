import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from './api';
import type { Health } from './types';

/** Health as mark + word: never colour alone (SPEC §1 colours). */
const HEALTH_MARK: Record<Health, string> = {
  healthy: '✓',
  warning: '!',
  critical: '✕',
  unknown: '?',
};

export function HealthBadge({ health }: { health: Health }) {
  return (
    <span className={`badge health-${health}`}>
      <span aria-hidden="true">{HEALTH_MARK[health] ?? '?'}</span> {health}
    </span>
  );
}

const STATUS_TONE: Record<string, Health> = {
  running: 'healthy',
  busy: 'healthy',
  idle: 'healthy',
  starting: 'unknown',
  needs_input: 'warning',
  rate_limited: 'warning',
  restarting: 'warning',
  stopping: 'unknown',
  stopped: 'unknown',
  unresponsive: 'critical',
  failed: 'critical',
};

export function StatusBadge({ status }: { status: string | null }) {
  const s = status ?? 'unknown';
  return (
    <span className={`badge status health-${STATUS_TONE[s] ?? 'unknown'}`}>
      {s.replace('_', ' ')}
    </span>
  );
}

export function SeverityBadge({ severity }: { severity: string }) {
  const tone: Health =
    severity === 'critical' ? 'critical' : severity === 'warning' ? 'warning' : 'unknown';
  return <span className={`badge health-${tone}`}>{severity}</span>;
}

/** What to do when there is nothing to show yet. */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" role="status">
      <p className="empty-title">{title}</p>
      {children}
    </div>
  );
}

export function Card({
  title,
  children,
  className,
}: {
  title: string;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section className={`card ${className ?? ''}`} aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Stat({
  label,
  value,
  tone,
  hint,
}: {
  label: string;
  value: ReactNode;
  tone?: Health;
  hint?: string;
}) {
  return (
    <div className={`stat ${tone ? `tone-${tone}` : ''}`}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {hint ? <div className="stat-hint">{hint}</div> : null}
    </div>
  );
}

export function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  const msg =
    error instanceof ApiError
      ? `${error.message} (${error.code})`
      : String((error as Error).message ?? error);
  return (
    <p className="error-line" role="alert">
      {msg}
    </p>
  );
}

/**
 * Loads `path` and reloads it when `deps` change or `reload()` is called; keeps the last good
 * answer while a reload runs (no flicker).
 */
export function useApi<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    loadRef
      .current(ac.signal)
      .then((d) => {
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setError(e);
      })
      .finally(() => {
        if (!ac.signal.aborted) setLoading(false);
      });
    return () => ac.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/**
 * A button that asks before it acts, then shows what happened: "Restart worker-1?" →
 * Confirm / Cancel → "restart accepted" or the server's error.
 */
export function ConfirmButton({
  label,
  question,
  run,
  danger,
}: {
  label: string;
  question: string;
  run: () => Promise<string>;
  danger?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>();
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
  }, [asking]);
  const go = async () => {
    setBusy(true);
    try {
      setResult({ ok: true, text: await run() });
    } catch (e) {
      setResult({ ok: false, text: e instanceof ApiError ? e.message : String(e) });
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  return (
    <span className="confirm">
      {asking ? (
        <span role="group" aria-label={question} className="confirm-ask">
          <span>{question}</span>
          <button
            ref={confirmRef}
            className={danger ? 'danger' : 'primary'}
            disabled={busy}
            onClick={() => void go()}
          >
            Confirm
          </button>
          <button onClick={() => setAsking(false)} disabled={busy}>
            Cancel
          </button>
        </span>
      ) : (
        <button
          className={danger ? 'danger' : ''}
          onClick={() => {
            setResult(undefined);
            setAsking(true);
          }}
        >
          {label}
        </button>
      )}
      {result ? (
        <span className={`result ${result.ok ? 'ok' : 'bad'}`} role="status">
          {result.text}
        </span>
      ) : null}
    </span>
  );
}

/** Re-renders every `ms` (for "3s ago" and countdowns). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
