import { useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { useApp } from '../app';
import {
  Card,
  EmptyState,
  ErrorLine,
  HealthBadge,
  SeverityBadge,
  Stat,
  useApi,
} from '../components';
import { bytes, describeEvent, percent, time } from '../format';
import { useLiveReload } from '../live-reload';
import { Link } from '../router';
import type { Dashboard, ErrorGroup, Health, StoredEvent } from '../types';

const FEED = 40;
const hasErrorEvents = (batch: StoredEvent[]) => batch.some((e) => e.type === 'error_occurred');
/** Host figures have no events of their own: re-read at most this often while watched. */
const HOST_REFRESH_MS = 10_000;

export function EventFeed({ initial, agentId }: { initial: StoredEvent[]; agentId?: string }) {
  const { live } = useApp();
  // `initial` is read once, on mount: afterwards the feed is what the WebSocket brings.
  const [events, setEvents] = useState<StoredEvent[]>(initial);
  useEffect(
    () =>
      live.onEvents((batch) => {
        const mine = (agentId ? batch.filter((e) => e.agentId === agentId) : batch).filter(
          (e) => e.type !== 'metric_update' || agentId,
        );
        if (mine.length === 0) return;
        setEvents((prev) => {
          const seen = new Set(prev.map((e) => e.seq));
          return [...mine.filter((e) => !seen.has(e.seq)).reverse(), ...prev].slice(0, FEED);
        });
      }),
    [live, agentId],
  );
  if (events.length === 0)
    return (
      <EmptyState title="No events yet">Events appear here the moment an agent reports.</EmptyState>
    );
  return (
    <ol className="feed" aria-label="Live events" data-testid="event-feed">
      {events.map((e) => (
        <li key={e.seq} data-event-id={e.id} className={`feed-${e.type}`}>
          <time dateTime={new Date(e.ts).toISOString()}>{time(e.ts)}</time>
          {agentId ? null : (
            <Link href={`/agents/${encodeURIComponent(e.agentId)}`} className="feed-agent">
              {e.agentId}
            </Link>
          )}
          <span className="feed-type">{e.type.replace(/_/g, ' ')}</span>
          <span className="feed-text">{describeEvent(e.type, e.data)}</span>
        </li>
      ))}
    </ol>
  );
}

export function OverviewPage() {
  const dash = useApi((signal) => api<Dashboard>('/api/v1/dashboard', { signal }), []);
  const groups = useApi(
    (signal) =>
      api<{ groups: ErrorGroup[] }>('/api/v1/error-groups?state=unresolved,regressed&limit=5', {
        signal,
      }),
    [],
  );
  const reloadBoth = dash.reload;
  const reloadGroups = groups.reload;
  useLiveReload(reloadBoth, { delayMs: 2000, everyMs: HOST_REFRESH_MS });
  useLiveReload(reloadGroups, { delayMs: 2000, matters: hasErrorEvents });
  const d = dash.data;
  const initialFeed = useRef<StoredEvent[] | undefined>(undefined);
  if (d && !initialFeed.current)
    initialFeed.current = d.recentEvents.filter((e) => e.type !== 'metric_update');

  if (!d) {
    return (
      <main className="page">
        <h1>Overview</h1>
        {dash.error ? <ErrorLine error={dash.error} /> : <p role="status">Loading…</p>}
      </main>
    );
  }
  const host = d.system.host;
  const firing = d.alerts.firing;
  const health: Health = d.fleet.health;
  return (
    <main className="page">
      <h1>
        Overview <HealthBadge health={health} />
      </h1>
      <ErrorLine error={dash.error} />
      {d.fleet.agents === 0 ? (
        <EmptyState title="No agents yet — here is how to connect one">
          <p>
            Supervise one: add it under <code>agents:</code> in <code>warden.yaml</code> and run{' '}
            <code>warden serve</code>. Or let a program report itself with the SDK:
          </p>
          <pre>{`import { connect } from '@warden/sdk';
// WARDEN_URL=${location.origin} WARDEN_TOKEN=… WARDEN_AGENT_ID=my-agent
const warden = connect();
await warden.status('busy');`}</pre>
          <p>
            Mint its token with <code>npx warden token --role agent --agent-id my-agent</code>.
          </p>
        </EmptyState>
      ) : null}
      <div className="stats" data-testid="overview-stats">
        <Stat label="Fleet health" value={<HealthBadge health={health} />} />
        <Stat label="Active agents" value={`${d.fleet.active} / ${d.fleet.agents}`} />
        <Stat
          label="Host CPU"
          value={host ? percent(host.cpuPercent) : '–'}
          hint={host ? `load ${host.load1.toFixed(2)}` : 'first sample soon'}
        />
        <Stat
          label="Host memory"
          value={host ? bytes(host.memoryUsedBytes) : '–'}
          hint={host ? `of ${bytes(host.memoryTotalBytes)}` : undefined}
        />
        <Stat
          label="Processing rate"
          value={`${d.queue.ratePerMin}/min`}
          hint={`${d.system.ingestRatePerSecond} events/s in`}
        />
        <Stat label="Queue depth" value={d.queue.depth} hint={`${d.queue.leased} leased`} />
        <Stat
          label="Firing alerts"
          value={firing.length}
          tone={
            firing.some((a) => a.severity === 'critical')
              ? 'critical'
              : firing.length
                ? 'warning'
                : 'healthy'
          }
        />
        <Stat
          label="Unresolved errors"
          value={
            groups.data ? (groups.data.groups.length >= 5 ? '5+' : groups.data.groups.length) : '–'
          }
          hint="error groups"
          tone={groups.data?.groups.length ? 'warning' : 'healthy'}
        />
      </div>
      <div className="grid2">
        <Card title="Agents by status and health">
          <table className="compact">
            <caption className="sr-only">Agents by health</caption>
            <tbody>
              {(['healthy', 'warning', 'critical', 'unknown'] as const).map((h) => (
                <tr key={h}>
                  <th scope="row">
                    <HealthBadge health={h} />
                  </th>
                  <td>{d.fleet.byHealth[h]}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="chips">
            {Object.entries(d.fleet.byStatus).map(([s, n]) => (
              <span key={s} className="chip">
                {s.replace('_', ' ')}: {n}
              </span>
            ))}
          </p>
          <Link href="/agents">All agents →</Link>
        </Card>
        <Card title="Firing alerts">
          {firing.length === 0 ? (
            <EmptyState title="Nothing is firing">
              Alert rules live under alerts: in warden.yaml.
            </EmptyState>
          ) : (
            <ul className="plain">
              {firing.slice(0, 8).map((a) => (
                <li key={a.id}>
                  <SeverityBadge severity={a.severity} /> <strong>{a.rule}</strong>{' '}
                  {a.annotations.summary ?? a.agentId ?? ''}
                  {a.acknowledged ? <span className="chip">acknowledged</span> : null}
                </li>
              ))}
            </ul>
          )}
          <Link href="/alerts">All alerts →</Link>
        </Card>
        <Card title="Unresolved error groups">
          {groups.data && groups.data.groups.length === 0 ? (
            <EmptyState title="No unresolved errors" />
          ) : (
            <ul className="plain">
              {groups.data?.groups.map((g) => (
                <li key={g.id}>
                  <strong>{g.errorType}</strong> {g.message.slice(0, 120)}{' '}
                  <span className="chip">×{g.count}</span>
                </li>
              ))}
            </ul>
          )}
          <Link href="/errors">All errors →</Link>
        </Card>
        <Card title="Live events" className="feed-card">
          <EventFeed initial={d.recentEvents.filter((e) => e.type !== 'metric_update')} />
        </Card>
      </div>
    </main>
  );
}
