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
