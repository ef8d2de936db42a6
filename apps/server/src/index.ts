export { buildApp } from './app.js';
export type { WardenApp } from './app.js';
export { LocalBus } from './bus.js';
export type { Bus, BusMessage } from './bus.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
// The config, tokens, secret and version: also `@warden/server/config`, without the hub.
export * from './config-entry.js';
export { CommandRouter } from './command-router.js';
export type { CommandDelivery, CommandPeer } from './command-router.js';
export type { HubFeature } from './hub-feature.js';
export type { HubFeatures } from './features.js';
export { HubMetrics } from './hub-metrics.js';
export { Ingestor } from './ingestor.js';
export type { CommitObserver } from './ingestor.js';
export { QueueConfigSchema } from './queue-config.js';
export type { QueueConfig } from './queue-config.js';
export { QueueLeaseJob } from './queue-lease-job.js';
export { QueueMetrics } from './queue-metrics.js';
export type { QueueOutcome } from './queue-metrics.js';
export { RedisStreamBus } from './redis-stream-bus.js';
export type { RedisStreamBusOptions } from './redis-stream-bus.js';
export { RetentionJob } from './retention.js';
export type { AgentStateStore } from './store/agent-state-store.js';
export type { EventStore } from './store/event-store.js';
export { PgEventStore } from './store/pg-event-store.js';
export { PgTaskQueueStore } from './store/pg-task-queue-store.js';
export { SqlAgentStateStore } from './store/sql-agent-state-store.js';
export { SqliteEventStore } from './store/sqlite-event-store.js';
export { SqliteTaskQueueStore } from './store/sqlite-task-queue-store.js';
export type {
  LostLease,
  NewQueueTask,
  ReportResult,
  TaskQueueStore,
} from './store/task-queue-store.js';
export { TaskQueue } from './task-queue.js';
export type { EventSink, QueueOverview, TaskQueueOptions } from './task-queue.js';
export { agentFailureReason, releaseTasksOnAgentFailure } from './task-queue-release.js';
export { TaskQueueRuntime, openTaskQueueStore } from './task-queue-runtime.js';
export type { TaskQueueRuntimeOptions } from './task-queue-runtime.js';
export { createWarden, limitsFromConfig, openStore } from './warden.js';
export type { Warden, WardenOptions } from './warden.js';
