/**
 * `@warden/server/config`: the config, the token service and the signing secret without the
 * hub. What every CLI command but `warden serve` needs from the server package; importing
 * the package root loads the whole hub (HTTP server, stores, drivers), which for a
 * long-running `warden supervise` doubled its heap and resident memory.
 */
export { loadConfig, parseConfig, WardenConfigSchema } from './config.js';
export type { ConfigFlags, ResolvedConfig, WardenConfig } from './config.js';
export { parseDuration } from '@warden/protocol';
export { ConfigError, WardenError } from './errors.js';
export { ROLES, RoleSchema } from './roles.js';
export type { Principal, Role } from './roles.js';
export { ensureSecret } from './secret.js';
export { TokenService } from './token-service.js';
export { VERSION } from './version.js';
