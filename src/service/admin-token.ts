/**
 * The admin bearer token shared by the notification service's admin API and the gateway's admin
 * listener: `admin.apiToken` from the configuration, else `<dataDir>/admin.token`, generated on
 * first start (mode 0600).
 */
import type { HeraldConfig } from '../config/index.ts';
import { loadOrCreateAdminToken } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';

/** Where the admin API token is kept when the configuration gives none. */
function adminTokenFile(config: HeraldConfig): string {
  return `${config.dataDir.replace(/\/+$/, '')}/admin.token`;
}

/** `admin.apiToken`, else the token in `<dataDir>/admin.token`, generated on first start. */
export function loadAdminToken(
  config: HeraldConfig,
  logger: Logger,
): { token: string; file: string | undefined } {
  if (config.admin.apiToken) return { token: config.admin.apiToken, file: undefined };
  const file = adminTokenFile(config);
  const { token, created } = loadOrCreateAdminToken(file);
  if (created) logger.info({ file }, 'generated the admin API token; it is in this file (mode 0600)');
  return { token, file };
}
