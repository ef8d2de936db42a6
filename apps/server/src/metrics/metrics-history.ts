import type { Logger } from 'pino';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';

/** Metrics history: raw samples, 1-minute and 1-hour rollups, `GET /api/v1/metrics/query`, system metrics (issue 5 point 1). */
export class MetricsHistory implements HubFeature {
  readonly name = 'metrics';

  constructor(
    readonly ctx: HubContext,
    readonly log: Logger,
  ) {}
}
