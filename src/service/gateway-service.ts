/**
 * `herald gateway` composed: the gateway (src/gateway) with its rules read from the store, the
 * admin token, and the shared outbound trust. Kept apart from the notification service: the
 * gateway runs in the DMZ and shares only the configuration, the database and logging.
 */
import { readFileSync } from 'node:fs';
import type { HeraldConfig } from '../config/index.ts';
import {
  type CredentialDelegate,
  createGateway,
  createKerberosDelegate,
  type Gateway,
} from '../gateway/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { loadAdminToken } from './admin-token.ts';

export interface GatewayService {
  readonly gateway: Gateway;
  readonly logger: Logger;
  readonly store: Store;
  readonly adminTokenFile: string | undefined;
  listen(): Promise<{ url: string; adminUrl: string }>;
  close(): Promise<void>;
}

export async function createGatewayService(
  config: HeraldConfig,
  overrides: { logger?: Logger; now?: () => number } = {},
): Promise<GatewayService> {
  const logger =
    overrides.logger ?? createLogger({ level: config.log.level, base: { service: 'herald-gateway' } });
  const admin = loadAdminToken(config, logger);
  // Checked before the database is opened: a configuration error stops the start with its message.
  const delegate: CredentialDelegate | undefined = config.gateway.kerberos.enabled
    ? createKerberosDelegate(config.gateway.kerberos, { logger, dataDir: config.dataDir })
    : undefined;
  const store = await openStore(config.database);
  try {
    await store.migrate();
    const gateway = await createGateway(config.gateway, {
      ...(delegate ? { delegate } : {}),
      logger,
      rules: store.gatewayRules,
      adminToken: admin.token,
      dataDir: config.dataDir,
      extraUpstreamCas: config.trust.caFiles.map((file) => readFileSync(file, 'utf8')),
      ...(overrides.now ? { now: overrides.now } : {}),
    });
    return {
      gateway,
      logger,
      store,
      adminTokenFile: admin.file,
      listen: () => gateway.listen(),
      async close() {
        try {
          await gateway.close();
        } finally {
          await store.close();
        }
      },
    };
  } catch (error) {
    await store.close();
    await delegate?.close?.();
    throw error;
  }
}
