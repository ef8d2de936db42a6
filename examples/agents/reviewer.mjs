// A slower worker on the `reviews` queue (fed by the builders): 5–12 s per review, approving
// most and asking for changes on some. Now and then its model provider answers 429: the agent
// says `rate_limited` (a yellow agent in Warden) and waits it out, keeping its lease alive.
import { between, chance, pick, secs, sleep, startDemoAgent } from './demo-agent.mjs';

const RATE_LIMIT_RATE = 0.05;
const STEPS = ['reading the diff', 'checking test coverage', 'writing comments'];

const agent = startDemoAgent();
const { warden, say, report } = agent;
let reviewed = 0;
let idleTimer;

report(warden.status('idle', { message: 'waiting for reviews' }));

warden.tasks.work(
  'reviews',
  async (task, ctx) => {
    clearTimeout(idleTimer);
    const stop = AbortSignal.any([ctx.signal, agent.signal]);
    const interrupted = () =>
      new Error(`${task.name} interrupted: ${stop.reason?.message ?? 'stopped'}`);
    report(warden.status('busy', { message: task.name }));
    say(`${task.name}: started`);
    const started = Date.now();
    const stepMs = between(5000, 12_000) / STEPS.length;
    try {
      for (const [i, step] of STEPS.entries()) {
        await ctx.progress({ percent: Math.round((i / STEPS.length) * 100), message: step });
        if (chance(RATE_LIMIT_RATE)) {
          const waitS = Math.round(between(15, 30));
          say(`${task.name}: provider said 429 Too Many Requests; waiting ${waitS} s`);
          report(
            warden.status('rate_limited', {
              message: `model provider rate limit, retry in ${waitS} s`,
            }),
          );
          // Progress while waiting keeps the lease (and the stale-task clock) alive.
          for (let left = waitS; left > 0 && !stop.aborted; left -= 5) {
            await ctx.progress({ message: `rate limited, retrying in ${left} s` });
            await sleep(Math.min(5, left) * 1000, stop);
          }
          report(warden.status('busy', { message: task.name }));
        }
        await sleep(stepMs * between(0.7, 1.3), stop);
        if (stop.aborted) throw interrupted();
      }
    } finally {
      if (!agent.signal.aborted) {
        idleTimer = setTimeout(
          () => report(warden.status('idle', { message: 'waiting for reviews' })),
          750,
        );
      }
    }
    reviewed++;
    const verdict = chance(0.75) ? 'approved' : 'changes_requested';
    const comments = verdict === 'approved' ? Math.floor(between(0, 3)) : Math.floor(between(2, 9));
    const tokens = Math.round(between(3000, 15_000));
    say(`${task.name}: ${verdict} with ${comments} comments in ${secs(Date.now() - started)}`);
    report(
      warden.metrics({
        tokens,
        cost_usd: Math.round(tokens * 0.000015 * 10000) / 10000,
        reviews_done: reviewed,
      }),
    );
    return {
      verdict,
      comments,
      summary: pick(['looks good', 'needs tests', 'naming nits', 'split this PR']),
    };
  },
  {
    leaseMs: 30_000,
    pollMs: 2000,
    onError: (err) => {
      if (!agent.signal.aborted) agent.warn(`queue: ${err.code ?? 'error'}: ${err.message}`);
    },
  },
);
say(`${agent.id}: working the reviews queue`);
