/**
 * The HTTP side of a push: POST one SendNotification to a subscriber and read its answer.
 * A callback counts as answered only with a 2xx status and a SOAP 1.1 envelope carrying
 * m:SendNotificationResult/m:SubscriptionStatus OK or Unsubscribe; anything else (connection
 * error, timeout, other status, unreadable body) is a failure the notifier retries.
 */
import http from 'node:http';
import https from 'node:https';
import { child, NS, parseXml, textOf, XmlError } from './xml.ts';

export interface CallbackAnswer {
  httpStatus?: number;
  subscriptionStatus?: 'OK' | 'Unsubscribe';
  error?: string;
  responseBody?: string;
}

/** What Exchange 2019 sends as User-Agent on push notifications. */
const USER_AGENT = 'ExchangeServicesClient/15.02.1544.004';

export class CallbackClient {
  readonly #requests = new Set<http.ClientRequest>();
  readonly #timeoutMs: number;
  readonly #ca: string | Buffer | Array<string | Buffer> | undefined;

  constructor(options: { timeoutMs?: number; ca?: string | Buffer | Array<string | Buffer> } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#ca = options.ca;
  }

  post(callbackUrl: string, envelope: string): Promise<CallbackAnswer> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (answer: CallbackAnswer) => {
        if (settled) return;
        settled = true;
        resolve(answer);
      };
      let url: URL;
      try {
        url = new URL(callbackUrl);
      } catch {
        finish({ error: 'invalid callback URL' });
        return;
      }
      const body = Buffer.from(envelope, 'utf8');
      const request = (url.protocol === 'https:' ? https : http).request(url, {
        method: 'POST',
        agent: false,
        timeout: this.#timeoutMs,
        ca: url.protocol === 'https:' ? this.#ca : undefined,
        headers: {
          'Content-Type': 'text/xml; charset=utf-8',
          'Content-Length': body.length,
          SOAPAction: '"http://schemas.microsoft.com/exchange/services/2006/messages/SendNotification"',
          'User-Agent': USER_AGENT,
        },
      });
      this.#requests.add(request);
      request.on('close', () => this.#requests.delete(request));
      request.on('timeout', () => request.destroy(new Error('timed out waiting for the answer')));
      request.on('error', (error) => finish({ error: `connection: ${error.message}` }));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => finish({ httpStatus: response.statusCode, error: error.message }));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = response.statusCode ?? 0;
          if (status < 200 || status > 299) {
            finish({ httpStatus: status, error: `HTTP ${status}`, responseBody: text });
            return;
          }
          finish({ httpStatus: status, responseBody: text, ...parseResult(text) });
        });
      });
      request.end(body);
    });
  }

  close(): void {
    for (const request of this.#requests) request.destroy();
  }
}

/** Read SendNotificationResult/SubscriptionStatus from the subscriber's SOAP answer. */
export function parseResult(text: string): { subscriptionStatus?: 'OK' | 'Unsubscribe'; error?: string } {
  try {
    const envelope = parseXml(text);
    if (envelope.ns !== NS.soap || envelope.local !== 'Envelope')
      return { error: 'answer is not a SOAP 1.1 envelope' };
    const result = child(child(envelope, NS.soap, 'Body'), NS.m, 'SendNotificationResult');
    const status = textOf(child(result, NS.m, 'SubscriptionStatus'));
    if (status === 'OK' || status === 'Unsubscribe') return { subscriptionStatus: status };
    return {
      error: result ? `invalid SubscriptionStatus ${JSON.stringify(status)}` : 'no SendNotificationResult',
    };
  } catch (error) {
    return { error: `unparseable answer: ${error instanceof XmlError ? error.message : String(error)}` };
  }
}
