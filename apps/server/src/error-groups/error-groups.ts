import type { Logger } from 'pino';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';

/** Error patterns: fingerprints, groups and their states, retry strategies (issue 5 point 4). */
export class ErrorGroups implements HubFeature {
  readonly name = 'error-groups';

  constructor(
    readonly ctx: HubContext,
    readonly log: Logger,
  ) {}
}
