/**
 * The notification service assembled from its parts (config → store → services → HTTP), for
 * `herald serve` and for integration tests. Nothing here decides anything: it only wires.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher, ProxyAgent } from 'undici';
import type { HeraldConfig } from '../config/index.ts';
import { loadOrCreateMasterKey, type MasterKey } from '../crypto/index.ts';
import { createEwsClient, type EwsClient, type EwsClientHandle } from '../exchange/ews/index.ts';
import { buildApp, type HeraldApp } from '../http/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { Metrics } from '../metrics/index.ts';
import { ewsUrlDiscovery } from '../notify/autodiscover.ts';
import {
  DeliveryWorker,
  EventIntake,
  GraphAccess,
  GraphEncryptionKeys,
  GraphFetcher,
  GraphIntake,
  GraphRegistrationFlows,
  GraphRenewalJob,
  GraphSubscriptions,
  LastSeenBatcher,
  type PushSenderLookup,
  REGISTRATION_STATES,
  RegistrationInspector,
  RegistrationService,
  Watchdog,
} from '../notify/index.ts';
import { createPushSenders, type PushSenders } from '../push/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { TenantService } from '../tenants/index.ts';
import { VERSION } from '../version.ts';
import { loadAdminToken } from './admin-token.ts';
import { pkiSettingsFrom, ServedCertificateAuthority } from './certificate-authority.ts';
import { sharedProviderTokens } from './provider-tokens.ts';

export interface NotificationService {
  app: HeraldApp;
  store: Store;
  tenants: TenantService;
  registrations: RegistrationService;
  master: MasterKey;
  logger: Logger;
  /** Status pings waiting to be written (flush() writes them now). */
  lastSeen: LastSeenBatcher;
  /** The outbox workers (started by listen()). */
  delivery: DeliveryWorker;
  /** The subscription watchdog (started by listen(); runs while this node holds its lease). */
  watchdog: Watchdog;
  /** Keeps Graph subscriptions alive (started by listen(); runs while this node holds its lease). */
  graphRenewal: GraphRenewalJob;
  metrics: Metrics;
  /** Registration health as the admin API shows it. */
  inspector: RegistrationInspector;
  /**
   * The certificate authority (undefined when `pki.enabled` is false): an existing CA is opened
   * at start, a new one created when first needed (`ca.get()`).
   */
  ca: ServedCertificateAuthority | undefined;
  /** The file holding the admin API token; undefined when it comes from the configuration. */
  adminTokenFile: string | undefined;
  /** Where it listens, once `listen()` has run. */
  url: string | undefined;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  logger?: Logger;
  ews?: EwsClient;
  /** Push senders (default: built from the configured tenants' apps). */
  senders?: PushSenderLookup & { close?(): Promise<void> };
  now?: () => number;
}

/** `exchange.gateway` as the EWS client takes it: the origin, and Herald's certificate read once. */
function ewsGateway(gateway: NonNullable<HeraldConfig['exchange']['gateway']>) {
  return {
    origin: gateway.url,
    ...(gateway.certFile && gateway.keyFile
      ? { cert: readFileSync(gateway.certFile, 'utf8'), key: readFileSync(gateway.keyFile, 'utf8') }
      : {}),
  };
}

/** An undici dispatcher for outbound calls with extra CAs or a proxy; undefined: undici's default. */
function outboundDispatcher(ca: string[], proxyUrl: string | undefined): Dispatcher | undefined {
  const tls = ca.length > 0 ? { ca: [...rootCertificates, ...ca] } : {};
  if (proxyUrl) return new ProxyAgent({ uri: proxyUrl, requestTls: tls, proxyTls: tls });
  return ca.length > 0 ? new Agent({ connect: tls }) : undefined;
}

export function userAgent(publicUrl: string): string {
  return `Herald/${VERSION} (+${publicUrl})`;
}

/** Open the store (migrated) and the master key: what every command that touches data needs. */
export async function openData(
  config: HeraldConfig,
  logger: Logger,
): Promise<{ store: Store; master: MasterKey }> {
  const { key: master, created } = loadOrCreateMasterKey(config.masterKeyFile);
  if (created)
    logger.info({ file: config.masterKeyFile }, 'generated a new master key; back it up with the database');
  const store = await openStore(config.database);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return { store, master };
}

/**
 * This node's name in outbox and job leases, kept in `<dataDir>/node.id` so a restarted node
 * takes back at once the events it held when it died. Nodes must not share a data directory.
 */
