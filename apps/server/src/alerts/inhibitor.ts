import type { AlertRecord } from './alert-state.js';
import type { InhibitRule } from './alerts-config.js';
import { compileMatchers, type CompiledMatcher } from './label-matchers.js';

export interface CompiledInhibitRule {
  source: CompiledMatcher;
  target: CompiledMatcher;
  equal: readonly string[];
}

/**
 * The built-in inhibit rules: a critical alert of an agent keeps its warnings quiet, and an
 * agent that is down (an alert labelled `agent_down="true"`: absence rules and the built-in
 * `agent-failed`) keeps its other alerts quiet. Both compare `agentId` only.
 */
export const BUILTIN_INHIBIT_RULES: InhibitRule[] = [
  {
    source_matchers: [{ name: 'severity', value: 'critical', isRegex: false, isEqual: true }],
    target_matchers: [{ name: 'severity', value: 'warning', isRegex: false, isEqual: true }],
    equal: ['agentId'],
  },
  {
    source_matchers: [{ name: 'agent_down', value: 'true', isRegex: false, isEqual: true }],
    target_matchers: [{ name: 'agent_down', value: 'true', isRegex: false, isEqual: false }],
    equal: ['agentId'],
  },
];

export function compileInhibitRules(rules: readonly InhibitRule[]): CompiledInhibitRule[] {
  return rules.map((r) => ({
    source: compileMatchers(r.source_matchers),
    target: compileMatchers(r.target_matchers),
    equal: r.equal,
  }));
}

const equalKey = (labels: Readonly<Record<string, string>>, equal: readonly string[]) =>
  equal.map((k) => labels[k] ?? '').join('\u0000');

/**
 * Which alerts are inhibited, given the firing ones: returns the fingerprint of an inhibiting
 * alert, or undefined. An alert never inhibits itself (Alertmanager's rule).
 */
export function inhibition(
  rules: readonly CompiledInhibitRule[],
  firing: Iterable<AlertRecord>,
): (a: AlertRecord) => string | undefined {
  const sources = rules.map(() => new Map<string, string[]>());
  for (const a of firing) {
    rules.forEach((r, i) => {
      if (!r.source(a.labels)) return;
      const k = equalKey(a.labels, r.equal);
      const list = sources[i]!.get(k);
      if (list) list.push(a.fingerprint);
      else sources[i]!.set(k, [a.fingerprint]);
    });
  }
  return (a) => {
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (!r.target(a.labels)) continue;
      const list = sources[i]!.get(equalKey(a.labels, r.equal));
      const by = list?.find((fp) => fp !== a.fingerprint);
      if (by !== undefined) return by;
    }
    return undefined;
  };
}
