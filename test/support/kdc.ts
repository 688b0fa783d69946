/**
 * The real KDC of the Kerberos tests: Samba AD DC, provisioned on 127.0.0.1 by
 * scripts/setup-samba-kdc.sh, which leaves a description of the realm in `kdc.json`
 * (`HERALD_TEST_KDC` names another file). Without it the tests skip, except under CI=true.
 *
 * `startKdcCounter` puts a TCP relay in front of the KDC and counts the connections through it:
 * the gateway's krb5.conf sends TCP only (udp_preference_limit = 1) and MIT opens one
 * connection per KDC request, so the count is the number of round trips to the KDC.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { type KerberosAddon, loadKerberosAddon } from '../../src/gateway/kerberos/native/index.ts';

export interface TestKdc {
  realm: string;
  /** host:port of the KDC. */
  kdc: string;
  krb5Config: string;
  servicePrincipal: string;
  serviceKeytab: string;
  exchangeKeytab: string;
  targetSpn: string;
  nonDelegableSpn: string;
  addon: KerberosAddon;
}

const DEFAULT_FILE = '/var/lib/herald-test-kdc/kdc.json';

/** The provisioned KDC and the built addon, or undefined after skipping `t` (failing under CI). */
export function testKdc(t: TestContext): TestKdc | undefined {
  const file = process.env.HERALD_TEST_KDC ?? DEFAULT_FILE;
  const addon = loadKerberosAddon();
  const missing = !existsSync(file)
    ? `no KDC description at ${file}: run scripts/setup-samba-kdc.sh`
    : 'unavailable' in addon
      ? addon.unavailable
      : undefined;
  if (missing) {
    if (process.env.CI === 'true')
      throw new Error(`Kerberos tests need a KDC and the addon under CI: ${missing}`);
    t.skip(missing);
    return undefined;
  }
  const described = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  return { ...(described as unknown as Omit<TestKdc, 'addon'>), addon: addon as KerberosAddon };
}

export interface KdcCounter {
  /** host:port to name as the KDC. */
  readonly address: string;
  /** Connections (KDC requests) relayed so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startKdcCounter(kdc: string): Promise<KdcCounter> {
  const [host, port] = kdc.includes(':') ? kdc.split(':') : [kdc, '88'];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    connections += 1;
    const upstream = createConnection({ host: host as string, port: Number(port) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    address: `127.0.0.1:${address.port}`,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port with nothing listening: a KDC that is down. */
export async function deadKdc(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

/** A KDC that accepts connections and never answers (a hung domain controller). */
export async function silentKdc(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
