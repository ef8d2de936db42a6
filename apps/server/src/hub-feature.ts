import type { WardenApp } from './app.js';

/**
 * One part of the hub built on the event log (metrics history, alerts, error groups, logs).
 * `createWarden` builds each once with the hub's context, registers its routes inside
 * `buildApp` (after the auth hook, so every route is checked), starts it once the hub
 * listens, runs its share of the retention job, and closes it before the event store, in
 * the reverse order of creation.
 *
 * A feature learns of committed events from `ctx.bus.subscribe` (every event, on every
 * replica) or `ctx.ingestor.observe` (only what this process committed: for counts that
 * several replicas must not add twice).
 */
export interface HubFeature {
  readonly name: string;
  /** Adds the feature's routes; runs once, inside `buildApp`. */
  registerRoutes?(app: WardenApp): void;
  /** Starts timers and background work; runs once the hub listens. */
  start?(): void | Promise<void>;
  /**
   * The feature's retention pass (SPEC §7), run by the retention job after the event log's.
   * Returns what it deleted, by kind, for the job's log line.
   */
  retain?(now: number): Promise<Record<string, number>>;
  /** Stops timers, flushes what it holds and closes its connections. */
  close?(): Promise<void>;
}
