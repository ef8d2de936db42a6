import { useEffect, useRef, useState } from 'react';
import { api } from './api';
import type { LiveConnection } from './live';
import type { Agent, StoredEvent } from './types';

/** Derived fields (health, process, current task) are re-read at most this often. */
const REFRESH_MS = 1000;

/** Types that change what only the server derives: re-read the list after them. */
const DERIVED = new Set([
  'agent_lifecycle',
  'health_changed',
  'task_assigned',
  'task_completed',
  'error_occurred',
]);

/**
 * Applies live events to agents in place: status, message, metrics and last seen change at
 * once; a new agent or a change of a derived field schedules one re-read of the list.
 * Returns true when a re-read is needed.
 */
export function applyEvents(agents: Map<string, Agent>, events: readonly StoredEvent[]): boolean {
  let refetch = false;
  for (const ev of events) {
    const a = agents.get(ev.agentId);
    if (!a) {
      refetch = true;
      continue;
    }
    const next: Agent = {
      ...a,
      lastSeen: Math.max(a.lastSeen, ev.receivedAt ?? ev.ts),
      lastSeq: ev.seq,
    };
    if (ev.type === 'agent_status_update') {
      next.status = String(ev.data.status);
      next.statusMessage = typeof ev.data.message === 'string' ? ev.data.message : null;
    } else if (ev.type === 'metric_update') {
      next.metrics = { ...a.metrics, ...(ev.data.metrics as Record<string, number>) };
    }
    if (DERIVED.has(ev.type)) refetch = true;
    agents.set(ev.agentId, next);
  }
  return refetch;
}

/** The fleet, loaded once and kept current by the live connection. */
export function useFleet(live: LiveConnection | undefined) {
  const [agents, setAgents] = useState<Map<string, Agent> | undefined>(undefined);
  const [error, setError] = useState<unknown>();
  const map = useRef(new Map<string, Agent>());
  useEffect(() => {
    if (!live) return;
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastLoad = 0;
    let loading = false;
    let again = false;
    const load = async () => {
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      lastLoad = Date.now();
      try {
        const r = await api<{ agents: Agent[] }>('/api/v1/agents');
        if (stop) return;
        const m = new Map(r.agents.map((a) => [a.agentId, a]));
        map.current = m;
        setAgents(new Map(m));
        setError(undefined);
      } catch (e) {
        if (!stop) setError(e);
      } finally {
        loading = false;
        if (again && !stop) {
          again = false;
          schedule();
        }
      }
    };
    const schedule = () => {
      if (timer) return;
      const wait = Math.max(0, REFRESH_MS - (Date.now() - lastLoad));
      timer = setTimeout(() => {
        timer = undefined;
        void load();
      }, wait);
    };
    void load();
    const off = live.onEvents((events) => {
      const m = new Map(map.current);
      if (applyEvents(m, events)) schedule();
      map.current = m;
      setAgents(m);
    });
    // Back after a drop: what happened meanwhile is replayed, but re-read anyway.
    const offState = live.onState((s) => {
      if (s === 'live') schedule();
    });
    return () => {
      stop = true;
      clearTimeout(timer);
      off();
      offState();
    };
  }, [live]);
  return { agents, error };
}
