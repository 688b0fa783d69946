/**
 * A gateway in-process for integration tests, with real TLS on both sides: a device CA made at
 * test time (test/support/pki.ts) that also issues the gateway's own certificate, a CRL
 * distribution point, and the recording upstream standing in for Exchange. Rules come from a real
 * store. `request()` is a device: node's HTTPS client with (or without) a client certificate.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { configSchema } from '../../src/config/index.ts';
import { type CredentialDelegate, createGateway, type Gateway } from '../../src/gateway/index.ts';
import { createLogger } from '../../src/log/index.ts';
import type { Store } from '../../src/store/index.ts';
import { LogCapture } from './logs.ts';
import {
  type CrlServer,
  createTestCa,
  type IssuedCertificate,
  issueServerCertificate,
  startCrlServer,
  type TestCa,
} from './pki.ts';
import { type RecordingUpstream, startRecordingUpstream } from './upstream.ts';

export const ADMIN_TOKEN = 'gateway-test-admin-token-0123456789abcdef';

export interface DeviceRequest {
  method?: string;
  /** Path and query, e.g. `/Microsoft-Server-ActiveSync?Cmd=Ping&...`. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string | Readable;
  /** The device's certificate; none when absent. */
  cert?: Pick<IssuedCertificate, 'certPem' | 'keyPem'>;
  /** Resolve on the response headers without reading the body (for streaming tests). */
  streamBody?: boolean;
}

export interface DeviceResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** With streamBody: the response to read yourself. */
  stream?: Readable;
}

export interface TestGateway {
  readonly url: string;
  readonly adminUrl: string;
  readonly gateway: Gateway;
  readonly ca: TestCa;
  readonly crl: CrlServer;
  readonly upstream: RecordingUpstream;
  readonly logs: LogCapture;
  request(request: DeviceRequest): Promise<DeviceResponse>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  store: Store;
  /**
   * Merged into the gateway section (tls, trustedCaFiles, upstreamCaFiles are filled in);
   * `upstreams` is merged with `activesync` = the recording upstream.
   */
  gateway?: Record<string, unknown>;
  delegate?: CredentialDelegate;
  now?: () => number;
  /**
   * The device CAs the gateway trusts (PEM, e.g. Herald's own CA chain); default the test CA made
   * here, which also issues the gateway's server certificate either way.
   */
  trustedCaPem?: string;
}

/** One device request through node's HTTPS client, trusting the test CA for the gateway. */
export function deviceRequest(url: string, ca: string, request: DeviceRequest): Promise<DeviceResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${url}${request.path}`,
      {
        method: request.method ?? 'GET',
        headers: request.headers ?? {},
        ca,
        ...(request.cert ? { cert: request.cert.certPem, key: request.cert.keyPem } : {}),
        agent: false,
      },
      (res) => {
        if (request.streamBody) {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0), stream: res });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const body = request.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-gateway-'));
  const ca = await createTestCa('CN=Herald Gateway Test Devices');
  const server = await issueServerCertificate(ca);
  const crl = await startCrlServer();
  const upstream = await startRecordingUpstream();
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const overrides = options.gateway ?? {};
  const config = configSchema.parse({
    dataDir: dir,
    gateway: {
      listen: { host: '127.0.0.1', port: 0 },
      adminListen: { host: '127.0.0.1', port: 0 },
      tls: { certFile: file('gateway.pem', server.certPem), keyFile: file('gateway.key', server.keyPem) },
      trustedCaFiles: [file('device-ca.pem', options.trustedCaPem ?? ca.certPem)],
      upstreamCaFiles: [file('upstream-ca.pem', upstream.ca)],
      ...overrides,
      upstreams: { activesync: upstream.url, ...(overrides.upstreams as object | undefined) },
    },
  });
  const logs = new LogCapture();
  const gateway = await createGateway(config.gateway, {
    logger: createLogger({ level: 'debug', destination: logs, base: { service: 'herald-gateway' } }),
    rules: options.store.gatewayRules,
    adminToken: ADMIN_TOKEN,
    dataDir: dir,
    ...(options.delegate ? { delegate: options.delegate } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const { url, adminUrl } = await gateway.listen();
  return {
    url,
    adminUrl,
    gateway,
    ca,
    crl,
    upstream,
    logs,
    request: (request) => deviceRequest(url, ca.certPem, request),
    async close() {
      await gateway.close();
      await Promise.all([upstream.close(), crl.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** GET on the gateway's admin listener with the admin token. */
export async function adminGet(
  gateway: TestGateway,
  path: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(`${gateway.adminUrl}${path}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return { status: response.status, text: await response.text() };
}
