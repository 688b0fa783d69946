/**
 * The EWS client: builds a request, sends it with undici, maps every way it can fail onto the
 * error catalogue (exchange_auth_failed, exchange_unreachable, exchange_busy, exchange_error).
 */
import { createHash } from 'node:crypto';
import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, type Dispatcher, ProxyAgent, request } from 'undici';
import { HeraldError } from '../../errors/index.ts';
import { buildGetInboxRequest, parseGetInboxUnreadCount } from './operations/get-folder.ts';
import { buildGetItemRequest, parseGetItemResponse } from './operations/get-item.ts';
import { buildSubscribeRequest, parseSubscribeResponse } from './operations/subscribe.ts';
import { buildUnsubscribeRequest, parseUnsubscribeResponse } from './operations/unsubscribe.ts';
import { defaultRequestServerVersion, exchangeVersions } from './soap.ts';
import type { EwsAuth, EwsClientHandle, EwsClientOptions, EwsTarget } from './types.ts';
import { XmlError, type XmlLimits } from './xml.ts';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_MAX_CERTIFICATE_AGENTS = 100;
/** Header values must be visible ASCII or spaces (RFC 9110 section 5.5); no CR/LF injection. */
const SAFE_HEADER_VALUE = /^[\x20-\x7E]+$/;

type Parse<T> = (body: Uint8Array, limits: Partial<XmlLimits>) => T;

function validateOptions(options: EwsClientOptions): void {
  if (typeof options.userAgent !== 'string' || !SAFE_HEADER_VALUE.test(options.userAgent)) {
    throw new TypeError('userAgent must be a non-empty printable ASCII string');
  }
  const version = options.requestServerVersion;
  if (version !== undefined && !(exchangeVersions as readonly string[]).includes(version)) {
    throw new TypeError(
      `requestServerVersion must be one of types.xsd ExchangeVersionType, e.g. Exchange2013`,
    );
  }
  for (const [name, value] of [
    ['timeoutMs', options.timeoutMs],
    ['maxResponseBytes', options.maxResponseBytes],
    ['maxCertificateAgents', options.maxCertificateAgents],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
      throw new TypeError(`${name} must be a positive integer`);
    }
  }
  if (options.ca !== undefined && !options.ca.every((pem) => pem.includes('-----BEGIN CERTIFICATE-----'))) {
    throw new TypeError('ca must be a list of PEM certificates');
  }
  if (options.proxyUrl !== undefined) new URL(options.proxyUrl);
}

