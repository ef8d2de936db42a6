export { Backoff } from './backoff.js';
export type { ReconnectOptions } from './backoff.js';
export { WardenClient, connect } from './client.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export type {
  ClientEvents,
  ClientStats,
  CommandHandler,
  ConnectOptions,
  EventHandler,
  ReportOptions,
  WebSocketFactory,
  WebSocketLike,
} from './client.js';
export { OutboxFullError, WardenSdkError } from './errors.js';
export type { SdkErrorCode } from './errors.js';
export { newEventId } from './event-id.js';
export type { Spool } from './spool.js';
export { AgentStateClient } from './agent-state.js';
export { TaskQueueClient } from './task-queue-client.js';
export type { TaskContext, TaskHandler, TaskWorker, WorkOptions } from './task-queue-client.js';
export { TaskQueueHttp, WardenHttpError } from './task-queue-http.js';
export type { FetchLike, HttpOptions } from './task-queue-http.js';
export { RetryPolicyClient, fingerprintInput } from './retry-policy-client.js';
export type { RetryableError, RetryPolicyOptions } from './retry-policy-client.js';
export type { Backoff as RetryBackoff, RetryPolicy, RetryPolicyList } from '@warden/protocol';
