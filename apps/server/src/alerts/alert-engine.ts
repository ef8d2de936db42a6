import type { Logger } from 'pino';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';

/** The alert engine: rules, evaluation, grouping, inhibition, silences, acknowledgement, escalation, notification log (issue 5 point 2). */
export class AlertEngine implements HubFeature {
  readonly name = 'alerts';

  constructor(
    readonly ctx: HubContext,
    readonly log: Logger,
  ) {}
}
