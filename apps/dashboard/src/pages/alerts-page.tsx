import { useState } from 'react';
import { api, canAct } from '../api';
import { useApp } from '../app';
import { ConfirmButton, EmptyState, ErrorLine, SeverityBadge, useApi, useNow } from '../components';
import { ago, dateTime } from '../format';
import { useLiveReload } from '../live-reload';
import type { Alert } from '../types';

const TABS: Array<[string, string]> = [
  ['pending,firing', 'Firing and pending'],
  ['resolved', 'Resolved'],
  ['all', 'All'],
];

const SILENCE_FOR: Array<[string, number]> = [
  ['1 hour', 3_600_000],
  ['4 hours', 4 * 3_600_000],
  ['1 day', 86_400_000],
];

/** Silences one alert by its labels (the alert name and agent), for a while, with a reason. */
function SilenceForm({ alert, done }: { alert: Alert; done: () => void }) {
  const [forMs, setForMs] = useState(SILENCE_FOR[0]![1]);
  const [comment, setComment] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    try {
      const matchers = [{ name: 'alertname', value: alert.rule, isRegex: false, isEqual: true }];
      if (alert.agentId)
        matchers.push({ name: 'agentId', value: alert.agentId, isRegex: false, isEqual: true });
      await api('/api/v1/silences', {
        method: 'POST',
        body: { matchers, endsAt: Date.now() + forMs, comment: comment.trim() },
      });
      done();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="inline-form"
      aria-label={`Silence ${alert.rule}`}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <label>
        For
        <select value={forMs} onChange={(e) => setForMs(Number(e.target.value))}>
          {SILENCE_FOR.map(([l, ms]) => (
            <option key={ms} value={ms}>
              {l}
            </option>
          ))}
        </select>
      </label>
      <label>
        Reason
        <input
          value={comment}
          onChange={(e) => setComment(e.target.value)}
          required
          placeholder="why it is silenced"
        />
      </label>
      <button type="submit" className="primary" disabled={busy || !comment.trim()}>
        Silence
      </button>
      <ErrorLine error={error} />
    </form>
  );
}

export function AlertsPage() {
  const { session } = useApp();
  const now = useNow(5000);
  const [state, setState] = useState(TABS[0]![0]);
  const [silencing, setSilencing] = useState<string>();
  const list = useApi(
    (signal) => api<{ alerts: Alert[] }>(`/api/v1/alerts?state=${state}&limit=200`, { signal }),
    [state],
  );
  const { reload } = list;
  // Alerts change with what agents report: re-read after events, at most every 2 s.
  useLiveReload(reload, { delayMs: 2000 });
  const alerts = list.data?.alerts;
  return (
    <main className="page">
      <h1>Alerts</h1>
      <div className="tabs" role="tablist" aria-label="Alert states">
        {TABS.map(([v, label]) => (
          <button key={v} role="tab" aria-selected={state === v} onClick={() => setState(v)}>
            {label}
          </button>
        ))}
      </div>
      <ErrorLine error={list.error} />
      {alerts && alerts.length === 0 ? (
        <EmptyState title={state === 'resolved' ? 'Nothing resolved yet' : 'No alerts — all quiet'}>
          Rules live under <code>alerts.rules</code> in <code>warden.yaml</code>; the built-in ones
          watch health, circuits and error rates.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table data-testid="alerts-table">
            <thead>
              <tr>
                <th scope="col">Severity</th>
                <th scope="col">Rule</th>
                <th scope="col">Agent</th>
                <th scope="col">State</th>
                <th scope="col">Summary</th>
                <th scope="col">Since</th>
                {canAct(session) ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {alerts?.map((a) => (
                <tr key={a.id}>
                  <td>
                    <SeverityBadge severity={a.severity} />
                  </td>
                  <td>{a.rule}</td>
                  <td>{a.agentId ?? '–'}</td>
                  <td>
                    {a.state}
                    {a.acknowledged ? (
                      <span className="chip" title={a.ackComment ?? undefined}>
                        acknowledged{a.ackedBy ? ` by ${a.ackedBy}` : ''}
                        {a.ackComment ? `: ${a.ackComment}` : ''}
                      </span>
                    ) : null}
                    {a.silencedBy.length ? <span className="chip">silenced</span> : null}
                    {a.inhibitedBy ? <span className="chip">inhibited</span> : null}
                  </td>
                  <td>{a.annotations.summary ?? a.annotations.description ?? ''}</td>
                  <td title={dateTime(a.firedAt ?? a.startsAt)}>
                    {ago(a.firedAt ?? a.startsAt, now)}
                  </td>
                  {canAct(session) ? (
                    <td className="row-actions">
                      {a.state !== 'resolved' && !a.acknowledged ? (
                        <ConfirmButton
                          label="Acknowledge"
                          question="Acknowledge?"
                          run={async () => {
                            await api(`/api/v1/alerts/${encodeURIComponent(a.id)}/ack`, {
                              method: 'POST',
                              body: {},
                            });
                            reload();
                            return 'acknowledged';
                          }}
                        />
                      ) : null}
                      {a.state !== 'resolved' ? (
                        silencing === a.id ? (
                          <SilenceForm
                            alert={a}
                            done={() => {
                              setSilencing(undefined);
                              reload();
                            }}
                          />
                        ) : (
                          <button onClick={() => setSilencing(a.id)}>Silence…</button>
                        )
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}
