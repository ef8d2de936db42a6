import type { Logger } from 'pino';
import { AlertEngine } from './alerts/alert-engine.js';
import { DashboardSessions } from './auth/dashboard-sessions.js';
import { ErrorGroups } from './error-groups/error-groups.js';
import type { HubContext } from './hub-context.js';
import type { HubFeature } from './hub-feature.js';
import { AgentLifecycleView } from './lifecycle/agent-lifecycle-view.js';
import { LogCenter } from './logs/log-center.js';
import { MetricsHistory } from './metrics/metrics-history.js';

/** The hub's features by name, reachable from every route through `ctx.features`. */
export interface HubFeatures {
  metrics: MetricsHistory;
  errorGroups: ErrorGroups;
  logs: LogCenter;
  alerts: AlertEngine;
  sessions: DashboardSessions;
  lifecycle: AgentLifecycleView;
}

/**
 * Builds every feature on the hub's context, in dependency order (the alert engine reads the
 * others). Their constructors must not start work: that is `start()`, once the hub listens.
 */
export function createFeatures(ctx: HubContext, log: Logger): HubFeatures {
  const metrics = new MetricsHistory(ctx, log.child({ component: 'metrics' }));
  const errorGroups = new ErrorGroups(ctx, log.child({ component: 'error-groups' }));
  const logs = new LogCenter(ctx, log.child({ component: 'logs' }));
  const alerts = new AlertEngine(ctx, log.child({ component: 'alerts' }));
  const sessions = new DashboardSessions(ctx, log.child({ component: 'sessions' }));
  const lifecycle = new AgentLifecycleView(ctx, log.child({ component: 'lifecycle' }));
  return { metrics, errorGroups, logs, alerts, sessions, lifecycle };
}

/** The features in creation order (start in this order, close in reverse). */
export function featureList(f: HubFeatures): HubFeature[] {
  return [f.metrics, f.errorGroups, f.logs, f.alerts, f.sessions, f.lifecycle];
}
