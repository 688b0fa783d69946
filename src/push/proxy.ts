/**
 * An HTTP CONNECT tunnel through the operator's outbound proxy (operator.md: the proxy is
 * honoured for APNs and FCM too). undici does this itself for FCM and the relay (ProxyAgent);
 * node:http2 has no proxy support, so the APNs connection is opened over this tunnel.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { rootCertificates } from 'node:tls';

/** Extra CAs are added to the system store: Node's `ca` option replaces the default roots. */
export function withSystemRoots(ca: readonly string[] | undefined): string[] | undefined {
  return ca?.length ? [...rootCertificates, ...ca] : undefined;
}

export async function openTunnel(
  proxyUrl: string,
  host: string,
  port: number,
  options: { timeoutMs: number; ca?: readonly string[] },
): Promise<Duplex> {
  const proxy = new URL(proxyUrl);
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.username !== '' || proxy.password !== '') {
    const user = decodeURIComponent(proxy.username);
    const password = decodeURIComponent(proxy.password);
    headers['proxy-authorization'] = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  const secure = proxy.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  const ca = withSystemRoots(options.ca);
  return new Promise<Duplex>((resolve, reject) => {
    const req = send({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port === '' ? (secure ? 443 : 80) : Number(proxy.port),
      method: 'CONNECT',
      path: authority,
      headers,
      timeout: options.timeoutMs,
      ...(secure && ca ? { ca } : {}),
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) {
        socket.setTimeout(0);
        resolve(socket);
      } else {
        socket.destroy();
        reject(Object.assign(new Error(`proxy refused CONNECT: HTTP ${res.statusCode}`), { code: 'EPROXY' }));
      }
    });
    req.once('timeout', () =>
      req.destroy(Object.assign(new Error('proxy CONNECT timed out'), { code: 'ETIMEDOUT' })),
    );
    req.once('error', reject);
    req.end();
  });
}
