import { memo, useDeferredValue, useMemo, useState } from 'react';
import { useApp } from '../app';
import { EmptyState, ErrorLine, HealthBadge, StatusBadge, useNow } from '../components';
import { ago, duration, memoryMb, percent } from '../format';
import { useFleet } from '../fleet';
import { Link, navigate } from '../router';
import type { Agent, Health } from '../types';

type SortKey =
  | 'agentId'
  | 'status'
  | 'health'
  | 'cpu'
  | 'memory'
  | 'uptime'
  | 'restarts'
  | 'task'
  | 'errors'
  | 'lastSeen';

const HEALTH_ORDER: Record<Health, number> = { critical: 0, warning: 1, unknown: 2, healthy: 3 };

function uptime(a: Agent, now: number): number | undefined {
  return a.lifecycle?.startedAt ? now - a.lifecycle.startedAt : undefined;
}

function sortValue(a: Agent, key: SortKey, now: number): number | string {
  switch (key) {
    case 'agentId':
      return a.agentId;
    case 'status':
      return a.status ?? '';
    case 'health':
      return HEALTH_ORDER[a.health];
    case 'cpu':
      return a.metrics.cpu_percent ?? -1;
    case 'memory':
      return a.metrics.memory_mb ?? -1;
    case 'uptime':
      return uptime(a, now) ?? -1;
    case 'restarts':
      return a.lifecycle?.restarts ?? -1;
    case 'task':
      return a.currentTask?.name ?? a.currentTask?.taskId ?? '';
    case 'errors':
      return a.unresolvedErrors;
    case 'lastSeen':
      return a.lastSeen;
  }
}

const COLUMNS: Array<[SortKey, string, boolean]> = [
  ['agentId', 'Agent', false],
  ['status', 'Status', false],
  ['health', 'Health', false],
  ['cpu', 'CPU', true],
  ['memory', 'Memory', true],
  ['uptime', 'Uptime', true],
  ['restarts', 'Restarts', true],
  ['task', 'Current task', false],
  ['errors', 'Errors', true],
  ['lastSeen', 'Last seen', true],
];

/** What the process is doing beyond its status: "restarting in 12 s", "circuit open". */
export function processNote(a: Agent, now: number): string | undefined {
  const l = a.lifecycle;
  if (!l) return undefined;
  if (l.circuit === 'open') return 'circuit open';
  if (l.nextRestartAt && l.nextRestartAt > now)
    return `restarting in ${Math.ceil((l.nextRestartAt - now) / 1000)} s${l.attempt ? ` (attempt ${l.attempt}${l.maxRestarts ? `/${l.maxRestarts}` : ''})` : ''}`;
  return undefined;
}

const Row = memo(function Row({ a, now }: { a: Agent; now: number }) {
  const up = uptime(a, now);
  const note = processNote(a, now);
  return (
    <tr data-agent-id={a.agentId}>
      <th scope="row">
        <Link href={`/agents/${encodeURIComponent(a.agentId)}`}>{a.agentId}</Link>
      </th>
      <td>
        <StatusBadge status={a.status} />
        {note ? <div className="note">{note}</div> : null}
      </td>
      <td>
        <HealthBadge health={a.health} />
      </td>
      <td className="num">{percent(a.metrics.cpu_percent)}</td>
      <td className="num">{memoryMb(a.metrics.memory_mb)}</td>
      <td className="num">{up === undefined ? '–' : duration(up)}</td>
      <td className="num">{a.lifecycle ? a.lifecycle.restarts : '–'}</td>
      <td className="task" title={a.statusMessage ?? undefined}>
        {a.currentTask ? (
          <>
            {a.currentTask.name ?? a.currentTask.taskId}{' '}
            <span className="muted">({duration(now - a.currentTask.since)})</span>
          </>
        ) : (
          <span className="muted">–</span>
        )}
      </td>
      <td className="num">{a.unresolvedErrors}</td>
      <td className="num">
        <time dateTime={new Date(a.lastSeen).toISOString()}>{ago(a.lastSeen, now)}</time>
      </td>
    </tr>
  );
});

export function AgentsPage() {
  const { live } = useApp();
  const { agents, error } = useFleet(live);
  const now = useNow(1000);
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({
    key: 'agentId',
    desc: false,
  });
  const [filter, setFilter] = useState('');
  const [health, setHealth] = useState<'' | Health>('');
  const q = useDeferredValue(filter.trim().toLowerCase());

  const rows = useMemo(() => {
    if (!agents) return [];
    const list = [...agents.values()].filter(
      (a) =>
        (!health || a.health === health) &&
        (!q ||
          a.agentId.toLowerCase().includes(q) ||
          (a.status ?? '').includes(q) ||
          (a.statusMessage ?? '').toLowerCase().includes(q) ||
          (a.currentTask?.name ?? '').toLowerCase().includes(q)),
    );
    const dir = sort.desc ? -1 : 1;
    // Sorting by the live figures would reorder rows under the pointer every second: the
    // moving columns sort by their value when the sort was chosen.
    list.sort((x, y) => {
      const a = sortValue(x, sort.key, now);
      const b = sortValue(y, sort.key, now);
      return (a < b ? -1 : a > b ? 1 : x.agentId < y.agentId ? -1 : 1) * dir;
    });
    return list;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [agents, sort, q, health]);

  const setKey = (key: SortKey) =>
    setSort((s) =>
      s.key === key ? { key, desc: !s.desc } : { key, desc: COLUMNS.find((c) => c[0] === key)![2] },
    );

  return (
    <main className="page">
      <h1>Agents</h1>
      <ErrorLine error={error} />
      <div className="toolbar" role="search">
        <label>
          Filter
          <input
            type="search"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            placeholder="id, status, task…"
            aria-label="Filter agents by id, status or task"
          />
        </label>
        <label>
          Health
          <select value={health} onChange={(e) => setHealth(e.target.value as '' | Health)}>
            <option value="">all</option>
            <option value="critical">critical</option>
            <option value="warning">warning</option>
            <option value="healthy">healthy</option>
            <option value="unknown">unknown</option>
          </select>
        </label>
        <span className="muted" role="status" data-testid="agents-count">
          {agents ? `${rows.length} of ${agents.size} agents` : 'Loading…'}
        </span>
      </div>
      {agents && agents.size === 0 ? (
        <EmptyState title="No agents yet — here is how to connect one">
          <p>
            An agent appears with its first event. Supervise one under <code>agents:</code> in{' '}
            <code>warden.yaml</code>, or report from any program with the SDK (
            <code>connect()</code> from <code>@warden/sdk</code>) and a token from{' '}
            <code>npx warden token --role agent --agent-id ID</code>.
          </p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="agents" data-testid="agents-table" aria-busy={!agents}>
            <caption className="sr-only">Agents, sortable by each column</caption>
            <thead>
              <tr>
                {COLUMNS.map(([key, label, numeric]) => (
                  <th
                    key={key}
                    scope="col"
                    className={numeric ? 'num' : ''}
                    aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
                  >
                    <button className="sort" onClick={() => setKey(key)}>
                      {label}
                      <span aria-hidden="true">
                        {sort.key === key ? (sort.desc ? ' ▼' : ' ▲') : ''}
                      </span>
                    </button>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody
              onKeyDown={(e) => {
                const link = (e.target as HTMLElement).closest('tr')?.querySelector('a');
                if (e.key === 'Enter' && link) navigate(link.getAttribute('href')!);
              }}
            >
              {rows.map((a) => (
                <Row key={a.agentId} a={a} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}
