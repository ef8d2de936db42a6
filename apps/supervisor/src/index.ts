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
export { AgentLogFile } from './agent-log-file.js';
export { LogFilesConfigSchema } from './agent-log-file-config.js';
export type { AgentLogFileOptions, LogFilesConfig } from './agent-log-file-config.js';
export type { FleetCgroupSetting } from './fleet-cgroup.js';
export { startHubSupervisor } from './hub-supervisor.js';
export type { HubSupervisor, HubSupervisorOptions } from './hub-supervisor.js';
export { Supervisor } from './supervisor.js';
export type { AgentCommand, ReloadResult, SupervisorOptions } from './supervisor.js';
export { MemoryReporter, silentLog } from './supervisor-reporter.js';
export type { SupervisorLog, SupervisorReporter } from './supervisor-reporter.js';
export type { AgentSummary } from './process-agent.js';
export { PLUGIN_NAME_PATTERN } from './plugin-api.js';
export type {
  AgentFacts,
  HealthCheckPlugin,
  NotifierPlugin,
  PluginAgent,
  PluginCheckVerdict,
  PluginContext,
  PluginHealthCheck,
  PluginLogger,
  PluginNotice,
  StrategyPlugin,
  WardenPlugin,
} from './plugin-api.js';
export { PluginsConfigSchema, loadPlugins } from './plugin-loader.js';
export type { LoadPluginsResult, PluginsConfig } from './plugin-loader.js';
export { PluginHost } from './plugin-host.js';
export type { PluginProblem } from './plugin-host.js';
export { installPluginCrashGuard } from './plugin-crash-guard.js';
export type { MonitoringStrategy, MonitorTarget } from './monitoring-strategy.js';
export { systemClock } from './clock.js';
export type { Clock, Random } from './clock.js';
