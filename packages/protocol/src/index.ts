export {
  AGENT_ID_PATTERN,
  AGENT_STATUSES,
  AgentIdSchema,
  AgentStatusSchema,
  HEALTHS,
  HealthSchema,
  agentHealth,
  fleetHealth,
  statusHealth,
  worstHealth,
} from './agent.js';
export type { AgentStatus, Health } from './agent.js';
export {
  AckSchema,
  AgentLifecycleDataSchema,
  AgentStatusUpdateDataSchema,
  CORE_EVENT_TYPES,
  ErrorOccurredDataSchema,
  EscalationDataSchema,
  EVENT_TYPES,
  EventInputSchema,
  EventTypeSchema,
  HEALTH_CHECKS,
  PLUGIN_CHECK_PATTERN,
  HealthChangedDataSchema,
  LIFECYCLE_ACTIONS,
  LOG_LEVELS,
  LOG_STREAMS,
  LogDataSchema,
  METRIC_NAME_PATTERN,
  MetricUpdateDataSchema,
  SEVERITIES,
  StoredEventSchema,
  SYSTEM_EVENT_TYPES,
  TaskAssignedDataSchema,
  TaskCompletedDataSchema,
  TaskProgressDataSchema,
  TimestampSchema,
} from './event.js';
export type {
  Ack,
  AgentLifecycleData,
  AgentStatusUpdateData,
  ErrorOccurredData,
  EscalationData,
  EventInput,
  EventType,
  HealthChangedData,
  HealthCheckName,
  LifecycleAction,
  LogData,
  LogLevel,
  MetricUpdateData,
  Severity,
  StoredEvent,
  TaskAssignedData,
  TaskCompletedData,
  TaskProgressData,
  WardenEvent,
} from './event.js';
export { AGENT_ACTIONS, AgentActionSchema, AgentCommandSchema } from './command.js';
export type { AgentAction, AgentCommand } from './command.js';
export { CLIENT_OPS, CLOSE_CODES, ClientFrameSchema } from './frames.js';
export type { ClientFrame, ServerFrame } from './frames.js';
export { DEFAULT_LIMITS } from './limits.js';
export type { ProtocolLimits } from './limits.js';
export { PROBLEM_STATUS, pointerToken, toPointer } from './problem.js';
export type { Problem, ProblemCode, ValidationIssue } from './problem.js';
export {
  CompleteRequestSchema,
  EnqueueRequestSchema,
  FailRequestSchema,
  LeaseRequestSchema,
  MAX_LEASE_MS,
  ProgressRequestSchema,
  QUEUE_NAME_PATTERN,
  QueueNameSchema,
  TASK_STATES,
  TaskStateSchema,
  checkRequest,
} from './queue.js';
export type {
  AgentStateRecord,
  CompleteRequest,
  EnqueueRequest,
  FailRequest,
  LeaseRequest,
  ProgressRequest,
  QueueStats,
  QueueTask,
  TaskState,
} from './queue.js';
export { ANY_AGENT, parseTopic, topicMatches, topicName } from './topics.js';
export type { Topic } from './topics.js';
export { exceedsDepth, utf8Length, validateEvent, validateEventBody } from './validate.js';
export type { EventBodyResult, ValidateOptions } from './validate.js';
export { BytesSchema, DurationSchema, parseBytes, parseDuration } from './duration.js';
export {
  FINGERPRINT_FRAMES,
  fingerprintBasis,
  fingerprintError,
  fnv1a64,
  parameteriseMessage,
  parseStack,
} from './error-fingerprint.js';
export type { FingerprintInput, StackFrame } from './error-fingerprint.js';
export {
  BackoffSchema,
  DEFAULT_BACKOFF,
  DefaultRetrySchema,
  RetryMatchSchema,
  RetryRuleSchema,
  backoffDelay,
  defaultRetryPolicy,
  retryPolicyRecord,
  retryRuleMatches,
  selectRetryPolicy,
} from './retry-policy.js';
export type {
  Backoff,
  RetryPolicy,
  RetryPolicyList,
  RetryPolicyRecord,
  RetryRule,
  RetryRuleInput,
} from './retry-policy.js';
