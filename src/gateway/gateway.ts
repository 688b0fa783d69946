/**
 * The secure email gateway as one object: the HTTPS listener for devices (proxy.ts), the plain
 * admin listener for /metrics and /health, the CRL cache and the compliance rules. `herald
 * gateway` builds it from the configuration (service/gateway-service.ts); tests build it in-process.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { type CertificateCheck, CrlCache, checkClientCertificate } from './certificates/index.ts';
import type { CredentialDelegate } from './delegation.ts';
import { GatewayMetrics } from './metrics.ts';
import { createProxyHandler } from './proxy.ts';
import { type RuleReader, RuleSource } from './rules.ts';
import { type GatewayConfig, GatewayConfigError, readCaFiles, tlsServerOptions } from './tls.ts';
import { UpstreamPools } from './upstream.ts';

export interface GatewayDeps {
  logger: Logger;
  /** Where the compliance rules come from (the store's gateway rules). */
  rules: RuleReader;
  /** Bearer token for the admin listener. */
  adminToken: string;
  /** Directory for the CRL disk cache. */
  dataDir: string;
  delegate?: CredentialDelegate;
  /** Extra CAs for Exchange besides `gateway.upstreamCaFiles` (the shared `trust.caFiles`). */
  extraUpstreamCas?: readonly string[];
  now?: () => number;
}

export interface Gateway {
  readonly metrics: GatewayMetrics;
  readonly rules: RuleSource;
  /** Absent when client certificates are off. */
  readonly crls: CrlCache | undefined;
  readonly pools: UpstreamPools;
  /** Starts both listeners; resolves with their URLs. */
  listen(): Promise<{ url: string; adminUrl: string }>;
  close(): Promise<void>;
}

function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function urlOf(scheme: string, address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export async function createGateway(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
  const { logger } = deps;
  if (!config.upstreams.activesync && !config.upstreams.ews) {
    throw new GatewayConfigError(
      'gateway.upstreams: set activesync (and ews, if EWS is on another host): the gateway has nowhere to send requests',
    );
  }
  const tlsOptions = tlsServerOptions(config);
  const metrics = new GatewayMetrics();
  deps.delegate?.registerMetrics?.(metrics.registry);
  if (config.ignoreUpstreamTlsErrors) {
    logger.warn(
      'gateway.ignoreUpstreamTlsErrors is true: Exchange certificates are NOT checked; anyone between the gateway and Exchange can read and change mail traffic. Use only for tests.',
    );
  }
  const pools = new UpstreamPools({
    caPems: [...readCaFiles(config.upstreamCaFiles, 'upstreamCaFiles'), ...(deps.extraUpstreamCas ?? [])],
    ignoreTlsErrors: config.ignoreUpstreamTlsErrors,
    timeoutMs: config.idleTimeoutSeconds * 1000,
  });
  const rules = new RuleSource({
    reader: deps.rules,
    defaultAction: config.policy.default,
    reloadSeconds: config.policy.reloadSeconds,
    logger,
  });

  let crls: CrlCache | undefined;
  let certificates: ((socket: TLSSocket) => Promise<CertificateCheck>) | undefined;
  if (config.clientCertificates !== 'off') {
    const cache = new CrlCache({
      dir: join(deps.dataDir, 'gateway', 'crl'),
      trustedCas: readCaFiles(config.trustedCaFiles, 'trustedCaFiles'),
      refreshSeconds: config.crl.refreshSeconds,
      onUnavailable: config.crl.onUnavailable,
      urls: config.crl.urls,
      logger,
      ...(deps.now ? { now: deps.now } : {}),
    });
    crls = cache;
    certificates = certificateChecker(cache, deps.now);
  }

  const handler = createProxyHandler({
    config,
    logger,
    metrics,
    certificates,
    policy: () => rules.current(),
    pools,
    ...(deps.delegate ? { delegate: deps.delegate } : {}),
  });
  const server = createHttpsServer(tlsOptions, handler);
  const idleMs = config.idleTimeoutSeconds * 1000;
  // Both sides above the longest ActiveSync hanging request (Ping/Sync, 3,540 s).
  server.requestTimeout = idleMs;
  server.timeout = idleMs;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 120_000;
  server.on('tlsClientError', (error: Error & { code?: string }) => {
    metrics.tlsErrors.inc();
    logger.debug({ code: error.code, message: error.message }, 'TLS handshake failed');
  });

  const expectedToken = sha256(deps.adminToken);
  const admin = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const json = (status: number, body: unknown) => {
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.end(JSON.stringify(body));
    };
    if (!timingSafeEqual(sha256(presented), expectedToken) || presented === '') {
      res.setHeader('www-authenticate', 'Bearer realm="herald-admin"');
      return json(401, {
        error: { code: 'admin_unauthorized', message: 'A valid admin token is required.' },
      });
    }
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics.text().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.contentType });
          res.end(text);
        },
        () => json(500, { error: { code: 'internal_error', message: 'Metrics could not be collected.' } }),
      );
      return;
    }
    if (req.method === 'GET' && path === '/health') {
      return json(200, {
        status: 'ok',
        clientCertificates: config.clientCertificates,
        rules: rules.status(),
        crls: crls?.stats(),
        upstreamPools: pools.size,
      });
    }
    return json(404, { error: { code: 'not_found', message: 'No such resource.' } });
  });

  let listening = false;
  return {
    metrics,
    rules,
    crls,
    pools,
    async listen() {
      await rules.start();
      await crls?.start();
      const address = await listenOn(server as unknown as Server, config.listen.host, config.listen.port);
      const adminAddress = await listenOn(admin, config.adminListen.host, config.adminListen.port);
      listening = true;
      return { url: urlOf('https', address), adminUrl: urlOf('http', adminAddress) };
    },
    async close() {
      rules.stop();
      crls?.stop();
      if (listening) {
        const closed = Promise.all([
          new Promise<void>((resolve) => server.close(() => resolve())),
          new Promise<void>((resolve) => admin.close(() => resolve())),
        ]);
        server.closeIdleConnections();
        await pools.close();
        server.closeAllConnections();
        admin.closeAllConnections();
        await closed;
      } else {
        await pools.close();
      }
      await deps.delegate?.close?.();
    },
  };
}

/**
 * The per-request certificate check. Fetching a CRL for a distribution point seen for the first
 * time is awaited once per connection (bounded by the cache's fetch timeout); the check itself
 * (one parse and a few map lookups) runs on every request, so a kept-alive connection is refused
 * as soon as its certificate expires or appears on a refreshed CRL.
 */
function certificateChecker(
  crls: CrlCache,
  now: (() => number) | undefined,
): (socket: TLSSocket) => Promise<CertificateCheck> {
  const prepared = new WeakMap<TLSSocket, number>();
  return async (socket) => {
    if (prepared.get(socket) !== crls.generation) {
      await crls.prepare(socket);
      prepared.set(socket, crls.generation);
    }
    return checkClientCertificate(socket, { crls, ...(now ? { now } : {}) });
  };
}
