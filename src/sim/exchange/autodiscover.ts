/**
 * Autodiscover v2 as Exchange answers it, for the simulator's mailboxes:
 * `GET /autodiscover/autodiscover.json/v1.0/{email}?Protocol=EWS` (and the older
 * `/autodiscover/autodiscover.json?Email={email}&Protocol=EWS`) → `{"Protocol": "EWS", "Url": …}`.
 * Protocols EWS and ActiveSync; any other is 400 InvalidProtocol. An unknown address is 404.
 * No authentication, as at Exchange: Autodiscover v2 tells only where to go.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExchangeSim } from './simulator.ts';

const V2_PATH = /^\/autodiscover\/autodiscover\.json(?:\/v1\.0\/([^/]+))?$/i;
const PROTOCOLS: Record<string, string> = { ews: 'EWS', activesync: 'ActiveSync' };

export function isAutodiscoverPath(path: string): boolean {
  return V2_PATH.test(path);
}

export function autodiscoverHandler(sim: ExchangeSim, ewsPath: string) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
      sim.log.add({
        time: new Date(sim.clock.now()).toISOString(),
        kind: 'autodiscover',
        method: req.method ?? '',
        url: url.pathname + url.search,
        status,
      });
    };
    if (req.method !== 'GET') {
      send(405, { ErrorCode: 'MethodNotAllowed', ErrorMessage: 'Autodiscover v2 answers GET.' });
      return;
    }
    const inPath = V2_PATH.exec(url.pathname)?.[1];
    let email: string | null;
    try {
      email = inPath ? decodeURIComponent(inPath) : url.searchParams.get('Email');
    } catch {
      email = null;
    }
    const requested = url.searchParams.get('Protocol') ?? '';
    const protocol = PROTOCOLS[requested.toLowerCase()];
    if (!protocol) {
      send(400, {
        ErrorCode: 'InvalidProtocol',
        ErrorMessage: `The given protocol value '${requested.replace(/[^A-Za-z0-9]/g, '')}' is invalid. Supported values are 'EWS,ActiveSync'`,
      });
      return;
    }
    const mailbox = email ? sim.store.get(email) : undefined;
    if (!mailbox) {
      send(404, { ErrorCode: 'MailboxNotFound', ErrorMessage: 'No mailbox for this address.' });
      return;
    }
    const ews = mailbox.autodiscoverEwsUrl ?? `${sim.baseUrl}${ewsPath}`;
    const target = protocol === 'EWS' ? ews : new URL('/Microsoft-Server-ActiveSync', ews).href;
    send(200, { Protocol: protocol, Url: target });
  };
}
