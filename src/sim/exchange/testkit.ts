/**
 * Test helpers for the simulator's own tests: a plain node:http receiver that plays the
 * subscriber's callback endpoint, hand-written EWS envelopes and small readers for answers.
 * Not used by the simulator itself.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExchangeSimulator } from './index.ts';
import { child, children, NS, parseXml, textOf, type XmlElement } from './xml.ts';

export const ALICE = { email: 'alice@contoso.com', password: 'secret', tokens: ['alice-token'] };

export interface Received {
  body: string;
  /** Virtual time when the callback arrived. */
  at: number;
  headers: http.IncomingHttpHeaders;
  notification: XmlElement;
}

export type Answer = { status: number; body: string } | 'ok' | 'unsubscribe' | 'destroy';

export function resultEnvelope(status: 'OK' | 'Unsubscribe'): string {
  return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${NS.soap}"><soap:Body><SendNotificationResult xmlns="${NS.m}"><SubscriptionStatus>${status}</SubscriptionStatus></SendNotificationResult></soap:Body></soap:Envelope>`;
}

/** A callback endpoint; `answer` decides each reply (default: OK). */
export async function startReceiver(sim: () => ExchangeSimulator) {
  const received: Received[] = [];
  let waiting: Array<() => void> = [];
  let answer: (n: number) => Answer = () => 'ok';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const envelope = parseXml(body);
      const notification = child(
        child(
          child(child(child(envelope, NS.soap, 'Body'), NS.m, 'SendNotification'), NS.m, 'ResponseMessages'),
          NS.m,
          'SendNotificationResponseMessage',
        ),
        NS.m,
        'Notification',
      )!;
      received.push({ body, at: sim().now(), headers: req.headers, notification });
      const wake = waiting;
      waiting = [];
      for (const check of wake) check();
      const reply = answer(received.length);
      if (reply === 'destroy') {
        req.socket.destroy();
        return;
      }
      const { status, body: text } =
        reply === 'ok'
          ? { status: 200, body: resultEnvelope('OK') }
          : reply === 'unsubscribe'
            ? { status: 200, body: resultEnvelope('Unsubscribe') }
            : reply;
      res.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/ens/v1/ews/notify/reg-1.k3y`,
    received,
    /** Resolves once `count` callbacks have arrived. */
    until(count: number): Promise<void> {
      if (received.length >= count) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const check = () => (received.length >= count ? resolve() : waiting.push(check));
        waiting.push(check);
      });
    },
    answerWith(fn: (n: number) => Answer) {
      answer = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function envelope(body: string, header = '<t:RequestServerVersion Version="Exchange2013"/>'): string {
  return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${NS.soap}" xmlns:m="${NS.m}" xmlns:t="${NS.t}"><soap:Header>${header}</soap:Header><soap:Body>${body}</soap:Body></soap:Envelope>`;
}

export function subscribeXml(options: {
  url: string;
  statusFrequency?: number | string;
  eventTypes?: string[];
  watermark?: string;
  folder?: string;
}): string {
  const types = (options.eventTypes ?? ['NewMailEvent', 'CreatedEvent', 'ModifiedEvent'])
    .map((t) => `<t:EventType>${t}</t:EventType>`)
    .join('');
  const watermark = options.watermark ? `<t:Watermark>${options.watermark}</t:Watermark>` : '';
  return envelope(
    `<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds>${options.folder ?? '<t:DistinguishedFolderId Id="inbox"/>'}</t:FolderIds><t:EventTypes>${types}</t:EventTypes>${watermark}<t:StatusFrequency>${options.statusFrequency ?? 5}</t:StatusFrequency><t:URL>${options.url}</t:URL></m:PushSubscriptionRequest></m:Subscribe>`,
  );
}

export async function ews(
  sim: ExchangeSimulator,
  xml: string,
  authorization: string | undefined = basic(ALICE.email, ALICE.password),
) {
  const response = await fetch(sim.ewsUrl, {
    method: 'POST',
    headers: {
      'Content-Type': 'text/xml; charset=utf-8',
      ...(authorization ? { Authorization: authorization } : {}),
    },
    body: xml,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

/** The response messages of an EWS answer, as elements. */
export function responseMessages(text: string): XmlElement[] {
  const body = child(parseXml(text), NS.soap, 'Body');
  const response = body?.children[0];
  return child(response, NS.m, 'ResponseMessages')?.children ?? [];
}

export function code(message: XmlElement | undefined): string | undefined {
  return textOf(child(message, NS.m, 'ResponseCode'));
}

export function faultCode(text: string): string | undefined {
  const fault = child(child(parseXml(text), NS.soap, 'Body'), NS.soap, 'Fault');
  return textOf(child(child(fault, '', 'detail'), NS.e, 'ResponseCode'));
}

export async function subscribe(
  sim: ExchangeSimulator,
  url: string,
  options: {
    statusFrequency?: number;
    eventTypes?: string[];
    watermark?: string;
    authorization?: string;
  } = {},
) {
  const { authorization, ...rest } = options;
  const { status, text } = await ews(sim, subscribeXml({ url, ...rest }), authorization);
  if (status !== 200) throw new Error(`Subscribe answered ${status}: ${text}`);
  const message = responseMessages(text)[0];
  if (code(message) !== 'NoError') throw new Error(`Subscribe failed: ${text}`);
  return {
    subscriptionId: textOf(child(message, NS.m, 'SubscriptionId'))!,
    watermark: textOf(child(message, NS.m, 'Watermark'))!,
  };
}

/** Event element names of a received notification, in order (e.g. CreatedEvent). */
export function eventNames(notification: XmlElement): string[] {
  return children(notification, NS.t)
    .map((e) => e.local)
    .filter((name) => name.endsWith('Event'));
}

export function tText(parent: XmlElement | undefined, name: string): string | undefined {
  return textOf(child(parent, NS.t, name));
}
