import { describe, expect, it } from 'vitest';
import { selectRetryPolicy, type RetryPolicyList } from '@warden/protocol';
import { ErrorRetryGuard, errorFromStderr } from './error-retry-guard.js';

const list: RetryPolicyList = {
  policies: [
    {
      id: 'p-net',
      source: 'api',
      match: { message: 'ECONNREFUSED' },
      retry: true,
      maxAttempts: 2,
      backoff: { initialMs: 1, multiplier: 1, maxMs: 1 },
      escalate: true,
    },
  ],
  default: {
    retry: true,
    maxAttempts: null,
    backoff: { initialMs: 1, multiplier: 1, maxMs: 1 },
    escalate: false,
  },
};
const source = {
  cachedPolicyFor: (e: Parameters<typeof selectRetryPolicy>[1]) => selectRetryPolicy(list, e),
  policies: async () => list,
};

describe('errorFromStderr', () => {
  it('reads a Node uncaught exception', () => {
    const e = errorFromStderr([
      'file:///app/agent.mjs:9',
      '  throw err;',
      '  ^',
      '',
      'Error [ERR_SOCKET]: connect ECONNREFUSED 127.0.0.1:80',
      '    at main (file:///app/agent.mjs:9:3)',
      '    at file:///app/agent.mjs:12:1',
      '',
      'Node.js v20.11.0',
    ]);
    expect(e).toMatchObject({ errorType: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:80' });
    expect(e!.stack!.split('\n')).toHaveLength(3);
  });

  it('reads the last Python traceback', () => {
    const e = errorFromStderr([
      'Traceback (most recent call last):',
      '  File "/app/main.py", line 3, in <module>',
      '    run()',
      'ValueError: bad input: 42',
    ]);
    expect(e).toMatchObject({ errorType: 'ValueError', message: 'bad input: 42' });
    expect(e!.stack).toContain('File "/app/main.py"');
  });

  it('finds nothing in ordinary output', () => {
    expect(errorFromStderr(['warning: low disk', 'note: retrying'])).toBeUndefined();
  });
});

describe('ErrorRetryGuard', () => {
  it('prefers the fatal error reported during the run, and counts runs per pattern within a streak', () => {
    let now = 100;
    const g = new ErrorRetryGuard(source, () => now);
    g.observe({
      agentId: 'a',
      type: 'error_occurred',
      data: { errorType: 'Error', message: 'connect ECONNREFUSED', fatal: true },
    });
    const run = { agentId: 'a', startedAt: 50, attempt: 1, stderrTail: [] };
    expect(g.verdict(run)).toMatchObject({ stop: false, escalate: true, policyId: 'p-net' });
    expect(g.verdict({ ...run, attempt: 2 })).toMatchObject({ stop: true, policyId: 'p-net' });
    // A new streak (the backoff was reset) counts from one again.
    expect(g.verdict({ ...run, attempt: 1 })).toMatchObject({ stop: false });
    // An error reported before this run began is not blamed for it.
    now = 200;
    expect(g.verdict({ ...run, startedAt: 150 })).toBeUndefined();
  });

  it('has no say when only the default policy matches, or an error is not fatal', () => {
    const g = new ErrorRetryGuard(source, () => 0);
    g.observe({
      agentId: 'a',
      type: 'error_occurred',
      data: { errorType: 'TypeError', message: 'x', fatal: true },
    });
    expect(g.verdict({ agentId: 'a', startedAt: 0, attempt: 1, stderrTail: [] })).toBeUndefined();
    g.observe({
      agentId: 'b',
      type: 'error_occurred',
      data: { errorType: 'Error', message: 'ECONNREFUSED' },
    });
    expect(g.verdict({ agentId: 'b', startedAt: 0, attempt: 1, stderrTail: [] })).toBeUndefined();
  });
});
