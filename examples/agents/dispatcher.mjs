// The producer: puts a build into the `builds` queue every 1–2 s ("build #42", now and then a
// hotfix at a higher priority), and holds off while 20 or more are waiting. Its build number is
// saved with saveState, so a restart (of the agent or of Warden) goes on counting.
import { between, chance, pick, sleep, startDemoAgent } from './demo-agent.mjs';

const MAX_WAITING = 20;
const REPOS = ['acme/web', 'acme/api', 'acme/billing', 'acme/mobile'];
const BRANCHES = ['main', 'feat/sso', 'fix/rounding', 'chore/deps', 'feat/export-csv'];

const agent = startDemoAgent();
const { warden, say, warn, report } = agent;

const saved = await warden.loadState().catch((err) => {
  warn(`could not load my state, counting from 1: ${err.message}`);
  return undefined;
});
let next = saved?.next ?? 1;
say(saved ? `resuming at build #${next}` : 'starting at build #1');

/**
 * The `builds` queue's depth, or undefined when this token may not read it: an agent token
 * only publishes and works queues, so the dispatcher then paces itself below what the
 * builders can do instead of watching the queue.
 */
let canRead = true;
async function waiting() {
  if (!canRead) return undefined;
  try {
    const queues = await warden.tasks.queues();
    return queues.find((q) => q.queue === 'builds')?.depth ?? 0;
  } catch (err) {
    if (err.code === 'forbidden') {
      canRead = false;
      say('this agent may not read queue depth; pacing at one build every 2–3.5 s instead');
      return undefined;
    }
    throw err;
  }
}

let holding = false;
report(warden.status('busy', { message: 'dispatching builds' }));
while (!agent.signal.aborted) {
  try {
    const depth = await waiting();
    if (depth !== undefined) report(warden.metrics({ queue_depth: depth }));
    if (depth !== undefined && depth >= MAX_WAITING) {
      if (!holding) {
        say(`${depth} builds waiting: holding off`);
        report(warden.status('idle', { message: `queue full (${depth} waiting)` }));
      }
      holding = true;
      await sleep(2000, agent.signal);
      continue;
    }
    if (holding) report(warden.status('busy', { message: 'dispatching builds' }));
    holding = false;
    const hotfix = chance(0.08);
    const repo = pick(REPOS);
    const name = `build #${next}${hotfix ? ' (hotfix)' : ''}`;
    const task = await warden.tasks.enqueue({
      queue: 'builds',
      name,
      priority: hotfix ? 10 : 0,
      payload: {
        repo,
        branch: hotfix ? 'hotfix/login-loop' : pick(BRANCHES),
        commit: Math.floor(Math.random() * 0xfffffff)
          .toString(16)
          .padStart(7, '0'),
      },
    });
    say(`queued ${name} for ${repo} (task ${task.id})`);
    next++;
    // Awaited: saves one at a time, so the last one written is the newest.
    await warden.saveState({ next });
    report(warden.metrics({ builds_dispatched: next - 1 }));
    await sleep(depth === undefined ? between(2000, 3500) : between(1000, 2000), agent.signal);
  } catch (err) {
    if (agent.signal.aborted) break;
    warn(`could not queue a build: ${err.code ?? 'error'}: ${err.message}; retrying in 5 s`);
    await sleep(5000, agent.signal);
  }
}
