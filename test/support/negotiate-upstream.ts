/**
 * An upstream that authenticates like Exchange's IIS with Windows authentication: it wants
 * `Authorization: Negotiate <token>`, accepts the token with Exchange's own keytab (real
 * GSS-API, through Herald's addon), and answers with the principal it authenticated. Without a
 * token, or with one it cannot accept, it answers 401 `WWW-Authenticate: Negotiate`.
 *
 * `refuseNext(n)` makes it answer 401 to the next n requests even with a good token (a ticket
 * Exchange no longer takes), to see the gateway try once more with a fresh one.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KerberosAddon } from '../../src/gateway/kerberos/native/index.ts';

export interface NegotiateUpstream {
  readonly url: string;
  /** Every request: what it carried and whom it authenticated. */
  readonly requests: {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
    principal?: string;
    bytes: number;
  }[];
  refuseNext(count: number): void;
  close(): Promise<void>;
}

export async function startNegotiateUpstream(
  addon: KerberosAddon,
  keytab: string,
): Promise<NegotiateUpstream> {
  const requests: NegotiateUpstream['requests'] = [];
  let refusals = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const record: NegotiateUpstream['requests'][number] = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        bytes: Buffer.concat(chunks).length,
      };
      requests.push(record);
      const unauthorized = (reason: string) => {
        res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-type': 'application/json' });
        res.end(JSON.stringify({ reason }));
      };
      const match = /^Negotiate ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
      if (!match) return unauthorized('no Negotiate token');
      addon.acceptSecContext({ keytab }, match[1] as string).then(
        ({ principal }) => {
          record.principal = principal;
          if (refusals > 0) {
            refusals -= 1;
            return unauthorized('refused on purpose');
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ principal, bytes: record.bytes }));
        },
        (error: Error) => unauthorized(`token not accepted: ${error.message}`),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    refuseNext(count) {
      refusals = count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
