// A build worker (builder-1, builder-2, builder-3): takes tasks from the `builds` queue with
// leases, reports each step as task progress, finishes most builds in 2–8 s, fails about one
// in ten with a real error (reported with its stack; the task goes back to the queue for a
// retry), and now and then hangs on a lock, so Warden's stale-task check can catch it and
// restart the agent. A quarter of the good builds are handed on to the `reviews` queue.
import { between, chance, pick, secs, sleep, startDemoAgent } from './demo-agent.mjs';

const FAIL_RATE = Number(process.env.BUILD_FAIL_RATE ?? 0.1);
const HANG_RATE = Number(process.env.BUILD_HANG_RATE ?? 0.01);
const REVIEW_RATE = 0.25;
const STEPS = ['resolving dependencies', 'compiling', 'running tests', 'packaging'];

class BuildError extends Error {
  name = 'BuildError';
}

// What goes wrong in real builds, raised from the step it belongs to (so the stack says where).
function compile(task) {
  throw new BuildError(
    `TS2322: Type 'string | undefined' is not assignable to type 'string' (src/${pick(['auth/session.ts', 'billing/invoice.ts', 'api/routes.ts'])}:${Math.floor(between(10, 400))}:7) in ${task.name}`,
  );
}
function runTests(task) {
  const failed = Math.floor(between(1, 6));
  throw new BuildError(
    `${failed} of 412 tests failed in ${task.name}: ${pick(['auth › refresh token expires', 'invoice › rounds VAT per line', 'routes › rejects an unknown tenant'])}`,
  );
}
function resolveDependencies() {
  const err = new Error(
    'request to https://registry.npmjs.org/left-pad failed, reason: socket hang up',
  );
  err.name = 'FetchError';
  err.code = 'ECONNRESET';
  throw err;
}
function pack() {
  const err = new Error("ENOSPC: no space left on device, write '/tmp/artifacts/bundle.tgz'");
  err.code = 'ENOSPC';
  throw err;
}
const FAULTS = {
  'resolving dependencies': resolveDependencies,
  compiling: compile,
  'running tests': runTests,
  packaging: pack,
};

const agent = startDemoAgent();
const { warden, say, report } = agent;
const totals = { completed: 0, failed: 0, costUsd: 0 };
let idleTimer;

report(warden.status('idle', { message: 'waiting for builds' }));

warden.tasks.work(
  'builds',
  async (task, ctx) => {
    clearTimeout(idleTimer);
    const stop = AbortSignal.any([ctx.signal, agent.signal]);
    const { repo = 'acme/web', commit = '0000000' } = task.payload ?? {};
    const waited = (task.leasedAt ?? Date.now()) - task.createdAt;
    const retry = task.attempts > 0 ? `, attempt ${task.attempts + 1}` : '';
    say(`${task.name}: started (${repo}@${commit}, queued ${secs(waited)} ago${retry})`);
    report(warden.status('busy', { message: `${task.name} (${repo})` }));
    const started = Date.now();
    const stepMs = between(2000, 8000) / STEPS.length;
    const failAt = chance(FAIL_RATE) ? pick(STEPS) : undefined;
    const hangAt = failAt === undefined && chance(HANG_RATE) ? 'running tests' : undefined;
    let current = STEPS[0];
    try {
      for (const [i, step] of STEPS.entries()) {
        current = step;
        await ctx.progress({ percent: Math.round((i / STEPS.length) * 100), message: step });
        if (step === hangAt) {
          // A deadlock: no progress any more. Warden's stale_task_threshold notices, and
          // on_hung: restart stops this agent; the lease goes back to the queue.
          say(`${task.name}: waiting for the test database lock…`);
          await sleep(Infinity, stop);
        } else {
          await sleep(stepMs * between(0.6, 1.4), stop);
        }
        // Stopping, or the lease was lost: hand the task back for someone else.
        if (stop.aborted) {
          throw new BuildError(`${task.name} interrupted: ${stop.reason?.message ?? 'stopped'}`);
        }
        if (step === failAt) FAULTS[step](task);
      }
    } catch (err) {
      if (!stop.aborted) {
        totals.failed++;
        agent.warn(`${task.name}: FAILED at ${current}: ${err.message}`);
        report(warden.error(err, { taskId: task.id, fingerprint: `build:${current}:${err.name}` }));
        report(warden.metrics({ tasks_failed: totals.failed }));
      }
      throw err; // work() fails the attempt with retry: the task returns to the queue
    } finally {
      // Idle only if no next task follows at once: a busy queue does not flicker.
      if (!agent.signal.aborted) {
        idleTimer = setTimeout(
          () => report(warden.status('idle', { message: 'waiting for builds' })),
          750,
        );
      }
    }
    const durationMs = Date.now() - started;
    const tokens = Math.round(between(800, 6000));
    const costUsd = Math.round(tokens * 0.000015 * 10000) / 10000;
    totals.completed++;
    totals.costUsd += costUsd;
    say(`${task.name}: ok in ${secs(durationMs)} (${tokens} tokens, $${costUsd.toFixed(4)})`);
    report(
      warden.metrics({
        tokens,
        cost_usd: costUsd,
        cost_usd_total: Math.round(totals.costUsd * 10000) / 10000,
        queue_wait_ms: waited,
        tasks_completed: totals.completed,
      }),
    );
    if (chance(REVIEW_RATE)) {
      warden.tasks
        .enqueue({
          queue: 'reviews',
          name: `review ${task.name}`,
          payload: { repo, commit, build: task.id },
        })
        .then(() => say(`${task.name}: handed to review`))
        .catch((err) => agent.warn(`could not queue the review of ${task.name}: ${err.message}`));
    }
    return { artifact: `${repo.replace('/', '-')}-${commit}.tgz`, durationMs, tokens };
  },
  {
    leaseMs: 20_000,
    pollMs: 1000,
    onError: (err) => {
      if (!agent.signal.aborted) agent.warn(`queue: ${err.code ?? 'error'}: ${err.message}`);
    },
  },
);
say(`${agent.id}: working the builds queue`);
