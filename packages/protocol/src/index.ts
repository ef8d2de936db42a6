export {
  AGENT_ID_PATTERN,
  AGENT_STATUSES,
  AgentIdSchema,
  AgentStatusSchema,
  HEALTHS,
  HealthSchema,
  fleetHealth,
  statusHealth,
  worstHealth,
} from './agent.js';
export type { AgentStatus, Health } from './agent.js';
export {
  AckSchema,
  AgentStatusUpdateDataSchema,
  ErrorOccurredDataSchema,
  EVENT_TYPES,
  EventInputSchema,
  EventTypeSchema,
  METRIC_NAME_PATTERN,
  MetricUpdateDataSchema,
  StoredEventSchema,
  TaskAssignedDataSchema,
  TaskCompletedDataSchema,
  TimestampSchema,
} from './event.js';
export type {
  Ack,
  AgentStatusUpdateData,
  ErrorOccurredData,
  EventInput,
  EventType,
  MetricUpdateData,
  StoredEvent,
  TaskAssignedData,
  TaskCompletedData,
  WardenEvent,
} from './event.js';
export { CLIENT_OPS, CLOSE_CODES, ClientFrameSchema } from './frames.js';
export type { ClientFrame, ServerFrame } from './frames.js';
export { DEFAULT_LIMITS } from './limits.js';
export type { ProtocolLimits } from './limits.js';
export { PROBLEM_STATUS, pointerToken, toPointer } from './problem.js';
export type { Problem, ProblemCode, ValidationIssue } from './problem.js';
export { parseTopic, topicMatches, topicName } from './topics.js';
export type { Topic } from './topics.js';
export { exceedsDepth, utf8Length, validateEvent, validateEventBody } from './validate.js';
export type { EventBodyResult, ValidateOptions } from './validate.js';
export { BytesSchema, DurationSchema, parseBytes, parseDuration } from './duration.js';
