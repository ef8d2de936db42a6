import { z } from 'zod';
import { TimestampSchema } from '@warden/protocol';
import { MatcherSchema, compileMatchers, type CompiledMatcher } from './label-matchers.js';

/** A new silence (`POST /api/v1/silences`): Alertmanager's shape, times as epoch ms or ISO-8601. */
export const SilenceInputSchema = z
  .strictObject({
    /** Given: replaces that silence (Alertmanager's update); unknown id → 404. */
    id: z.string().min(1).max(64).optional(),
    matchers: z.array(MatcherSchema).min(1, 'needs at least one matcher').max(32),
    /** @defaultValue now */
    startsAt: TimestampSchema.optional(),
    endsAt: TimestampSchema,
    /** @defaultValue the token's subject */
    createdBy: z.string().min(1).max(256).optional(),
    comment: z.string().min(1, 'must not be empty').max(4096),
  })
  .superRefine((s, ctx) => {
    // A silence whose every matcher matches an empty label would silence every alert.
    const matchesEmpty = (m: (typeof s.matchers)[number]) => {
      try {
        return compileMatchers([m])({});
      } catch {
        return false; // an invalid regex: reported on its own field
      }
    };
    if (s.matchers.every(matchesEmpty)) {
      ctx.addIssue({
        code: 'custom',
        path: ['matchers'],
        message:
          'at least one matcher must not match the empty string (it would silence everything)',
      });
    }
    if (s.startsAt !== undefined && s.endsAt <= s.startsAt) {
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be after startsAt' });
    }
  });
export type SilenceInput = z.output<typeof SilenceInputSchema>;

export interface Silence {
  id: string;
  matchers: z.output<typeof MatcherSchema>[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  updatedAt: number;
}

export type SilenceState = 'pending' | 'active' | 'expired';

export function silenceState(s: Silence, now: number): SilenceState {
  if (now >= s.endsAt) return 'expired';
  if (now < s.startsAt) return 'pending';
  return 'active';
}

/** The API's view of a silence: the stored fields plus `status.state` (Alertmanager's). */
export function silenceView(s: Silence, now: number) {
  return { ...s, status: { state: silenceState(s, now) } };
}

/** Silences in memory (the table is written through), with their matchers compiled. */
export class Silences {
  private readonly byId = new Map<string, { s: Silence; match: CompiledMatcher }>();

  load(list: readonly Silence[]): void {
    for (const s of list) this.put(s);
  }

  put(s: Silence): void {
    this.byId.set(s.id, { s, match: compileMatchers(s.matchers) });
  }

  get(id: string): Silence | undefined {
    return this.byId.get(id)?.s;
  }

  list(): Silence[] {
    return [...this.byId.values()].map((x) => x.s);
  }

  /** Forgets silences that ended before `before` (their rows go with the retention pass). */
  prune(before: number): void {
    for (const [id, x] of this.byId) if (x.s.endsAt < before) this.byId.delete(id);
  }

  /** The active silences' matcher, built once per use (a few silences, many alerts). */
  matcher(now: number): (labels: Readonly<Record<string, string>>) => string[] {
    const active = [...this.byId.values()].filter((x) => silenceState(x.s, now) === 'active');
    if (active.length === 0) return () => [];
    return (labels) => active.filter((x) => x.match(labels)).map((x) => x.s.id);
  }
}
