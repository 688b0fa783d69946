/**
 * The Microsoft Graph client for what the engine needs: subscriptions on a mailbox's Inbox
 * messages (create, renew, reauthorize, delete) and the two reads a push needs (a message's
 * subject, sender, time and read state; the Inbox unread count).
 *
 * Credentials: app-only (a GraphTokenProvider such as ClientCredentialsTokenSource: resources
 * under `users/{mailbox}/…`, a 401 invalidates the token and the call is tried once more) or
 * delegated (the device's access token: resources under `me/…`, a 401 is final).
 * Errors: Graph's `{"error": {"code", "message"}}` → GraphRequestError with status, code,
 * request id and, for 429/503, Retry-After. No token or clientState appears in any message.
 */
import { z } from 'zod';
import { GraphRequestError } from './errors.ts';
import { baseUrl, checkHttpOptions, type HttpOptions, headerValue, retryAfterMs, send } from './http.ts';
import { type GraphTokenProvider, staticToken } from './token.ts';

export const DEFAULT_GRAPH_URL = 'https://graph.microsoft.com/v1.0';
const INBOX_MESSAGES = "mailFolders('Inbox')/messages";
const MAX_MESSAGE_LENGTH = 500;

export type GraphCredentials =
  | { type: 'app'; tokens: GraphTokenProvider }
  | { type: 'delegated'; accessToken: string };

export interface GraphClientOptions extends HttpOptions {
  credentials: GraphCredentials;
  /** Default https://graph.microsoft.com/v1.0 */
  graphUrl?: string;
  userAgent?: string;
  now?: () => number;
}

export interface CreateSubscriptionInput {
  /** User principal name or object id; ignored for delegated credentials (`me`). */
  mailbox: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string;
  clientState: string;
  expiration: Date;
  includeResourceData?: boolean;
  /** base64 DER of Herald's encryption certificate (required with includeResourceData). */
  encryptionCertificate?: string;
  encryptionCertificateId?: string;
  /** With includeResourceData: the message properties Graph encrypts into the notification. */
  select?: readonly string[];
}

export interface GraphSubscription {
  id: string;
  resource: string;
  expirationDateTime: Date;
  applicationId?: string;
  includeResourceData: boolean;
  encryptionCertificateId?: string;
}

export interface GraphMessage {
  id: string;
  subject: string | undefined;
  from: { name?: string; address?: string } | undefined;
  receivedDateTime: string | undefined;
  isRead: boolean | undefined;
}

/** Properties Herald asks for (and has Graph encrypt into rich notifications). */
export const MESSAGE_SELECT = ['subject', 'from', 'receivedDateTime', 'isRead'] as const;

const subscriptionSchema = z.object({
  id: z.string().min(1).max(256),
  resource: z.string().max(2048),
  expirationDateTime: z.string().refine((s) => !Number.isNaN(Date.parse(s))),
  applicationId: z.string().nullish(),
  includeResourceData: z.boolean().nullish(),
  encryptionCertificateId: z.string().nullish(),
});

const emailAddress = z
  .object({ emailAddress: z.object({ name: z.string().nullish(), address: z.string().nullish() }).nullish() })
  .nullish();

export const messageSchema = z.object({
  id: z.string().min(1).max(1024),
  subject: z.string().nullish(),
  from: emailAddress,
  receivedDateTime: z.string().nullish(),
  isRead: z.boolean().nullish(),
});

const folderSchema = z.object({ unreadItemCount: z.number().int().nonnegative() });

export function toGraphMessage(m: z.infer<typeof messageSchema>): GraphMessage {
  const address = m.from?.emailAddress;
  return {
    id: m.id,
    subject: m.subject ?? undefined,
    from: address ? { name: address.name ?? undefined, address: address.address ?? undefined } : undefined,
    receivedDateTime: m.receivedDateTime ?? undefined,
    isRead: m.isRead ?? undefined,
  };
}

function redact(text: string, secrets: Array<string | undefined>): string {
  let out = text.slice(0, MAX_MESSAGE_LENGTH);
  for (const secret of secrets) if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}

