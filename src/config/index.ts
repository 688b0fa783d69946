/**
 * Herald's configuration: one schema, loaded from YAML + `HERALD_*` environment variables,
 * validated at start and frozen. See docs/configuration.md.
 */
export { envVariableNames } from './env.ts';
export { ConfigError } from './errors.ts';
export { loadConfig } from './load.ts';
export { formatConfig, printableConfig } from './print.ts';
export { configSchema, type HeraldConfig } from './schema.ts';