function authorizationHeader(auth: EwsAuth): string | undefined {
  let value: string;
  if (auth.type === 'basic') {
    // RFC 7617: base64 of UTF-8 "user-id:password".
    value = `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
  } else if (auth.type === 'oauth') {
    value = `Bearer ${auth.accessToken}`;
  } else {
    return undefined; // the certificate authenticates the TLS connection itself
  }
  if (!SAFE_HEADER_VALUE.test(value)) {
    throw new HeraldError('exchange_auth_failed', { details: { reason: 'credentials_unusable' } });
  }
  return value;
}

/** TLS alerts a server sends when it refuses the client certificate (or its absence). */
const CLIENT_CERT_REFUSED =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REQUIRED|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|ACCESS_DENIED)/;

/** Map a transport failure (nothing usable came back) to the catalogue. */
export function transportError(err: unknown): HeraldError {
  if (err instanceof HeraldError) return err;
  const code = String((err as { code?: unknown })?.code ?? '');
  const name = String((err as { name?: unknown })?.name ?? '');
  if (CLIENT_CERT_REFUSED.test(code)) {
    return new HeraldError('exchange_auth_failed', {
      cause: err,
      details: { reason: 'client_certificate_refused' },
    });
  }
  let reason = 'network';
  if (name === 'TimeoutError' || name === 'AbortError' || /TIMEOUT|ETIMEDOUT|ABORTED/.test(code))
    reason = 'timeout';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') reason = 'dns';
  else if (code === 'ECONNREFUSED') reason = 'connection_refused';
  else if (/CERT|SSL|TLS|SIGNATURE|ISSUER/.test(code)) reason = 'tls';
  return new HeraldError('exchange_unreachable', { cause: err, details: { reason } });
}

/** Drop a body we will not read; undici reports the destruction as an 'error' nobody needs. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

async function readLimited(body: Dispatcher.ResponseData['body'], max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      discard(body);
      throw new HeraldError('exchange_error', { details: { reason: 'response_too_large' } });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export function createEwsClient(options: EwsClientOptions): EwsClientHandle {
  validateOptions(options);
  const version = options.requestServerVersion ?? defaultRequestServerVersion;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const maxAgents = options.maxCertificateAgents ?? DEFAULT_MAX_CERTIFICATE_AGENTS;
  const limits: Partial<XmlLimits> = { maxBytes };
  // Extra CAs are added to, not substituted for, the system store: Node's `ca` option replaces
  // the default roots, so they are passed along explicitly.
  const baseTls = options.ca?.length ? { ca: [...rootCertificates, ...options.ca] } : {};
  const owned = new Set<Dispatcher>();
  // Certificate agents keyed by a fingerprint of the credential: a connection authenticated with
  // one user's certificate must never carry another user's request. Insertion order = LRU order.
  const certificateAgents = new Map<string, Dispatcher>();
  let shared = options.dispatcher;
  // Herald's own certificate towards its gateway (a user's certificate, for certificate auth,
  // takes its place on that user's connections).
  const gatewayTls = options.gateway?.cert ? { cert: options.gateway.cert, key: options.gateway.key } : {};
  let closed = false;

  function makeAgent(tlsOptions: Record<string, unknown>): Dispatcher {
    const connect = { ...baseTls, ...tlsOptions, timeout: Math.min(timeoutMs, 10_000) };
    const agent = options.proxyUrl
      ? new ProxyAgent({ uri: options.proxyUrl, requestTls: connect, proxyTls: baseTls })
      : new Agent({ connect });
    owned.add(agent);
    return agent;
  }

  function retire(agent: Dispatcher): void {
    owned.delete(agent);
    // close() lets requests in flight finish; a failure to close leaks nothing we can act on.
    agent.close().catch(() => {});
  }

  function dispatcherFor(auth: EwsAuth): Dispatcher {
    if (closed) throw new HeraldError('unavailable', { details: { reason: 'ews_client_closed' } });
    if (auth.type !== 'certificate') {
      shared ??= makeAgent(gatewayTls);
      return shared;
    }
    const key = createHash('sha256').update(auth.pkcs12).update('\0').update(auth.passphrase).digest('hex');
    const cached = certificateAgents.get(key);
    if (cached) {
      certificateAgents.delete(key);
      certificateAgents.set(key, cached);
      return cached;
    }
    try {
      // Fails fast on a wrong passphrase or a broken PKCS#12, before any connection is tried.
      createSecureContext({ pfx: auth.pkcs12, passphrase: auth.passphrase });
    } catch (cause) {
      throw new HeraldError('exchange_auth_failed', {
        cause,
        details: { reason: 'client_certificate_unusable' },
      });
    }
    const agent = makeAgent({ pfx: auth.pkcs12, passphrase: auth.passphrase });
    certificateAgents.set(key, agent);
    if (certificateAgents.size > maxAgents) {
      const [oldestKey, oldest] = certificateAgents.entries().next().value!;
      certificateAgents.delete(oldestKey);
      retire(oldest);
    }
    return agent;
  }

  async function call<T>(
    target: EwsTarget,
    operation: string,
    envelope: string,
    parse: Parse<T>,
  ): Promise<T> {
    const url = new URL(target.url);
    if (options.gateway) {
      const origin = new URL(options.gateway.origin);
      url.protocol = origin.protocol;
      url.host = origin.host;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('EWS url must be http(s)');
    const headers: Record<string, string> = {
      'content-type': 'text/xml; charset=utf-8',
      accept: 'text/xml',
      'user-agent': options.userAgent,
      // Not required by EWS, but what WSDL-driven clients send (messages namespace + operation).
      soapaction: `"http://schemas.microsoft.com/exchange/services/2006/messages/${operation}"`,
    };
    const authorization = authorizationHeader(target.auth);
    if (authorization) headers.authorization = authorization;
    const dispatcher = dispatcherFor(target.auth);

    let response: Dispatcher.ResponseData;
    let body: Buffer;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      response = await request(url, {
        method: 'POST',
        headers,
        body: envelope,
        dispatcher,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const { statusCode } = response;
      if (statusCode === 403 && response.headers['x-herald-gateway'] === 'blocked') {
        await response.body.dump();
        throw new HeraldError('mailbox_blocked', { details: { httpStatus: statusCode } });
      }
      if (statusCode === 401 || statusCode === 403) {
        await response.body.dump();
        throw new HeraldError('exchange_auth_failed', { details: { httpStatus: statusCode } });
      }
      const length = Number(response.headers['content-length']);
      if (length > maxBytes) {
        discard(response.body);
        throw new HeraldError('exchange_error', { details: { reason: 'response_too_large' } });
      }
      body = await readLimited(response.body, maxBytes);
    } catch (err) {
      throw transportError(err);
    }

    if (response.statusCode === 200) {
      try {
        return parse(body, limits);
      } catch (err) {
        if (err instanceof XmlError) {
          throw new HeraldError('exchange_error', { cause: err, details: { reason: 'invalid_response' } });
        }
        throw err;
      }
    }
    // EWS reports schema errors, invalid versions and (on some builds) throttling as a soap:Fault
    // with HTTP 500; the parser turns a fault into the mapped HeraldError.
    try {
      parse(body, limits);
    } catch (err) {
      if (!(err instanceof XmlError)) throw err;
    }
    const httpStatus = response.statusCode;
    if (httpStatus === 429 || httpStatus === 503) {
      const backOffMs = retryAfterMs(response.headers['retry-after']);
      const details: Record<string, unknown> = { httpStatus };
      if (backOffMs !== undefined) details.backOffMs = backOffMs;
      throw new HeraldError('exchange_busy', { details });
    }
    throw new HeraldError('exchange_error', { details: { httpStatus } });
  }

  return {
    // async so that a bad argument (a RangeError from a builder) rejects instead of throwing.
    subscribe: async (target, subscribeOptions) =>
      call(target, 'Subscribe', buildSubscribeRequest(subscribeOptions, version), parseSubscribeResponse),
    unsubscribe: async (target, subscriptionId) =>
      call(target, 'Unsubscribe', buildUnsubscribeRequest(subscriptionId, version), parseUnsubscribeResponse),
    getItem: async (target, itemId) =>
      call(target, 'GetItem', buildGetItemRequest(itemId, version), parseGetItemResponse),
    getInboxUnreadCount: async (target) =>
      call(target, 'GetFolder', buildGetInboxRequest(version), parseGetInboxUnreadCount),
    async close() {
      closed = true;
      const agents = [...owned];
      owned.clear();
      certificateAgents.clear();
      await Promise.all(agents.map((agent) => agent.close()));
    },
  };
}
