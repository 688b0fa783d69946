/**
 * Start a real Herald notification service for an integration test: real config pipeline, real
 * store (SQLite file or a private PostgreSQL schema), real HTTP on a loopback port, logs captured
 * at trace level so a test can scan everything Herald wrote.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log/index.ts';
import {
  createNotificationService,
  type NotificationService,
  type ServiceOverrides,
} from '../../src/service/notification-service.ts';
import { LogCapture } from './logs.ts';
import { freePort } from './net.ts';

export interface RunningHerald {
  service: NotificationService;
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  logs: LogCapture;
  dataDir: string;
  stop(): Promise<void>;
}

export interface StartHeraldOptions {
  database?: string;
  env?: Record<string, string>;
  /** Written to `<dataDir>/herald.yaml` and loaded as the config file (tenants, apps, trust...). */
  config?: Record<string, unknown>;
  /** Reuse a data directory (a restart keeps the master key). */
  dataDir?: string;
  port?: number;
  /** E.g. `now` to run Herald on a simulator's virtual clock. */
  overrides?: Omit<ServiceOverrides, 'logger'>;
}

export async function startHerald(options: StartHeraldOptions = {}): Promise<RunningHerald> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'herald-it-'));
  const port = options.port ?? (await freePort());
  let file: string | undefined;
  if (options.config) {
    file = join(dataDir, 'herald.yaml');
    writeFileSync(file, stringify(options.config));
  }
  const config = loadConfig({
    ...(file ? { file } : {}),
    env: {
      HERALD_DATA_DIR: dataDir,
      HERALD_LISTEN_PORT: String(port),
      HERALD_PUBLIC_URL: `http://127.0.0.1:${port}`,
      // Tests stay on loopback: no Autodiscover lookups of test domains unless a test asks for them.
      HERALD_EXCHANGE_AUTODISCOVER_ENABLED: 'false',
      ...(options.database ? { HERALD_DATABASE: options.database } : {}),
      ...options.env,
    },
  });
  const logs = new LogCapture();
  const service = await createNotificationService(config, {
    ...options.overrides,
    logger: createLogger({ level: 'trace', destination: logs }),
  });
  await service.listen();
  return {
    service,
    url: `http://127.0.0.1:${port}`,
    logs,
    dataDir,
    stop: () => service.close(),
  };
}

/** JSON over fetch with a tenant token. */
export function deviceClient(baseUrl: string, token: string) {
  return async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}/api/ens${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
    };
  };
}
