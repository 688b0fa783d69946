/**
 * The process's push senders, built once at start from the configured tenants' `apps:`
 * (operator.md). Key files are read and checked here, so a missing or broken credential stops
 * Herald at start with the file and the config key named, not at the first push.
 *
 * What is shared: one APNs token per (team, key) (across processes too, given `providerTokens`)
 * and one set of HTTP/2 connections per (endpoint, credential) across all tenants and apps; one
 * undici dispatcher for FCM and relays; one OAuth token per Google service account.
 */
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../log/index.ts';
import {
  type ApnsConnectionOptions,
  type ApnsConnections,
  createApnsConnections,
  createApnsSender,
} from './apns/sender.ts';
import { type ApnsTokenCache, createApnsTokenCache, type SharedTokenStore } from './apns/token.ts';
import {
  createGoogleAccessTokens,
  type GoogleAccessTokens,
  parseServiceAccount,
  type ServiceAccount,
  serviceAccountKey,
} from './fcm/oauth.ts';
import { createFcmSender } from './fcm/sender.ts';
import { createDispatcher } from './http.ts';
import { createRelaySender } from './relay/sender.ts';
import type { PushSender } from './types.ts';

/** One `tenants[].apps[]` entry (the config schema's shape, readonly; defaults may be absent). */
export interface PushAppConfig {
  readonly appId: string;
  readonly apns?: {
    readonly token?: { readonly keyFile: string; readonly keyId: string; readonly teamId: string };
    readonly certificate?: { readonly p12File: string; readonly passphrase?: string };
    readonly endpoint?: string;
    readonly sandboxEndpoint?: string;
  };
  readonly fcm?: { readonly serviceAccountFile: string; readonly endpoint?: string };
  readonly relay?: { readonly url: string; readonly secret: string };
}

export interface ConfiguredTenantApps {
  readonly id: string;
  readonly apps: readonly PushAppConfig[];
}

export interface PushSenders {
  /** The sender for a device of this tenant's app, or undefined when the app has no credentials for it. */
  senderFor(tenantId: string, appId: string, platform: 'ios' | 'android'): PushSender | undefined;
  /** Closes every sender and connection; resolves when all are closed. */
  close(): Promise<void>;
}

export interface CreatePushSendersOptions {
  tenants: readonly ConfiguredTenantApps[];
  /** Extra trusted CAs (PEM), added to the system store. */
  ca?: string[];
  proxyUrl?: string;
  logger: Logger;
  /** Epoch ms (token lifetimes, expiry, relay timestamps); tests inject a clock. */
  now?: () => number;
  /** Per push exchange; default 10 s. */
  timeoutMs?: number;
  /** APNs connection tuning (connections, maxConcurrentStreams, maxQueue, ...). */
  apns?: Omit<ApnsConnectionOptions, 'ca' | 'proxyUrl' | 'logger'>;
  /**
   * APNs provider tokens shared with the other processes on the database, so a restart or
   * another node does not sign a second token within Apple's 20 minutes; default: this process's.
   */
  providerTokens?: SharedTokenStore;
}

/** A credential that could not be loaded: which file, under which config key, and why. */
export class PushCredentialError extends Error {
  readonly configPath: string;
  readonly file: string;

  constructor(configPath: string, file: string, problem: string, cause?: unknown) {
    super(`${configPath}: ${problem} (file ${JSON.stringify(file)})`, { cause });
    this.name = 'PushCredentialError';
    this.configPath = configPath;
    this.file = file;
  }
}

function readCredential(path: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why =
      code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : 'cannot read';
    throw new PushCredentialError(path, file, why, error);
  }
}

/** An Apple .p8 key: PKCS#8 PEM of a P-256 private key. */
function loadP8(path: string, file: string): KeyObject {
  const pem = readCredential(path, file);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new PushCredentialError(
      path,
      file,
      'not a PEM private key (an AuthKey_<keyId>.p8 from Apple)',
      error,
    );
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PushCredentialError(path, file, 'not a P-256 (ES256) key; APNs token keys are P-256');
  }
  return key;
}