function loadOrCreateNodeId(config: HeraldConfig, logger: Logger): string {
  const file = `${config.dataDir.replace(/\/+$/, '')}/node.id`;
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9-]{8,64}$/.test(id)) return id;
    logger.warn({ file }, 'node.id is not a valid node id; writing a new one');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const id = `${
    hostname()
      .replace(/[^A-Za-z0-9-]/g, '')
      .slice(0, 24) || 'node'
  }-${randomUUID()}`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${id}\n`);
  return id;
}

export async function createNotificationService(
  config: HeraldConfig,
  overrides: ServiceOverrides = {},
): Promise<NotificationService> {
  const logger = overrides.logger ?? createLogger({ level: config.log.level });
  const admin = loadAdminToken(config, logger);
  const { store, master } = await openData(config, logger);
  const tenants = new TenantService(store, master);
  await tenants.syncFromConfig(config.tenants);
  // Extra CAs for outbound TLS, read once for Exchange, APNs and FCM alike.
  const trustedCas = config.trust.caFiles.map((file) => readFileSync(file, 'utf8'));
  const ownEws: EwsClientHandle | undefined = overrides.ews
    ? undefined
    : createEwsClient({
        userAgent: userAgent(config.publicUrl),
        requestServerVersion: config.exchange.requestServerVersion,
        timeoutMs: config.exchange.timeoutSeconds * 1000,
        ca: trustedCas,
        ...(config.proxy?.url ? { proxyUrl: config.proxy.url } : {}),
        ...(config.exchange.gateway ? { gateway: ewsGateway(config.exchange.gateway) } : {}),
      });
  const ews: EwsClient = overrides.ews ?? ownEws!;
  // Graph, Entra and Autodiscover: one dispatcher with the extra CAs (added to the system roots)
  // and the proxy.
  const outboundHttp = outboundDispatcher(trustedCas, config.proxy?.url);
  let ownSenders: PushSenders | undefined;
  let graphAccess: GraphAccess;
  try {
    ownSenders = overrides.senders
      ? undefined
      : createPushSenders({
          tenants: config.tenants,
          ca: trustedCas,
          ...(config.proxy?.url ? { proxyUrl: config.proxy.url } : {}),
          logger,
          ...(overrides.now ? { now: overrides.now } : {}),
          // One APNs provider token per key for every process on this database (docs/push.md).
          providerTokens: sharedProviderTokens(store.providerTokens, master),
        });
    // Reads the Entra applications' certificate files: inside the guard.
    graphAccess = new GraphAccess({
      tenants: config.tenants,
      authorityHost: config.graph.authorityHost,
      graphUrl: config.graph.graphUrl,
      jwksUrl: config.graph.jwksUrl,
      timeoutMs: config.graph.timeoutSeconds * 1000,
      limits: {
        maxLifetimeMinutes: config.graph.subscriptionMinutes,
        maxLifetimeMinutesWithResourceData: config.graph.subscriptionMinutesWithResourceData,
        safetyMarginMinutes: 5,
      },
      userAgent: userAgent(config.publicUrl),
      exchangeOnlineHosts: config.graph.exchangeOnlineHosts,
      ...(outboundHttp ? { dispatcher: outboundHttp } : {}),
      ...(overrides.now ? { now: overrides.now } : {}),
    });
  } catch (error) {
    await ownSenders?.close();
    await ownEws?.close();
    await outboundHttp?.close();
    await store.close();
    throw error;
  }
  const senders: PushSenderLookup & { close?(): Promise<void> } = overrides.senders ?? ownSenders!;
  const now = overrides.now ?? Date.now;
  const metrics = new Metrics({
    sources: {
      registrationStates: REGISTRATION_STATES,
      registrationsByState: () => store.registrations.countByState(),
      outboxByStatus: () => store.outbox.countByStatus(),
    },
  });
  const lastSeen = new LastSeenBatcher(store, logger);
  const graphKeys = new GraphEncryptionKeys({
    store,
    master,
    validityDays: config.graph.encryptionCertificateDays,
    logger,
    ...(overrides.now ? { now: overrides.now } : {}),
  });
  const graphSubscriptions = new GraphSubscriptions({
    store,
    access: graphAccess,
    keys: graphKeys,
    master,
    publicUrl: config.publicUrl,
    logger,
    now,
  });
  const delivery = new DeliveryWorker({
    owner: loadOrCreateNodeId(config, logger),
    store,
    master,
    ews,
    graph: new GraphFetcher({ master, subscriptions: graphSubscriptions, keys: graphKeys, logger }),
    senders,
    logger,
    settings: config.push,
    now,
    metrics,
  });
  const wakeDelivery = () => delivery.wake();
  const intake = new EventIntake({ store, master, lastSeen, logger, now, metrics, onEnqueued: wakeDelivery });
  const watchdog = new Watchdog({
    store,
    logger,
    settings: config.watchdog,
    owner: delivery.owner,
    now,
    metrics,
    beforePass: () => lastSeen.flush(),
    onEnqueued: wakeDelivery,
  });
  const graphRenewal = new GraphRenewalJob({
    store,
    subscriptions: graphSubscriptions,
    master,
    logger,
    settings: config.graph.renewal,
    owner: delivery.owner,
    now,
    metrics,
    onEnqueued: wakeDelivery,
  });
  const graphIntake = new GraphIntake({
    store,
    subscriptions: graphSubscriptions,
    keys: graphKeys,
    logger,
    metrics,
    now,
    maxBodyBytes: config.limits.notificationBytes,
    onEnqueued: wakeDelivery,
    onRenewalDue: () => graphRenewal.wake(),
  });
  const ca = config.pki.enabled
    ? new ServedCertificateAuthority({
        store,
        master,
        publicUrl: config.publicUrl,
        logger,
        settings: pkiSettingsFrom(config.pki),
        owner: delivery.owner,
        ...(overrides.now ? { now: overrides.now } : {}),
      })
    : undefined;
  const registrations = new RegistrationService({
    store,
    tenants,
    ews,
    master,
    logger,
    publicUrl: config.publicUrl,
    statusFrequencyMinutes: config.exchange.statusFrequencyMinutes,
    pushApps: senders,
    now,
    graph: new GraphRegistrationFlows({
      store,
      subscriptions: graphSubscriptions,
      logger,
      metrics,
      now,
      onRenewalDue: () => graphRenewal.wake(),
      onEnqueued: wakeDelivery,
    }),
    ...(ca ? { onUnenrol: (id: string) => ca.revokeForRegistration(id) } : {}),
    ...(config.exchange.autodiscover.enabled
      ? {
          discoverEwsUrl: ewsUrlDiscovery(config.exchange.autodiscover, {
            userAgent: userAgent(config.publicUrl),
            logger,
            ...(outboundHttp ? { dispatcher: outboundHttp } : {}),
          }),
        }
      : {}),
  });
  const inspector = new RegistrationInspector({ store, master, now, watchdog: config.watchdog });
  let app: HeraldApp;
  try {
    // An existing CA is opened now: its CRLs made fresh, its scheduler started (docs/pki.md).
    await ca?.start();
    app = await buildApp({
      logger,
      store,
      tenants,
      registrations,
      intake,
      graphIntake,
      version: VERSION,
      publicUrl: config.publicUrl,
      limits: config.limits,
      ...(config.tls
        ? { https: { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) } }
        : {}),
      inspector,
      adminToken: admin.token,
      metrics,
      ...(ca ? { pki: ca } : {}),
    });
  } catch (error) {
    await ca?.close();
    await lastSeen.close();
    await ownSenders?.close();
    await ownEws?.close();
    await outboundHttp?.close();
    await store.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const service: NotificationService = {
    app,
    store,
    tenants,
    registrations,
    master,
    logger,
    lastSeen,
    delivery,
    watchdog,
    graphRenewal,
    metrics,
    inspector,
    ca,
    adminTokenFile: admin.file,
    url: undefined,
    async listen() {
      const address = await app.listen({ host: config.listen.host, port: config.listen.port });
      service.url = address;
      delivery.start();
      watchdog.start();
      graphRenewal.start();
      return address;
    },
    close() {
      // Idempotent: a second call (a signal during shutdown, a test's cleanup) waits for the first.
      closing ??= shutDown();
      return closing;
    },
  };
  async function shutDown(): Promise<void> {
    // Stop taking callbacks first (in-flight requests finish), then the watchdog (hands its
    // lease on), then the pushes in hand: those not done within shutdown.graceSeconds go back
    // to the outbox for another node or the next start. Then pending pings, connections, data.
    await app.close();
    await watchdog.stop();
    await graphRenewal.stop();
    const { unfinished, released } = await delivery.stop(config.shutdown.graceSeconds * 1000);
    if (unfinished > 0) {
      logger.warn(
        { unfinished, released },
        'stopped with pushes in flight; they were handed back to the outbox',
      );
    }
    await lastSeen.close();
    // The CA's scheduler hands its lease on while the store is still open.
    await ca?.close();
    await ownSenders?.close();
    await ownEws?.close();
    await outboundHttp?.close();
    await store.close();
  }
  return service;
}