export class GraphClient {
  readonly #options: GraphClientOptions;
  readonly #tokens: GraphTokenProvider;
  readonly #delegated: boolean;
  readonly #graphUrl: string;
  readonly #now: () => number;

  constructor(options: GraphClientOptions) {
    checkHttpOptions(options);
    this.#options = options;
    this.#graphUrl = baseUrl(options.graphUrl ?? DEFAULT_GRAPH_URL, 'graphUrl');
    this.#now = options.now ?? Date.now;
    const credentials = options.credentials;
    if (credentials.type === 'app') this.#tokens = credentials.tokens;
    else if (credentials.type === 'delegated') this.#tokens = staticToken(credentials.accessToken);
    else throw new TypeError('credentials.type must be app or delegated');
    this.#delegated = credentials.type === 'delegated';
    if (options.userAgent !== undefined && !/^[\x20-\x7E]{1,256}$/.test(options.userAgent)) {
      throw new TypeError('userAgent must be printable ASCII');
    }
  }

  /** The subscription resource for a mailbox's Inbox messages. */
  inboxResource(mailbox: string, select?: readonly string[]): string {
    const query = select?.length ? `?$select=${select.join(',')}` : '';
    // In the JSON body the resource path is written plainly (users/{upn}/…), not percent-encoded.
    this.#user(mailbox);
    return `${this.#delegated ? 'me' : `users/${mailbox}`}/${INBOX_MESSAGES}${query}`;
  }

  async createSubscription(input: CreateSubscriptionInput): Promise<GraphSubscription> {
    const rich = input.includeResourceData === true;
    if (rich && !(input.encryptionCertificate && input.encryptionCertificateId)) {
      throw new TypeError('includeResourceData needs encryptionCertificate and encryptionCertificateId');
    }
    if (typeof input.clientState !== 'string' || !input.clientState || input.clientState.length > 128) {
      throw new TypeError('clientState must be 1 to 128 characters');
    }
    const body: Record<string, unknown> = {
      changeType: 'created',
      notificationUrl: input.notificationUrl,
      lifecycleNotificationUrl: input.lifecycleNotificationUrl,
      resource: this.inboxResource(input.mailbox, rich ? (input.select ?? MESSAGE_SELECT) : undefined),
      expirationDateTime: isoTime(input.expiration),
      clientState: input.clientState,
      latestSupportedTlsVersion: 'v1_2',
    };
    if (rich) {
      body.includeResourceData = true;
      body.encryptionCertificate = input.encryptionCertificate;
      body.encryptionCertificateId = input.encryptionCertificateId;
    }
    const json = await this.#call('POST', '/subscriptions', body, [input.clientState], [201]);
    return subscription(json);
  }

  /**
   * PATCH expirationDateTime (this also reauthorizes the subscription). With `rotate`, the
   * subscription moves to a new encryption certificate in the same call, as Microsoft advises
   * for key rotation ("make this update part of regular subscription renewal").
   */
  async renewSubscription(
    id: string,
    expiration: Date,
    rotate?: { encryptionCertificate: string; encryptionCertificateId: string },
  ): Promise<GraphSubscription> {
    const body: Record<string, unknown> = { expirationDateTime: isoTime(expiration) };
    if (rotate) {
      body.encryptionCertificate = rotate.encryptionCertificate;
      body.encryptionCertificateId = rotate.encryptionCertificateId;
    }
    return subscription(await this.#call('PATCH', `/subscriptions/${segment(id)}`, body));
  }

  /** Answer a reauthorizationRequired challenge without changing the expiration. */
  async reauthorize(id: string): Promise<void> {
    await this.#call('POST', `/subscriptions/${segment(id)}/reauthorize`, undefined, [], [200, 202, 204]);
  }

  /** Delete a subscription; one Graph no longer knows (404) counts as deleted. */
  async deleteSubscription(id: string): Promise<void> {
    try {
      await this.#call('DELETE', `/subscriptions/${segment(id)}`, undefined, [], [200, 204]);
    } catch (error) {
      if (error instanceof GraphRequestError && error.status === 404) return;
      throw error;
    }
  }

  async getMessage(mailbox: string, messageId: string): Promise<GraphMessage> {
    const json = await this.#call(
      'GET',
      `/${this.#user(mailbox)}/messages/${segment(messageId)}?$select=${MESSAGE_SELECT.join(',')}`,
    );
    return toGraphMessage(parsed(messageSchema, json));
  }

