import { useCallback, useEffect, useMemo, useState } from 'react';
import { api, canAct } from '../api';
import { useApp } from '../app';
import { TimeChart } from '../chart';
import {
  Card,
  ConfirmButton,
  EmptyState,
  ErrorLine,
  HealthBadge,
  StatusBadge,
  useApi,
  useNow,
} from '../components';
import { ago, dateTime, duration, memoryMb, percent, time } from '../format';
import { useLiveReload } from '../live-reload';
import { Link } from '../router';
import type { Agent, ErrorGroup, LogRow, MetricPoint, StoredEvent, TaskRecord } from '../types';
import { processNote } from './agents-page';
import { EventFeed } from './overview-page';

interface AgentDetail {
  agent: Agent;
  recentEvents: StoredEvent[];
  tasks: TaskRecord[];
}

const RANGES: Array<[string, number]> = [
  ['15 min', 15 * 60_000],
  ['1 hour', 3_600_000],
  ['6 hours', 6 * 3_600_000],
  ['24 hours', 86_400_000],
  ['7 days', 7 * 86_400_000],
];

const CHARTS: Array<[string, string, string]> = [
  ['cpu_percent', 'CPU', '%'],
  ['memory_mb', 'Memory', 'MB'],
  ['response_time_ms', 'Response time', 'ms'],
];

/** One metric over the chosen range from the rollups, then live from `metric_update` events. */
function useSeries(agentId: string, name: string, rangeMs: number): Array<[number, number]> {
  const { live } = useApp();
  const [points, setPoints] = useState<Array<[number, number]>>([]);
  useEffect(() => {
    const ac = new AbortController();
    const to = Date.now();
    const from = to - rangeMs;
    let liveOnes: Array<[number, number]> = [];
    let loaded: Array<[number, number]> | undefined;
    const publish = () => {
      if (!loaded) return;
      const last = loaded.at(-1)?.[0] ?? 0;
      setPoints(
        [...loaded, ...liveOnes.filter((p) => p[0] > last)].filter(
          (p) => p[0] >= Date.now() - rangeMs,
        ),
      );
    };
    api<{ points: MetricPoint[] }>(
      `/api/v1/metrics/query?agentId=${encodeURIComponent(agentId)}&name=${name}&from=${from}&to=${to + 60_000}`,
      { signal: ac.signal },
    )
      .then((r) => {
        loaded = r.points.map((p) => [p.ts, p.avg]);
        publish();
      })
      .catch(() => {
        loaded = [];
        publish();
      });
    const off = live.onEvents((batch) => {
      let changed = false;
      for (const e of batch) {
        if (e.agentId !== agentId || e.type !== 'metric_update') continue;
        const v = (e.data.metrics as Record<string, number> | undefined)?.[name];
        if (typeof v === 'number') {
          liveOnes.push([e.ts, v]);
          changed = true;
        }
      }
      if (liveOnes.length > 2000) liveOnes = liveOnes.slice(-1000);
      if (changed) publish();
    });
    return () => {
      ac.abort();
      off();
    };
  }, [live, agentId, name, rangeMs]);
  return points;
}

