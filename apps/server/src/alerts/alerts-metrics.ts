import { Counter, Gauge, type Registry } from 'prom-client';
import type { AlertRecord } from './alert-state.js';

/** The alert engine's Prometheus series (SPEC §8 `warden_alerts_firing`, plus its own cost). */
export class AlertsMetrics {
  readonly evaluationSeconds: Counter;
  readonly evaluations: Counter;

  constructor(registry: Registry, active: () => Iterable<AlertRecord>) {
    new Gauge({
      name: 'warden_alerts_firing',
      help: 'Alerts firing now, by severity (silenced and inhibited ones included).',
      labelNames: ['severity'] as const,
      registers: [registry],
      collect() {
        let warning = 0;
        let critical = 0;
        for (const a of active()) {
          if (a.state !== 'firing') continue;
          if (a.severity === 'critical') critical++;
          else warning++;
        }
        this.set({ severity: 'warning' }, warning);
        this.set({ severity: 'critical' }, critical);
      },
    });
    this.evaluationSeconds = new Counter({
      name: 'warden_alert_evaluation_seconds_total',
      help: 'Time spent in alert evaluation cycles (rules, timers, grouping), seconds.',
      registers: [registry],
    });
    this.evaluations = new Counter({
      name: 'warden_alert_evaluations_total',
      help: 'Alert evaluation cycles run.',
      registers: [registry],
    });
  }
}
