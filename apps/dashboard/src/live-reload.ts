import { useEffect } from 'react';
import { useApp } from './app';
import type { StoredEvent } from './types';

/**
 * Calls `reload` after live events that `matters` (all, by default), at most once per `delayMs`
 * — what the server derives from events (health, alerts, queue counts) is re-read when it can
 * have changed instead of on a timer. `everyMs` adds a slow re-read for figures that have no
 * events (host CPU).
 */
export function useLiveReload(
  reload: () => void,
  opts: { delayMs: number; matters?: (batch: StoredEvent[]) => boolean; everyMs?: number },
): void {
  const { live } = useApp();
  const { delayMs, matters, everyMs } = opts;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = live.onEvents((batch) => {
      if (timer || (matters && !matters(batch))) return;
      timer = setTimeout(() => {
        timer = undefined;
        reload();
      }, delayMs);
    });
    const slow = everyMs ? setInterval(reload, everyMs) : undefined;
    return () => {
      off();
      clearTimeout(timer);
      clearInterval(slow);
    };
  }, [live, reload, delayMs, matters, everyMs]);
}
