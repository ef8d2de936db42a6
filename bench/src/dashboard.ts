/**
 * `npm run bench:dashboard` — the dashboard's quality targets (issue 6 point 5) in Debian's
 * Chromium driven by playwright-core, against `warden serve` in its own process:
 *
 * - the agents table filled in under 1 s from navigation, with 200 agents and 100,000 stored
 *   events: timed from the click on "Agents" (in-app) and from a reload (a fresh page load:
 *   HTML, script, sign-in check, API call, render), beside the bare `GET /api/v1/agents` the
 *   table is made from, so a reader sees what the page adds;
 * - a live event shown within 500 ms of its ack: from the moment `POST /api/v1/events`
 *   answers to the moment the event's row is in the page's DOM (a MutationObserver stamps it).
 *
 * Flags (env): DASH_AGENTS (200), DASH_EVENTS (100000), DASH_RUNS (10), DASH_LIVE (100).
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import {
  LatencyHistogram,
  fmt,
  installCleanup,
  latencyLine,
  machineLine,
  startWarden,
  wardenLine,
} from './bench-support.js';
import { seedFleet } from './fleet-seed.js';

const AGENTS = Number(process.env.DASH_AGENTS ?? 200);
const EVENTS = Number(process.env.DASH_EVENTS ?? 100_000);
const RUNS = Number(process.env.DASH_RUNS ?? 10);
const LIVE = Number(process.env.DASH_LIVE ?? 100);
const CHROMIUM = process.env.WARDEN_CHROMIUM ?? '/usr/bin/chromium';
const TABLE_TARGET_MS = 1000;
const LIVE_TARGET_MS = 500;

/** The little of the page's globals the probes use. */
interface PageGlobals {
  document: {
    body: unknown;
    querySelectorAll(
      sel: string,
    ): ArrayLike<unknown> & Iterable<{ getAttribute(n: string): string | null }>;
  };
  MutationObserver: new (cb: () => void) => {
    observe(n: unknown, o: Record<string, boolean>): void;
  };
  seenAt: Record<string, number>;
}

const verdict = (ok: boolean) => (ok ? 'MET' : 'NOT MET');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  installCleanup();
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium`);
  console.log(machineLine());
  console.log(wardenLine());
  const w = await startWarden();
  const sup = w.token('agent', '*');
  const admin = w.token('admin');
  const post = (path: string, body: unknown, token = sup) =>
    fetch(w.url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  process.stdout.write(`seeding ${fmt(AGENTS)} agents, ${fmt(EVENTS)} events…`);
  await seedFleet({ url: w.url, token: sup, agents: AGENTS, events: EVENTS, prefix: 'agent-' });
  console.log(' done');

  // The bare API call the table is made from.
  const api: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const r = await fetch(`${w.url}/api/v1/agents`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    await r.json();
    api.push(performance.now() - t);
  }

  const session = (await (await post('/api/v1/auth/sessions', { token: admin }, '')).json()) as {
    token: string;
    session: { id: string; sub: string; role: string; expiresAt: number };
  };
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  // Playwright's polling predicates are compiled in the page, which the dashboard's CSP forbids.
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
  // Page code is passed as text: this package is typechecked without the DOM's types.
  const stored = JSON.stringify({
    token: session.token,
    role: session.session.role,
    sub: session.session.sub,
    expiresAt: session.session.expiresAt,
    sessionId: session.session.id,
  });
  await ctx.addInitScript({
    content: `localStorage.setItem('warden.session', ${JSON.stringify(stored)});`,
  });
  const page = await ctx.newPage();
  const filled = (n: number) =>
    page.waitForFunction(
      `document.querySelectorAll('[data-testid=agents-table] tbody tr').length >= ${n}`,
      undefined,
      {
        polling: 'raf',
      },
    );

  const inApp: number[] = [];
  const reload: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await page.goto(`${w.url}/`);
    await page.getByRole('heading', { name: /Overview/ }).waitFor();
    const t = performance.now();
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Agents' })
      .click();
    await filled(AGENTS);
    inApp.push(performance.now() - t);
    const t2 = performance.now();
    await page.reload();
    await filled(AGENTS);
    reload.push(performance.now() - t2);
  }

  await page.goto(`${w.url}/`);
  await page.getByTestId('live-state').filter({ hasText: 'live' }).waitFor();
  await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    g.seenAt = {};
    new g.MutationObserver(() => {
      for (const li of g.document.querySelectorAll('[data-event-id]'))
        g.seenAt[li.getAttribute('data-event-id')!] ??= Date.now();
    }).observe(g.document.body, { subtree: true, childList: true });
  });
  const live = new LatencyHistogram();
  for (let i = 0; i < LIVE; i++) {
    const id = `live-${i}`;
    const r = await post('/api/v1/events', {
      id,
      type: 'agent_status_update',
      agentId: 'agent-000',
      data: { status: 'busy', message: `probe ${i}` },
    });
    const ackedAt = Date.now();
    if (r.status !== 200) throw new Error(`publish failed: ${r.status}`);
    await page.waitForSelector(`[data-event-id="${id}"]`, { state: 'attached' });
    const seen = (await page.evaluate(`window.seenAt[${JSON.stringify(id)}]`)) as
      number | undefined;
    live.record(Math.max(0, (seen ?? Date.now()) - ackedAt));
    await new Promise((res) => setTimeout(res, 50));
  }
  await browser.close();
  await w.stop();

  const l = live.summary();
  console.log('');
  console.log(`agents table (${fmt(AGENTS)} agents, ${fmt(EVENTS)} events), ${RUNS} runs each:`);
  console.log(
    `  GET /api/v1/agents alone        median ${fmt(median(api), 1)} ms, max ${fmt(Math.max(...api), 1)} ms`,
  );
  console.log(
    `  filled after a click ("Agents") median ${fmt(median(inApp), 1)} ms, max ${fmt(Math.max(...inApp), 1)} ms — ${fmt(median(inApp) / TABLE_TARGET_MS, 2)}× the 1 s target: ${verdict(Math.max(...inApp) < TABLE_TARGET_MS)}`,
  );
  console.log(
    `  filled after a reload           median ${fmt(median(reload), 1)} ms, max ${fmt(Math.max(...reload), 1)} ms — ${fmt(median(reload) / TABLE_TARGET_MS, 2)}× the 1 s target: ${verdict(Math.max(...reload) < TABLE_TARGET_MS)}`,
  );
  console.log(
    `live event, ack → in the page: ${latencyLine(l)} — p99 ${fmt(l.p99 / LIVE_TARGET_MS, 2)}× the 500 ms target: ${verdict(l.max < LIVE_TARGET_MS)}`,
  );
  console.log(
    JSON.stringify({
      bench: 'dashboard',
      agents: AGENTS,
      events: EVENTS,
      apiMedianMs: median(api),
      tableClickMedianMs: median(inApp),
      tableClickMaxMs: Math.max(...inApp),
      tableReloadMedianMs: median(reload),
      tableReloadMaxMs: Math.max(...reload),
      liveP50Ms: l.p50,
      liveP99Ms: l.p99,
      liveMaxMs: l.max,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
