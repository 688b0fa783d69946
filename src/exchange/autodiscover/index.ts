/**
 * Autodiscover v2 (the JSON service Exchange Server 2016+ and Exchange Online answer): where a
 * mailbox's EWS endpoint is. `GET {endpoint}/autodiscover/autodiscover.json/v1.0/{email}?Protocol=EWS`
 * answers `{"Protocol": "EWS", "Url": "https://…/EWS/Exchange.asmx"}`; an endpoint may redirect
 * (a hybrid organisation's on-premises server to Exchange Online, or the reverse).
 *
 * Endpoints are tried in order; `{domain}` in one is the mailbox's domain, so the default
 * `https://autodiscover.{domain}` asks the organisation's own Autodiscover host (on-premises
 * Exchange; an Exchange Online domain's CNAME to Microsoft does not serve HTTPS under the domain's
 * name, so such domains need `https://outlook.office365.com` or the tenant's Graph domains). A
 * redirect or an answer never goes from https to http. Each endpoint has one deadline, redirects
 * included. Errors name the endpoint as configured (with `{domain}`, not the address): they may be
 * logged.
 */
import type { Dispatcher } from 'undici';
import { GraphRequestError } from '../graph/errors.ts';
import { headerValue, send } from '../graph/http.ts';

export const DEFAULT_AUTODISCOVER_ENDPOINTS: readonly string[] = ['https://autodiscover.{domain}'];
const MAX_REDIRECTS = 3;

export interface AutodiscoverOptions {
  /** Origins tried in order, e.g. `https://autodiscover.{domain}`, `https://outlook.office365.com`. */
  endpoints: readonly string[];
  userAgent: string;
  timeoutMs: number;
  dispatcher?: Dispatcher;
}

/** What one endpoint answered, for the error of a lookup that found nothing. */
export interface AutodiscoverAttempt {
  endpoint: string;
  outcome: string;
}

export class AutodiscoverError extends Error {
  override name = 'AutodiscoverError';
  readonly attempts: readonly AutodiscoverAttempt[];
  constructor(attempts: readonly AutodiscoverAttempt[]) {
    super(
      `Autodiscover found no EWS URL (${attempts.map((a) => `${a.endpoint}: ${a.outcome}`).join('; ') || 'no endpoints'})`,
    );
    this.attempts = attempts;
  }
}

/** Check the endpoint templates (configuration time): http(s) origins, `{domain}` allowed in the host. */
export function checkEndpoint(template: string): string | undefined {
  let url: URL;
  try {
    url = new URL(template.replaceAll('{domain}', 'example.com'));
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    return 'must be an origin only (scheme, host, port), e.g. https://autodiscover.{domain}';
  }
  return undefined;
}

function mailDomain(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}

function lookupUrl(origin: string, email: string): string {
  return `${origin.replace(/\/+$/, '')}/autodiscover/autodiscover.json/v1.0/${encodeURIComponent(email)}?Protocol=EWS`;
}

/** An https answer may only point at https; an http endpoint (a lab, the simulator) at either. */
function allowedTarget(value: unknown, from: URL): URL | undefined {
  if (typeof value !== 'string' || !URL.canParse(value, from.href)) return undefined;
  const url = new URL(value, from);
  if (url.protocol === 'https:') return url;
  return url.protocol === 'http:' && from.protocol === 'http:' ? url : undefined;
}

/** One endpoint: the EWS URL, or why not (redirects followed). */
async function ask(
  options: AutodiscoverOptions,
  start: string,
): Promise<{ ewsUrl: string } | { outcome: string }> {
  let url = new URL(start);
  const deadline = Date.now() + options.timeoutMs;
  for (let hop = 0; ; hop += 1) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { outcome: 'timeout' };
    let answer: Awaited<ReturnType<typeof send>>;
    try {
      answer = await send(
        {
          timeoutMs: remaining,
          maxResponseBytes: 64 * 1024,
          ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        },
        {
          method: 'GET',
          url: url.href,
          headers: { accept: 'application/json', 'user-agent': options.userAgent },
        },
      );
    } catch (error) {
      return { outcome: error instanceof GraphRequestError ? error.code : 'network' };
    }
    if ([301, 302, 307, 308].includes(answer.status)) {
      const next = allowedTarget(headerValue(answer.headers, 'location'), url);
      if (!next)
        return { outcome: `HTTP ${answer.status} to a location refused (not http(s), or https to http)` };
      if (hop >= MAX_REDIRECTS) return { outcome: `more than ${MAX_REDIRECTS} redirects` };
      url = next;
      continue;
    }
    if (answer.status !== 200) return { outcome: `HTTP ${answer.status}` };
    const body = answer.json as { Protocol?: unknown; Url?: unknown } | undefined;
    const absolute = typeof body?.Url === 'string' && /^https?:\/\//i.test(body.Url);
    const ews =
      absolute && String(body?.Protocol).toLowerCase() === 'ews' ? allowedTarget(body?.Url, url) : undefined;
    if (!ews) {
      return { outcome: 'answer without an acceptable EWS Url' };
    }
    ews.hash = '';
    return { ewsUrl: ews.href };
  }
}

/** The mailbox's EWS URL from the first endpoint that knows it; AutodiscoverError when none does. */
export async function discoverEwsUrl(
  email: string,
  options: AutodiscoverOptions,
): Promise<{ ewsUrl: string; endpoint: string }> {
  const domain = mailDomain(email);
  const attempts: AutodiscoverAttempt[] = [];
  for (const endpoint of options.endpoints) {
    const origin = endpoint.replaceAll('{domain}', domain);
    if (!URL.canParse(origin)) {
      attempts.push({ endpoint, outcome: 'not a URL for this domain' });
      continue;
    }
    const result = await ask(options, lookupUrl(origin, email));
    if ('ewsUrl' in result) return { ewsUrl: result.ewsUrl, endpoint };
    attempts.push({ endpoint, outcome: result.outcome });
  }
  throw new AutodiscoverError(attempts);
}
