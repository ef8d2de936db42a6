import type { Logger } from 'pino';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';

/** Central logs: stored, searchable, live, retention by age and size (issue 5 point 5). */
export class LogCenter implements HubFeature {
  readonly name = 'logs';

  constructor(
    readonly ctx: HubContext,
    readonly log: Logger,
  ) {}
}
