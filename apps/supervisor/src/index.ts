export const SUPERVISOR_VERSION = '0.1.0';
export {
  AgentConfigSchema,
  AgentsConfigSchema,
  MonitoringConfigSchema,
  SupervisorConfigSchema,
  resolveAgents,
} from './supervisor-config.js';
export type {
  AgentConfig,
  MonitoringConfig,
  ResolvedAgentConfig,
  ResolvedProcessAgentConfig,
  ResolvedTmuxAgentConfig,
  SupervisorConfig,
} from './supervisor-config.js';
export { startHubSupervisor } from './hub-supervisor.js';
export type { HubSupervisor, HubSupervisorOptions } from './hub-supervisor.js';
export { Supervisor } from './supervisor.js';
export type { AgentCommand, ReloadResult, SupervisorOptions } from './supervisor.js';
export { MemoryReporter, silentLog } from './supervisor-reporter.js';
export type { SupervisorLog, SupervisorReporter } from './supervisor-reporter.js';
export type { AgentSummary } from './process-agent.js';
