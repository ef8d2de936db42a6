import type { ProtocolLimits } from '@warden/protocol';
import type { Bus } from './bus.js';
import type { Clock } from './clock.js';
import type { HubFeatures } from './features.js';
import type { ResolvedConfig } from './config.js';
import type { HubMetrics } from './hub-metrics.js';
import type { Ingestor } from './ingestor.js';
import type { RateMeter } from './rate-meter.js';
import type { AgentStateStore } from './store/agent-state-store.js';
import type { EventStore } from './store/event-store.js';
import type { TaskQueue } from './task-queue.js';
import type { TokenService } from './token-service.js';
import type { WsHub } from './ws-hub.js';

/** Everything a route needs, built once by `createWarden`. */
export interface HubContext {
  config: ResolvedConfig;
  limits: ProtocolLimits;
  clock: Clock;
  store: EventStore;
  bus: Bus;
  ingestor: Ingestor;
  metrics: HubMetrics;
  tokens: TokenService;
  hub: WsHub;
  rate: RateMeter;
  /** Last heartbeat per agent (heartbeats are not stored). */
  heartbeats: Map<string, number>;
  startedAt: number;
  /** The task queue of SPEC §12 (leases, retries, release of a failed agent's tasks). */
  queue: TaskQueue;
  /** What agents saved to resume from (SDK saveState/loadState). */
  agentStates: AgentStateStore;
  /** Metrics history, alerts, error groups, logs (see features.ts). */
  features: HubFeatures;
}
