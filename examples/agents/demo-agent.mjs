// What every demo agent shares: the SDK connection, output lines, pauses that end at shutdown,
// and a graceful exit on SIGTERM (the supervisor's stop), so each agent file is only its story.
import { connect } from '@warden/sdk';

/** A number in [lo, hi). */
export const between = (lo, hi) => lo + Math.random() * (hi - lo);

/** True with probability `p`. */
export const chance = (p) => Math.random() < p;

/** One element of `list`, at random. */
export const pick = (list) => list[Math.floor(Math.random() * list.length)];

/** `ms` as seconds with one decimal, for log lines. */
export const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;

/**
 * Waits `ms` (forever when Infinity); resolves false as soon as any of `signals` aborts, true
 * when the time is up. Timers only: the demo fleet costs no CPU while it waits.
 */
export function sleep(ms, ...signals) {
  return new Promise((resolve) => {
    const live = signals.filter(Boolean);
    if (live.some((s) => s.aborted)) return resolve(false);
    let timer;
    const end = (finished) => {
      clearTimeout(timer);
      for (const s of live) s.removeEventListener('abort', onAbort);
      resolve(finished);
    };
    const onAbort = () => end(false);
    for (const s of live) s.addEventListener('abort', onAbort, { once: true });
    if (Number.isFinite(ms)) timer = setTimeout(() => end(true), ms);
  });
}

/**
 * Connects to Warden as the supervised agent (WARDEN_URL, WARDEN_TOKEN and WARDEN_AGENT_ID come
 * from the supervisor) and installs the shutdown: on SIGTERM or SIGINT, `signal` aborts,
 * `onStop` runs, the SDK flushes what is queued (its work loops hand their tasks back), and the
 * process exits 0 — within 5 s whatever happens, well inside the supervisor's kill_timeout.
 *
 * @param {{ onStop?: () => unknown }} [options]
 */
export function startDemoAgent(options = {}) {
  if (!process.env.WARDEN_URL) {
    process.stderr.write(
      'This is a demo agent: run it under Warden (`npm start`), which sets WARDEN_URL, ' +
        'WARDEN_TOKEN and WARDEN_AGENT_ID.\n',
    );
    process.exit(64);
  }
  const warden = connect();
  const stopping = new AbortController();
  /** One line on stdout: the supervisor turns it into a `log` event (info). */
  const say = (line) => process.stdout.write(`${line}\n`);
  /** One line on stderr (a `log` event at warn). */
  const warn = (line) => process.stderr.write(`${line}\n`);

  // Connection trouble repeats at every retry: say it once until it changes.
  let lastProblem = '';
  warden.on('error', (err) => {
    const text = `warden connection: ${err.code ?? 'error'}: ${err.message}`;
    if (text !== lastProblem) warn(text);
    lastProblem = text;
  });
  warden.on('connected', () => (lastProblem = ''));

  let exiting = false;
  const shutdown = async (signal) => {
    if (exiting) return;
    exiting = true;
    say(`${signal} received: finishing up`);
    stopping.abort(new Error(`${signal}: agent shutting down`));
    setTimeout(() => process.exit(0), 5000).unref();
    try {
      await options.onStop?.();
    } catch (err) {
      warn(`while stopping: ${err.message}`);
    }
    await warden.close({ timeoutMs: 3000 }).catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  return {
    warden,
    id: warden.agentId,
    /** Aborted once the agent is stopping. */
    signal: stopping.signal,
    say,
    warn,
    /** Fire-and-forget report: a refused one is said on stderr, never thrown. */
    report: (promise) =>
      promise.catch((err) => {
        if (err.code !== 'closed') warn(`report refused: ${err.code ?? ''} ${err.message}`);
      }),
  };
}
