// A training job that crashes now and then (a CUDA error after a random 20–90 s, exit 1). It
// saves its step with saveState after every step, so when the supervisor restarts it, it
// loads the state, prints "resuming at N" and carries on from there instead of from step 0.
import { between, sleep, startDemoAgent } from './demo-agent.mjs';

const TOTAL_STEPS = 5000;

const agent = startDemoAgent();
const { warden, say, report } = agent;

// The crash is a real uncaught exception: reported with its stack, then exit 1.
process.on('uncaughtException', async (err) => {
  agent.warn(err.stack ?? String(err));
  await warden.error(err, { fatal: true }).catch(() => undefined);
  await warden.close({ timeoutMs: 2000 }).catch(() => undefined);
  process.exit(1);
});

const saved = await warden.loadState().catch((err) => {
  agent.warn(`could not load my state, starting over: ${err.message}`);
  return undefined;
});
const state = { run: 1, step: 0, ...saved, starts: (saved?.starts ?? 0) + 1 };
say(saved ? `resuming at ${state.step}` : `starting run ${state.run} at step 0`);
const taskId = () => `train-run-${state.run}`;
if (state.step === 0) report(warden.taskAssigned(taskId(), { name: `train run ${state.run}` }));
report(warden.status('busy', { message: `training run ${state.run}, step ${state.step}` }));

function allReduceGradients(step) {
  throw new Error(
    `CUDA error: an illegal memory access was encountered (all_reduce at step ${step}, rank ${Math.floor(between(0, 8))})`,
  );
}

const crashAt = Date.now() + between(20_000, 90_000);
while (!agent.signal.aborted) {
  await sleep(1000, agent.signal);
  if (agent.signal.aborted) break;
  if (Date.now() >= crashAt) {
    // Thrown from a timer, outside any try: what a real crash looks like.
    setTimeout(() => allReduceGradients(state.step + 1));
    break;
  }
  state.step++;
  const loss = 2.5 * Math.exp(-state.step / 1500) + 0.1 + Math.random() * 0.02;
  await warden.saveState(state).catch((err) => agent.warn(`state not saved: ${err.message}`));
  if (state.step % 5 === 0) {
    report(warden.metrics({ step: state.step, loss: Math.round(loss * 1000) / 1000 }));
    report(
      warden.taskProgress(taskId(), {
        percent: Math.round((state.step / TOTAL_STEPS) * 1000) / 10,
        message: `step ${state.step}, loss ${loss.toFixed(3)}`,
      }),
    );
  }
  if (state.step % 10 === 0) say(`run ${state.run} step ${state.step}: loss ${loss.toFixed(3)}`);
  if (state.step >= TOTAL_STEPS) {
    report(warden.taskCompleted(taskId(), { success: true, result: { loss } }));
    say(`run ${state.run} finished; starting run ${state.run + 1}`);
    Object.assign(state, { run: state.run + 1, step: 0 });
    report(warden.taskAssigned(taskId(), { name: `train run ${state.run}` }));
  }
}
