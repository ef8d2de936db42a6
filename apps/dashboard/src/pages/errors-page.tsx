import { useState } from 'react';
import { api, canAct } from '../api';
import { useApp } from '../app';
import { ConfirmButton, EmptyState, ErrorLine, useApi, useNow } from '../components';
import { ago } from '../format';
import type { ErrorGroup } from '../types';

const TABS: Array<[string, string]> = [
  ['state=unresolved,regressed', 'Unresolved'],
  ['state=resolved', 'Resolved'],
  ['state=ignored', 'Ignored'],
];

export function ErrorsPage() {
  const { session } = useApp();
  const now = useNow(5000);
  const [tab, setTab] = useState(TABS[0]![0]);
  const [q, setQ] = useState('');
  const list = useApi(
    (signal) =>
      api<{ groups: ErrorGroup[] }>(
        `/api/v1/error-groups?${tab}&limit=200${q.trim() ? `&q=${encodeURIComponent(q.trim())}` : ''}`,
        {
          signal,
        },
      ),
    [tab, q],
  );
  const setState = (g: ErrorGroup, state: 'resolved' | 'ignored' | 'unresolved') => async () => {
    await api(`/api/v1/error-groups/${encodeURIComponent(g.id)}`, {
      method: 'PATCH',
      body: { state },
    });
    list.reload();
    return state;
  };
  return (
    <main className="page">
      <h1>Errors</h1>
      <div className="toolbar">
        <div className="tabs" role="tablist" aria-label="Error group states">
          {TABS.map(([v, label]) => (
            <button key={v} role="tab" aria-selected={tab === v} onClick={() => setTab(v)}>
              {label}
            </button>
          ))}
        </div>
        <label>
          Search
          <input
            type="search"
            value={q}
            onChange={(e) => setQ(e.target.value)}
            aria-label="Search error messages"
          />
        </label>
      </div>
      <ErrorLine error={list.error} />
      {list.data && list.data.groups.length === 0 ? (
        <EmptyState title="No error groups here">
          Errors agents report (<code>error_occurred</code>) are grouped by fingerprint: one row per
          kind of failure.
        </EmptyState>
      ) : (
        <ul className="groups" data-testid="error-groups">
          {list.data?.groups.map((g) => (
            <li key={g.id} className="group">
              <div className="group-head">
                <span className="chip">{g.state}</span> <strong>{g.errorType}</strong>
                <span className="chip">×{g.count}</span>
                <span className="muted">
                  {g.agentCount} agent{g.agentCount === 1 ? '' : 's'} · last {ago(g.lastSeen, now)}{' '}
                  · first {ago(g.firstSeen, now)}
                </span>
              </div>
              <p className="group-msg">{g.message}</p>
              {g.stack ? (
                <details>
                  <summary>Stack</summary>
                  <pre>{g.stack}</pre>
                </details>
              ) : null}
              {canAct(session) ? (
                <div className="row-actions">
                  {g.state !== 'resolved' ? (
                    <ConfirmButton
                      label="Resolve"
                      question="Mark resolved?"
                      run={setState(g, 'resolved')}
                    />
                  ) : null}
                  {g.state !== 'ignored' ? (
                    <ConfirmButton
                      label="Ignore"
                      question="Ignore this kind of error?"
                      run={setState(g, 'ignored')}
                    />
                  ) : null}
                  {g.state === 'resolved' || g.state === 'ignored' ? (
                    <ConfirmButton
                      label="Reopen"
                      question="Reopen?"
                      run={setState(g, 'unresolved')}
                    />
                  ) : null}
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