  async getInboxUnreadCount(mailbox: string): Promise<number> {
    const json = await this.#call(
      'GET',
      `/${this.#user(mailbox)}/mailFolders('Inbox')?$select=unreadItemCount`,
    );
    return parsed(folderSchema, json).unreadItemCount;
  }

  #user(mailbox: string): string {
    if (this.#delegated) return 'me';
    if (typeof mailbox !== 'string' || !mailbox || mailbox.length > 320 || /[\s/\\?#'"]/.test(mailbox)) {
      throw new TypeError('mailbox must be a user principal name or object id');
    }
    return `users/${segment(mailbox)}`;
  }

  async #call(
    method: string,
    path: string,
    body?: unknown,
    secrets: string[] = [],
    ok: number[] = [200],
  ): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.#tokens.getToken();
      const headers: Record<string, string> = {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
      };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (this.#options.userAgent) headers['user-agent'] = this.#options.userAgent;
      const answer = await send(this.#options, {
        method,
        url: `${this.#graphUrl}${path}`,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (ok.includes(answer.status)) return answer.json;
      if (answer.status === 401 && attempt === 1 && this.#tokens.invalidate) {
        this.#tokens.invalidate(token);
        continue;
      }
      throw this.#error(answer, [token, ...secrets]);
    }
  }

  #error(answer: Awaited<ReturnType<typeof send>>, secrets: string[]): GraphRequestError {
    const error = (answer.json as { error?: Record<string, unknown> } | undefined)?.error;
    const code = typeof error?.code === 'string' ? error.code.slice(0, 100) : `HTTP${answer.status}`;
    const message =
      typeof error?.message === 'string' ? error.message : `Graph answered HTTP ${answer.status}`;
    const inner = error?.innerError as Record<string, unknown> | undefined;
    const requestId =
      headerValue(answer.headers, 'request-id') ??
      (typeof inner?.['request-id'] === 'string' ? (inner['request-id'] as string) : undefined);
    const retryable = answer.status === 429 || answer.status === 503;
    return new GraphRequestError(code, `Graph ${answer.status} ${code}: ${redact(message, secrets)}`, {
      status: answer.status,
      requestId,
      retryAfterMs: retryable
        ? retryAfterMs(headerValue(answer.headers, 'retry-after'), this.#now())
        : undefined,
    });
  }
}

/** A path segment: percent-encoded, but keeping the pchar delimiters Graph ids and UPNs use (RFC 3986). */
function segment(id: string): string {
  if (typeof id !== 'string' || !id || id.length > 1024) throw new TypeError('id must be a non-empty string');
  return encodeURIComponent(id).replace(/%(40|3D|3A|2B|2C|24|3B)/g, (e) => decodeURIComponent(e));
}

function isoTime(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(+date)) throw new TypeError('expiration must be a valid Date');
  return date.toISOString();
}

function parsed<T>(schema: z.ZodType<T>, json: unknown): T {
  const result = schema.safeParse(json);
  if (!result.success) {
    throw new GraphRequestError('invalid_response', 'Graph answered with an unexpected body', {
      cause: result.error,
    });
  }
  return result.data;
}

function subscription(json: unknown): GraphSubscription {
  const s = parsed(subscriptionSchema, json);
  return {
    id: s.id,
    resource: s.resource,
    expirationDateTime: new Date(s.expirationDateTime),
    applicationId: s.applicationId ?? undefined,
    includeResourceData: s.includeResourceData === true,
    encryptionCertificateId: s.encryptionCertificateId ?? undefined,
  };
}