function loadP12(path: string, file: string, passphrase: string | undefined): Buffer {
  const pfx = readCredential(path, file);
  try {
    // Fails on a wrong passphrase or a file that is not PKCS#12, before any connection is tried.
    createSecureContext({ pfx, ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (error) {
    throw new PushCredentialError(path, file, 'not a PKCS#12 file, or the passphrase is wrong', error);
  }
  return pfx;
}

function loadServiceAccount(path: string, file: string): { account: ServiceAccount; key: KeyObject } {
  const text = readCredential(path, file).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PushCredentialError(path, file, 'not JSON (a service-account key file from Google)', error);
  }
  try {
    const account = parseServiceAccount(json);
    return { account, key: serviceAccountKey(account) };
  } catch (error) {
    throw new PushCredentialError(
      path,
      file,
      `not a usable service-account key: ${(error as Error).message}`,
      error,
    );
  }
}

function routeKey(tenantId: string, appId: string, platform: 'ios' | 'android'): string {
  return `${tenantId}\0${appId}\0${platform}`;
}

export function createPushSenders(options: CreatePushSendersOptions): PushSenders {
  const logger = options.logger.child({ component: 'push' });
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const shared = {
    ...(options.ca?.length ? { ca: options.ca } : {}),
    ...(options.proxyUrl ? { proxyUrl: options.proxyUrl } : {}),
  };
  const routes = new Map<string, PushSender>();
  const senders: PushSender[] = [];
  let apnsTokens: ApnsTokenCache | undefined;
  let apnsConnections: ApnsConnections | undefined;
  let dispatcher: ReturnType<typeof createDispatcher> | undefined;
  const accessTokens = new Map<string, GoogleAccessTokens>();
  const getDispatcher = () => {
    dispatcher ??= createDispatcher(shared);
    return dispatcher;
  };

  async function closeAll(): Promise<void> {
    await Promise.allSettled(senders.map((sender) => sender.close()));
    await Promise.allSettled([apnsConnections?.close(), dispatcher && closeBounded(dispatcher)]);
  }

  try {
    options.tenants.forEach((tenant, t) => {
      tenant.apps.forEach((app, a) => {
        const at = `tenants[${t}].apps[${a}]`;
        const add = (platform: 'ios' | 'android', sender: PushSender) =>
          routes.set(routeKey(tenant.id, app.appId, platform), sender);
        if (app.relay) {
          // A relay carries both platforms: it has the Apple and Google credentials, Herald not.
          const sender = createRelaySender({
            url: app.relay.url,
            secret: app.relay.secret,
            dispatcher: getDispatcher(),
            timeoutMs,
            logger,
            now,
          });
          senders.push(sender);
          add('ios', sender);
          add('android', sender);
          return;
        }
        if (app.apns) {
          const { token, certificate } = app.apns;
          let auth: Parameters<typeof createApnsSender>[0]['auth'];
          if (token) {
            const privateKey = loadP8(`${at}.apns.token.keyFile`, token.keyFile);
            auth = { kind: 'token', key: { keyId: token.keyId, teamId: token.teamId, privateKey } };
          } else if (certificate) {
            const pfx = loadP12(
              `${at}.apns.certificate.p12File`,
              certificate.p12File,
              certificate.passphrase,
            );
            auth = {
              kind: 'certificate',
              pfx,
              ...(certificate.passphrase === undefined ? {} : { passphrase: certificate.passphrase }),
            };
          } else {
            throw new Error(`${at}.apns: set exactly one of apns.token and apns.certificate`);
          }
          apnsTokens ??= createApnsTokenCache({
            now,
            logger,
            ...(options.providerTokens ? { shared: options.providerTokens } : {}),
          });
          apnsConnections ??= createApnsConnections({ ...shared, ...options.apns, logger });
          const sender = createApnsSender({
            auth,
            ...(app.apns.endpoint ? { endpoint: app.apns.endpoint } : {}),
            ...(app.apns.sandboxEndpoint ? { sandboxEndpoint: app.apns.sandboxEndpoint } : {}),
            tokenCache: apnsTokens,
            connectionPools: apnsConnections,
            timeoutMs,
            logger,
            now,
          });
          senders.push(sender);
          add('ios', sender);
        }
        if (app.fcm) {
          const { account, key } = loadServiceAccount(
            `${at}.fcm.serviceAccountFile`,
            app.fcm.serviceAccountFile,
          );
          // One token per account, whichever apps use it.
          const id = createHash('sha256')
            .update(`${account.client_email}\0${account.token_uri}\0${account.private_key_id}`)
            .digest('hex');
          let tokens = accessTokens.get(id);
          if (!tokens) {
            tokens = createGoogleAccessTokens({
              account,
              privateKey: key,
              dispatcher: getDispatcher(),
              now,
              timeoutMs,
            });
            accessTokens.set(id, tokens);
          }
          const sender = createFcmSender({
            serviceAccount: account,
            ...(app.fcm.endpoint ? { endpoint: app.fcm.endpoint } : {}),
            dispatcher: getDispatcher(),
            accessTokens: tokens,
            timeoutMs,
            logger,
            now,
          });
          senders.push(sender);
          add('android', sender);
        }
      });
    });
  } catch (error) {
    void closeAll();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    senderFor(tenantId, appId, platform) {
      return routes.get(routeKey(tenantId, appId, platform));
    },
    close() {
      closing ??= closeAll();
      return closing;
    },
  };
}

/** Close an HTTP dispatcher, letting requests in flight finish for a second, then cut them off. */
async function closeBounded(dispatcher: { close(): Promise<void>; destroy(): Promise<void> }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), 1000);
  });
  const outcome = await Promise.race([dispatcher.close().then(() => 'closed' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') await dispatcher.destroy();
}
