/** `3s ago`, `5m ago`, `2h ago`, `3d ago`. */
export function ago(ms: number, now = Date.now()): string {
  const d = now - ms;
  if (d < 1000) return 'just now';
  return `${duration(d)} ago`;
}

/** `45s`, `12m`, `3h 5m`, `2d 4h`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

export function memoryMb(mb: number | undefined): string {
  if (mb === undefined) return '–';
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}

export function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GB`;
  if (n >= 2 ** 20) return `${Math.round(n / 2 ** 20)} MB`;
  return `${Math.round(n / 1024)} KB`;
}

export function percent(v: number | undefined): string {
  return v === undefined ? '–' : `${v < 10 ? v.toFixed(1) : Math.round(v)}%`;
}

export function time(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString([], { hour12: false });
}

/** One line about an event, for feeds and timelines. */
export function describeEvent(type: string, data: Record<string, unknown>): string {
  const d = data as Record<string, string | number | boolean | undefined | Record<string, number>>;
  switch (type) {
    case 'agent_status_update':
      return `status ${String(d.status)}${d.message ? ` — ${String(d.message)}` : ''}`;
    case 'task_assigned':
      return `task ${String(d.name ?? d.taskId)} assigned`;
    case 'task_completed':
      return `task ${String(d.taskId)} ${d.success ? 'succeeded' : 'failed'}${d.durationMs ? ` in ${duration(Number(d.durationMs))}` : ''}`;
    case 'task_progress':
      return `task ${String(d.taskId)} ${d.percent !== undefined ? `${String(d.percent)}%` : ''} ${String(d.message ?? '')}`.trim();
    case 'error_occurred':
      return `${String(d.errorType)}: ${String(d.message)}`;
    case 'metric_update':
      return Object.entries((d.metrics ?? {}) as Record<string, number>)
        .slice(0, 4)
        .map(([k, v]) => `${k}=${Math.round(v * 100) / 100}`)
        .join(' ');
    case 'agent_lifecycle':
      return `${String(d.action).replace(/_/g, ' ')} — ${String(d.reason ?? '')}`;
    case 'health_changed':
      return `${String(d.check)}: ${String(d.health)}${d.message ? ` — ${String(d.message)}` : ''}`;
    case 'log':
      return `[${String(d.level)}] ${String(d.message)}`;
    case 'escalation':
      return `escalation: ${String(d.reason ?? d.message ?? '')}`;
    default:
      return type;
  }
}