function Chart({
  agentId,
  name,
  title,
  unit,
  rangeMs,
}: {
  agentId: string;
  name: string;
  title: string;
  unit: string;
  rangeMs: number;
}) {
  const points = useSeries(agentId, name, rangeMs);
  return <TimeChart title={title} unit={unit} points={points} />;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

function LogTail({ agentId }: { agentId: string }) {
  const { live } = useApp();
  const [level, setLevel] = useState<(typeof LEVELS)[number]>('debug');
  const [search, setSearch] = useState('');
  const [rows, setRows] = useState<LogRow[]>([]);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    const ac = new AbortController();
    const t = setTimeout(() => {
      const qs = new URLSearchParams({ agentId, level, limit: '200' });
      if (search.trim()) qs.set('q', search.trim());
      api<{ logs: LogRow[] }>(`/api/v1/logs?${qs}`, { signal: ac.signal })
        .then((r) => {
          setRows(r.logs);
          setError(undefined);
        })
        .catch((e: unknown) => {
          if ((e as Error).name !== 'AbortError') setError(e);
        });
    }, 200);
    const min = LEVELS.indexOf(level);
    const needle = search.trim().toLowerCase();
    const off = live.onEvents((batch) => {
      const fresh: LogRow[] = [];
      for (const e of batch) {
        if (e.type !== 'log' || e.agentId !== agentId) continue;
        const d = e.data as { level?: LogRow['level']; message?: string; stream?: string };
        const lv = LEVELS.includes(d.level as LogRow['level']) ? d.level! : 'info';
        if (LEVELS.indexOf(lv) < min) continue;
        const message = String(d.message ?? '');
        if (needle && !message.toLowerCase().includes(needle)) continue;
        fresh.push({
          seq: e.seq,
          agentId,
          ts: e.ts,
          level: lv,
          message,
          ...(d.stream ? { stream: d.stream } : {}),
        });
      }
      if (fresh.length)
        setRows((prev) =>
          [...fresh.reverse(), ...prev.filter((r) => !fresh.some((f) => f.seq === r.seq))].slice(
            0,
            500,
          ),
        );
    });
    return () => {
      clearTimeout(t);
      ac.abort();
      off();
    };
  }, [live, agentId, level, search]);
  return (
    <div>
      <div className="toolbar">
        <label>
          Level
          <select
            value={level}
            onChange={(e) => setLevel(e.target.value as (typeof LEVELS)[number])}
          >
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l} and above
              </option>
            ))}
          </select>
        </label>
        <label>
          Search
          <input
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            aria-label="Search the logs"
          />
        </label>
      </div>
      <ErrorLine error={error} />
      {rows.length === 0 ? (
        <EmptyState title="No log lines">
          Lines the agent prints (stdout, stderr) and SDK log events show here.
        </EmptyState>
      ) : (
        <ol className="logs" aria-label={`Logs of ${agentId}`} data-testid="log-tail">
          {rows.map((r) => (
            <li key={r.seq} className={`log-${r.level}`}>
              <time>{time(r.ts)}</time> <span className="log-level">{r.level}</span>{' '}
              <span className="log-msg">{r.message}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

export function AgentPage({ agentId }: { agentId: string }) {
  const { session } = useApp();
  const now = useNow(1000);
  const [rangeMs, setRangeMs] = useState(RANGES[0]![1]);
  const detail = useApi(
    (signal) => api<AgentDetail>(`/api/v1/agents/${encodeURIComponent(agentId)}`, { signal }),
    [agentId],
  );
  const groups = useApi(
    (signal) =>
      api<{ groups: ErrorGroup[] }>(
        `/api/v1/error-groups?agentId=${encodeURIComponent(agentId)}&limit=20`,
        { signal },
      ),
    [agentId],
  );
  const { reload } = detail;
  // Re-read after this agent's derived facts change (throttled), not on a timer.
  const matters = useCallback(
    (batch: StoredEvent[]) =>
      batch.some((e) => e.agentId === agentId && e.type !== 'log' && e.type !== 'metric_update'),
    [agentId],
  );
  useLiveReload(reload, { delayMs: 500, matters });
  const initialFeed = useMemo(() => detail.data?.recentEvents ?? [], [detail.data?.recentEvents]);

  if (!detail.data) {
    return (
      <main className="page">
        <p>
          <Link href="/agents">← Agents</Link>
        </p>
        <h1>{agentId}</h1>
        {detail.error ? <ErrorLine error={detail.error} /> : <p role="status">Loading…</p>}
      </main>
    );
  }
  const a = detail.data.agent;
  const l = a.lifecycle;
  const note = processNote(a, now);
  const act = (action: 'start' | 'stop' | 'restart') => async () => {
    await api(`/api/v1/agents/${encodeURIComponent(agentId)}/${action}`, {
      method: 'POST',
      body: {},
    });
    return `${action} sent to the supervisor`;
  };
  return (
    <main className="page">
      <p>
        <Link href="/agents">← Agents</Link>
      </p>
      <h1>
        {a.agentId} <StatusBadge status={a.status} /> <HealthBadge health={a.health} />
      </h1>
      {a.statusMessage ? <p className="lede">{a.statusMessage}</p> : null}
      {canAct(session) ? (
        <div
          className="actions"
          role="group"
          aria-label="Agent actions"
          data-testid="agent-actions"
        >
          <ConfirmButton label="Restart" question={`Restart ${a.agentId}?`} run={act('restart')} />
          <ConfirmButton label="Stop" question={`Stop ${a.agentId}?`} run={act('stop')} danger />
          <ConfirmButton label="Start" question={`Start ${a.agentId}?`} run={act('start')} />
        </div>
      ) : null}
      <div className="stats">
        <div className="stat">
          <div className="stat-label">Process</div>
          <div className="stat-value" data-testid="agent-pid">
            {l?.pid ? `pid ${l.pid}` : l ? 'not running' : 'self-reporting'}
          </div>
          <div className="stat-hint">
            {l?.startedAt ? `up ${duration(now - l.startedAt)}` : (l?.reason ?? '')}
          </div>
        </div>
        <div className="stat">
          <div className="stat-label">Restarts</div>
          <div className="stat-value" data-testid="agent-restarts">
            {l ? l.restarts : '–'}
          </div>
          <div className="stat-hint">
            {note ?? (l ? `last: ${l.lastAction.replace(/_/g, ' ')} ${ago(l.at, now)}` : '')}
          </div>
        </div>
        <div
          className={`stat ${l?.circuit === 'open' ? 'tone-critical' : l?.circuit === 'half_open' ? 'tone-warning' : ''}`}
        >
          <div className="stat-label">Circuit</div>
          <div className="stat-value">{l ? l.circuit.replace('_', '-') : '–'}</div>
          <div className="stat-hint">
            {l?.circuit === 'open'
              ? l.reason
              : l?.nextRestartAt && l.nextRestartAt > now
                ? `next restart ${time(l.nextRestartAt)}`
                : ''}
          </div>
        </div>
        <div className="stat">
          <div className="stat-label">CPU / memory</div>
          <div className="stat-value">
            {percent(a.metrics.cpu_percent)} · {memoryMb(a.metrics.memory_mb)}
          </div>
          <div className="stat-hint">last seen {ago(a.lastSeen, now)}</div>
        </div>
      </div>
      <Card title="Resources">
        <div className="toolbar">
          <label>
            Time range
            <select value={rangeMs} onChange={(e) => setRangeMs(Number(e.target.value))}>
              {RANGES.map(([label, ms]) => (
                <option key={ms} value={ms}>
                  last {label}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div className="charts" data-testid="charts">
          {CHARTS.map(([name, title, unit]) => (
            <Chart
              key={name}
              agentId={agentId}
              name={name}
              title={title}
              unit={unit}
              rangeMs={rangeMs}
            />
          ))}
        </div>
      </Card>
      <div className="grid2">
        <Card title="Events">
          <EventFeed initial={initialFeed} agentId={agentId} />
        </Card>
        <Card title="Logs">
          <LogTail agentId={agentId} />
        </Card>
        <Card title="Tasks">
          {detail.data.tasks.length === 0 ? (
            <EmptyState title="No tasks yet" />
          ) : (
            <table className="compact">
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  <th scope="col">State</th>
                  <th scope="col">Started</th>
                  <th scope="col" className="num">
                    Took
                  </th>
                </tr>
              </thead>
              <tbody>
                {detail.data.tasks.slice(0, 20).map((t) => (
                  <tr key={t.taskId}>
                    <td>{t.name ?? t.taskId}</td>
                    <td>{t.state}</td>
                    <td>{t.assignedAt ? dateTime(t.assignedAt) : '–'}</td>
                    <td className="num">{t.durationMs != null ? duration(t.durationMs) : '–'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <Card title="Error groups">
          <ErrorLine error={groups.error} />
          {groups.data && groups.data.groups.length === 0 ? (
            <EmptyState title="No errors from this agent" />
          ) : (
            <ul className="plain">
              {groups.data?.groups.map((g) => (
                <li key={g.id}>
                  <span className="chip">{g.state}</span> <strong>{g.errorType}</strong>{' '}
                  {g.message.slice(0, 140)} <span className="chip">×{g.count}</span>{' '}
                  <span className="muted">{ago(g.lastSeen, now)}</span>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </main>
  );
}
