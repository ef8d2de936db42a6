import { useCallback, useState } from 'react';
import { api } from '../api';
import { EmptyState, ErrorLine, useApi, useNow } from '../components';
import { ago } from '../format';
import { useLiveReload } from '../live-reload';
import { Link } from '../router';
import type { QueueTask, StoredEvent } from '../types';

interface QueueStats {
  queue: string;
  depth: number;
  leased: number;
  completed: number;
  failed: number;
  ratePerMin: number;
}

const hasTaskEvents = (batch: StoredEvent[]) => batch.some((e) => e.type.startsWith('task_'));

const STATES = ['', 'queued', 'leased', 'completed', 'failed'];

export function TasksPage() {
  const now = useNow(5000);
  const queues = useApi(
    (signal) => api<{ queues: QueueStats[] }>('/api/v1/queues', { signal }),
    [],
  );
  const [queue, setQueue] = useState<string>();
  const [state, setState] = useState('');
  const selected = queue ?? queues.data?.queues[0]?.queue;
  const tasks = useApi(
    (signal) =>
      selected
        ? api<{ tasks: QueueTask[] }>(
            `/api/v1/queues/${encodeURIComponent(selected)}/tasks?limit=200${state ? `&state=${state}` : ''}`,
            { signal },
          )
        : Promise.resolve({ tasks: [] }),
    [selected, state],
  );
  const reloadQ = queues.reload;
  const reloadT = tasks.reload;
  const reloadBoth = useCallback(() => {
    reloadQ();
    reloadT();
  }, [reloadQ, reloadT]);
  useLiveReload(reloadBoth, { delayMs: 1500, matters: hasTaskEvents });

  return (
    <main className="page">
      <h1>Tasks</h1>
      <ErrorLine error={queues.error ?? tasks.error} />
      {queues.data && queues.data.queues.length === 0 ? (
        <EmptyState title="No queues yet">
          Put work on a queue with <code>POST /api/v1/queues/NAME/tasks</code>; agents take it with
          leases through the SDK, and a failed agent's tasks go back to the queue.
        </EmptyState>
      ) : null}
      <div className="stats">
        {queues.data?.queues.map((q) => (
          <button
            key={q.queue}
            className={`stat stat-button ${selected === q.queue ? 'selected' : ''}`}
            aria-pressed={selected === q.queue}
            onClick={() => setQueue(q.queue)}
          >
            <span className="stat-label">queue {q.queue}</span>
            <span className="stat-value">{q.depth} waiting</span>
            <span className="stat-hint">
              {q.leased} leased · {q.ratePerMin}/min · {q.completed} done · {q.failed} failed
            </span>
          </button>
        ))}
      </div>
      {selected ? (
        <>
          <div className="toolbar">
            <label>
              State
              <select value={state} onChange={(e) => setState(e.target.value)}>
                {STATES.map((s) => (
                  <option key={s} value={s}>
                    {s || 'all'}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <div className="table-wrap">
            <table data-testid="tasks-table">
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  <th scope="col">State</th>
                  <th scope="col">Agent</th>
                  <th scope="col" className="num">
                    Reassigned
                  </th>
                  <th scope="col">Progress</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {tasks.data?.tasks.map((t) => (
                  <tr key={t.id}>
                    <td title={t.id}>{t.name ?? t.id}</td>
                    <td>{t.state}</td>
                    <td>
                      {t.agentId ? (
                        <Link href={`/agents/${encodeURIComponent(t.agentId)}`}>{t.agentId}</Link>
                      ) : (
                        '–'
                      )}
                    </td>
                    <td className="num">{Math.max(0, t.leases - 1)}</td>
                    <td>
                      {t.progress?.percent !== undefined ? `${t.progress.percent}% ` : ''}
                      {t.progress?.message ?? ''}
                    </td>
                    <td>{ago(t.updatedAt, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </main>
  );
}
