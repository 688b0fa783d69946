/**
 * The push peers of an integration test: the APNs and FCM simulators (Herald's real peers here),
 * with the files a tenant's `apps:` configuration points at (a .p8 key, a service-account JSON,
 * the APNs simulator's CA).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeApnsCertificate } from '../../src/push/testkit.ts';
import { type ApnsSimulator, startApnsSimulator } from '../../src/sim/apns/index.ts';
import { type FcmSimulator, startFcmSimulator } from '../../src/sim/fcm/index.ts';
import { type RunningHerald, startHerald } from './herald.ts';

export interface PushPeers {
  apns: ApnsSimulator;
  fcm: FcmSimulator;
  /** PEM file with the APNs simulator's certificate, for `trust.caFiles`. */
  caFile: string;
  /** One `tenants[].apps[]` entry with both APNs (token auth) and FCM pointing at the simulators. */
  app(appId: string): Record<string, unknown>;
  close(): Promise<void>;
}

/** `now`: the APNs simulator's clock, for tests that run Herald on a virtual one (provider-token ages). */
export async function startPushPeers(dir: string, options: { now?: () => number } = {}): Promise<PushPeers> {
  const apns = await startApnsSimulator(options.now ? { now: options.now } : {});
  const fcm = await startFcmSimulator();
  const key = apns.generateKey();
  const keyFile = join(dir, `AuthKey_${key.keyId}.p8`);
  writeFileSync(keyFile, key.privateKey, { mode: 0o600 });
  const serviceAccountFile = join(dir, 'service-account.json');
  writeFileSync(serviceAccountFile, JSON.stringify(fcm.createServiceAccount({ projectId: 'herald-test' })), {
    mode: 0o600,
  });
  const caFile = join(dir, 'apns-sim-ca.pem');
  writeFileSync(caFile, apns.ca);
  return {
    apns,
    fcm,
    caFile,
    app: (appId) => ({
      appId,
      apns: {
        token: { keyFile, keyId: key.keyId, teamId: key.teamId },
        endpoint: apns.url,
        sandboxEndpoint: apns.url,
      },
      fcm: { serviceAccountFile, endpoint: fcm.url },
    }),
    close: async () => {
      await apns.close();
      await fcm.close();
    },
  };
}

/**
 * Herald with one config-file tenant whose app `appId` pushes to fresh simulators: what every
 * test that registers a device needs (a device of an app without push credentials is refused).
 */
export async function startHeraldWithPush(options: {
  database?: string;
  tenantId: string;
  apiToken: string;
  appId?: string;
  tenant?: Record<string, unknown>;
  config?: Record<string, unknown>;
}): Promise<{ herald: RunningHerald; peers: PushPeers }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-it-'));
  const peers = await startPushPeers(dataDir);
  try {
    const herald = await startHerald({
      ...(options.database ? { database: options.database } : {}),
      dataDir,
      config: {
        tenants: [
          {
            id: options.tenantId,
            apiToken: options.apiToken,
            apps: [peers.app(options.appId ?? 'com.example.mail')],
            ...options.tenant,
          },
        ],
        trust: { caFiles: [peers.caFile] },
        ...options.config,
      },
    });
    return { herald, peers };
  } catch (error) {
    await peers.close();
    throw error;
  }
}

/** The `tenants[].apps[]` entry for an app that authenticates to APNs with a PKCS#12 certificate. */
export function certificateApnsApp(
  appId: string,
  certificate: { p12File: string; passphrase: string },
  endpoint: string,
): Record<string, unknown> {
  return {
    appId,
    apns: {
      certificate: { p12File: certificate.p12File, passphrase: certificate.passphrase },
      endpoint,
      sandboxEndpoint: endpoint,
    },
  };
}

export interface CertificateApns {
  apns: ApnsSimulator;
  /** The simulator's CA, for `trust.caFiles`. */
  caFile: string;
  /** The `tenants[].apps[]` entry: APNs with a PKCS#12 provider certificate. */
  app: Record<string, unknown>;
}

/**
 * The APNs simulator with certificate-based provider authentication, for tests about the outbox
 * that restart Herald: certificate auth keeps them independent of the provider-token sharing,
 * which crash-safety.test.ts tests on its own.
 */
export async function startCertificateApns(dir: string, appId: string): Promise<CertificateApns> {
  const certificate = await makeApnsCertificate(dir, appId, 'certificate-apns-p12');
  const apns = await startApnsSimulator({ clientCa: certificate.caPem });
  const caFile = join(dir, 'apns-sim-ca.pem');
  writeFileSync(caFile, apns.ca);
  return { apns, caFile, app: certificateApnsApp(appId, certificate, apns.url) };
}
