/**
 * `herald sim exchange`: a simulator of Exchange Web Services push notifications, built from
 * Microsoft's public specification (MS-OXWSNTIF, the EWS reference and the published schemas)
 * for app developers and for Herald's tests. It imports nothing from Herald: it is the
 * independent peer that keeps Herald honest.
 */

import type { AddressInfo } from 'node:net';
import type { ClockOptions, ClockState } from '../clock.ts';
import type { GraphFault, GraphFaultSpec } from './graph/faults.ts';
import type { AppInfo, AppSpec, Attempt, GraphOptions, GraphSubscriptionInfo } from './graph/index.ts';
import type { LogEntry } from './log.ts';
import type { SubscriptionInfo } from './notifier.ts';
import { createSimServer, EWS_PATH, type RequestValidator } from './server.ts';
import {
  type DeliverInput,
  type DeliverResult,
  ExchangeSim,
  type ItemInfo,
  type MailboxInfo,
  type MarkReadResult,
} from './simulator.ts';
import type { MailboxSpec } from './store.ts';

export type { ClockOptions, ClockState } from '../clock.ts';
export type {
  AppInfo,
  AppSpec,
  Attempt,
  GraphDeliveryOutcome,
  GraphLimits,
  GraphOptions,
  GraphSubscriptionInfo,
} from './graph/index.ts';
export type { LogEntry } from './log.ts';
export type { CallbackOutcome, DeliveryOutcome, SubscriptionInfo, SubscriptionState } from './notifier.ts';
export type { RequestValidator } from './server.ts';
export type { DeliverInput, DeliverResult, ItemInfo, MailboxInfo, MarkReadResult } from './simulator.ts';
export type { MailboxSpec } from './store.ts';

export interface ExchangeSimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Default manual: time moves only through advance(). */
  clock?: { mode: 'manual' } | { mode: 'speed'; factor: number };
  mailboxes?: MailboxSpec[];
  log?: (line: string) => void;
  /** Check every received EWS request, e.g. against Microsoft's schemas; invalid → ErrorSchemaValidation fault. */
  validateRequests?: RequestValidator;
  /** Real milliseconds to wait for a subscriber's answer (default 30 000). */
  callbackTimeoutMs?: number;
  /** Extra CA certificates trusted for https callback URLs. */
  callbackCa?: string | Buffer | Array<string | Buffer>;
  /** Entries kept by GET /sim/log (default 500). */
  logLimit?: number;
  /** Microsoft Graph (token endpoint, subscriptions, notifications) on the same port. */
  graph?: GraphOptions;
}

export interface GraphHandle {
  tenantId: string;
  /** {url}/{tenantId}/oauth2/v2.0/token */
  tokenUrl: string;
  /** {url}/v1.0 */
  graphUrl: string;
  /** {url}/{tenantId}/discovery/v2.0/keys */
  jwksUri: string;
  registerApp(spec: AppSpec): AppInfo & { secret?: string };
  addCertificate(clientId: string, pem: string): { thumbprint: string; thumbprintSha256: string };
  /** A delegated Mail.Read token for the mailbox (minted JWT, or accept `token` as given). */
  delegatedToken(
    email: string,
    options?: { clientId?: string; lifetimeSeconds?: number; token?: string },
  ): Promise<{ token_type: string; access_token: string; expires_in?: number }>;
  subscriptions(): GraphSubscriptionInfo[];
  attempts(filter?: { subscriptionId?: string; kind?: Attempt['kind'] }): Attempt[];
  lifecycle(
    id: string,
    event: 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed',
  ): Promise<unknown>;
  corruptNextSignature(id: string): GraphSubscriptionInfo;
  /** The next matching Graph API requests are answered with an error (see GraphFaultSpec). */
  fault(spec: GraphFaultSpec): GraphFault;
  clearFaults(): void;
}

export interface ExchangeSimulator {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** {url}/EWS/Exchange.asmx */
  ewsUrl: string;
  close(): Promise<void>;
  /** Virtual now, epoch ms. */
  now(): number;
  clock(): ClockState;
  /** Advance virtual time; resolves after every callback it caused has been answered. */
  advance(ms: number): Promise<ClockState>;
  createMailbox(spec: MailboxSpec): MailboxInfo;
  mailboxes(): MailboxInfo[];
  mailbox(email: string): MailboxInfo & { items: ItemInfo[] };
  deliver(email: string, mail: DeliverInput, options?: { wait?: boolean }): Promise<DeliverResult>;
  markRead(
    email: string,
    itemId: string,
    isRead?: boolean,
    options?: { wait?: boolean },
  ): Promise<MarkReadResult>;
  subscriptions(email?: string): SubscriptionInfo[];
  subscription(id: string): SubscriptionInfo;
  killSubscription(id: string): SubscriptionInfo;
  /** Fault: the next `count` events are lost (the watermark moves past them: a gap). */
  loseEvents(id: string, count: number): SubscriptionInfo;
  revokeToken(token: string): { revoked: boolean };
  addToken(email: string, token: string): MailboxInfo;
  log(options?: { since?: number; limit?: number; kind?: LogEntry['kind'] }): LogEntry[];
  graph: GraphHandle;
}

export async function startExchangeSimulator(
  options: ExchangeSimulatorOptions = {},
): Promise<ExchangeSimulator> {
  const sim = new ExchangeSim({
    clock: options.clock as ClockOptions | undefined,
    log: options.log,
    callbackTimeoutMs: options.callbackTimeoutMs,
    callbackCa: options.callbackCa,
    logLimit: options.logLimit,
    graph: options.graph,
  });
  for (const spec of options.mailboxes ?? []) sim.createMailbox(spec);
  const server = createSimServer(sim, { validateRequests: options.validateRequests, log: options.log });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
  sim.baseUrl = url;
  const graphInfo = sim.graph.info(url);
  options.log?.(
    `Exchange simulator listening on ${url} (EWS at ${url}${EWS_PATH}, Graph at ${graphInfo.graphUrl}, token endpoint ${graphInfo.tokenUrl}, control API at ${url}/sim/)`,
  );

  let closed: Promise<void> | undefined;
  return {
    url,
    ewsUrl: `${url}${EWS_PATH}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        sim.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
    now: () => sim.clock.now(),
    clock: () => sim.clock.state(),
    advance: (ms) => sim.advance(ms),
    createMailbox: (spec) => sim.createMailbox(spec),
    mailboxes: () => sim.mailboxes(),
    mailbox: (email) => sim.mailbox(email),
    deliver: (email, mail, opts) => sim.deliver(email, mail, opts),
    markRead: (email, itemId, isRead, opts) => sim.markRead(email, itemId, isRead, opts),
    subscriptions: (email) => sim.subscriptions(email),
    subscription: (id) => sim.subscription(id),
    killSubscription: (id) => sim.killSubscription(id),
    loseEvents: (id, count) => sim.loseEvents(id, count),
    revokeToken: (token) => sim.revokeToken(token),
    addToken: (email, token) => sim.addToken(email, token),
    log: (opts) => sim.log.list(opts),
    graph: {
      tenantId: graphInfo.tenantId,
      tokenUrl: graphInfo.tokenUrl,
      graphUrl: graphInfo.graphUrl,
      jwksUri: graphInfo.jwksUri,
      registerApp: (spec) => sim.graph.entra.registerApp(spec),
      addCertificate: (clientId, pem) => sim.graph.entra.addCertificate(clientId, pem),
      delegatedToken: async (email, opts) => sim.graph.delegatedToken(email, opts),
      subscriptions: () => sim.graph.service.subscriptions(),
      attempts: (filter) => sim.graph.service.attempts(filter),
      lifecycle: (id, event) => sim.graph.service.lifecycle(id, event),
      corruptNextSignature: (id) => sim.graph.service.corruptNextSignature(id),
      fault: (spec) => sim.graph.faults.add(spec),
      clearFaults: () => sim.graph.faults.clear(),
    },
  };
}

export const simExchangeUsage = `herald sim exchange: Exchange Web Services push and Microsoft Graph simulator

Options (wired by the CLI): --host H --port N --clock-speed F (virtual time = real x F; default 1)
or --manual-clock (time moves only through the control API), --mailbox EMAIL[:PASSWORD] and
--token EMAIL:TOKEN (both repeatable); Graph: --graph-tenant GUID, --graph-app CLIENT_ID:SECRET
and --graph-token EMAIL:TOKEN (both repeatable), --graph-https-only

EWS endpoint
  POST /EWS/Exchange.asmx          SOAP 1.1: Subscribe (push, Inbox), Unsubscribe, GetItem, GetFolder
                                   auth: HTTP Basic (email or username) or Authorization: Bearer TOKEN

Autodiscover v2 (no auth)
  GET /autodiscover/autodiscover.json/v1.0/{email}?Protocol=EWS|ActiveSync
                                   -> {"Protocol", "Url"}: this simulator's EWS URL, or the mailbox's
                                   autodiscoverEwsUrl; 404 for an unknown address

Control API (JSON; errors are {"error": {"code", "message"}} with a 4xx status;
percent-encode ids in paths)
  GET    /sim/mailboxes                                  list mailboxes
  POST   /sim/mailboxes                                  {email, password?, username?, tokens?: [],
                                                         autodiscoverEwsUrl?}
  GET    /sim/mailboxes/{email}                          mailbox with its items
  POST   /sim/mailboxes/{email}/deliver[?wait=true]      {subject, from: {name?, address}, body?, bodyType?}
                                                         -> {itemId, changeKey, outcomes?}; with wait the
                                                         answer comes after every subscriber answered
  POST   /sim/mailboxes/{email}/items/{itemId}/read      {isRead?: true, wait?: false}
  GET    /sim/mailboxes/{email}/subscriptions            subscriptions with state, watermark, retries
  POST   /sim/mailboxes/{email}/tokens                   {token}: accept another bearer token
  GET    /sim/subscriptions[/{id}]                       all subscriptions (ended ones too)
  DELETE /sim/subscriptions/{id}                         drop a subscription silently
  POST   /sim/subscriptions/{id}/lose-events             {count?: 1}: the next events are lost on
                                                         Exchange's side (watermark moves on: a gap)
  POST   /sim/tokens/revoke                              {token}: later requests with it get 401
  GET    /sim/clock                                      virtual time and pending timers
  POST   /sim/clock/advance                              {ms}: fire due timers; returns when their
                                                         callbacks have been answered
  GET    /sim/log[?since=SEQ&limit=N&kind=ews|callback|control|graph|autodiscover]
                                                         recent requests and callbacks, bodies included

Push behaviour: each delivered mail sends one SendNotification (CreatedEvent, NewMailEvent,
ModifiedEvent on the Inbox) per subscription; a StatusEvent after StatusFrequency minutes without
traffic; failed callbacks are retried after 30 s, 60 s, 120 s... until the next interval would exceed
StatusFrequency, then the subscription dies. Answer SubscriptionStatus Unsubscribe to end one.

Graph (same port, same mailboxes; point a client's login and Graph base URLs here)
  POST   /{tenant}/oauth2/v2.0/token                     form: grant_type=client_credentials, client_id,
                                                         scope=https://graph.microsoft.com/.default and
                                                         client_secret, or client_assertion_type=urn:ietf:
                                                         params:oauth:client-assertion-type:jwt-bearer +
                                                         client_assertion (RS256+x5t or PS256+x5t#S256,
                                                         aud = this URL, iss = sub = client id, exp/nbf);
                                                         {tenant} = the tenant id or a mailbox domain;
                                                         errors: {error, error_description "AADSTS…",
                                                         error_codes}
  GET    /{tenant}/discovery/v2.0/keys                   JWKS of access and validation tokens (also
                                                         /common/discovery/keys, /{tenant}/v2.0/.well-known/
                                                         openid-configuration)
  POST   /v1.0/subscriptions                             resource users/{id|email}/mailFolders('Inbox')/messages
                                                         (or /mailFolders/inbox/, me/… with a delegated
                                                         token; ?$select=… for rich data), changeType
                                                         created,updated,deleted; handshake on
                                                         notificationUrl and lifecycleNotificationUrl
  GET    /v1.0/subscriptions[/{id}]   PATCH|DELETE /v1.0/subscriptions/{id}   POST …/{id}/reauthorize
  GET    /v1.0/{users/{id}|me}/messages/{id}[?$select=subject,from,receivedDateTime,isRead]
  GET    /v1.0/{users/{id}|me}/mailFolders('Inbox')      unreadItemCount, totalItemCount
  Tokens: app-only JWTs carry roles ["Mail.Read"] and may use any mailbox (or only the app's
  "mailboxes": 403 ErrorAccessDenied otherwise); delegated ones (scp Mail.Read) only their own.
  Expired (simulator clock) or unknown tokens: 401 InvalidAuthenticationToken.

Graph limits (Microsoft's documentation; all settable through startExchangeSimulator({graph}))
  expirationDateTime at most 10080 minutes ahead (1440 with includeResourceData); clientState at
  most 128 characters; notificationUrl must be https, except http to a loopback host (allowed by
  default for tests; --graph-https-only refuses it); includeResourceData needs
  encryptionCertificate (base64 DER, RSA 2048-4096) and encryptionCertificateId; the handshake
  POST url?validationToken=… must be answered 200 text/plain with the decoded token within 10 s
  (else 400 ValidationError); a notification must be answered 2xx within 3 s, else it is retried
  after 1 min, 2 min, 4 min… (simulator clock) until 4 hours after the first attempt; at
  expirationDateTime the subscription is removed.

Graph control API
  GET    /sim/graph                                      tenant id, token/JWKS/Graph URLs, limits, user ids
  GET    /sim/graph/apps    POST /sim/graph/apps         {clientId?, secret?, certificate? (PEM),
                                                         roles?: ["Mail.Read"], mailboxes?: [email]}
  POST   /sim/graph/apps/{clientId}/certificates         {certificate: PEM}: accept its assertions
  POST   /sim/graph/tokens                               {email, lifetimeSeconds?, clientId?} -> a delegated
                                                         token; {email, token}: accept that opaque token
  GET    /sim/graph/subscriptions[/{id}]                 state, expiry, reauthorization, held notifications
  POST   /sim/graph/subscriptions/{id}/lifecycle         {event: reauthorizationRequired|subscriptionRemoved|
                                                         missed}: POST it to lifecycleNotificationUrl;
                                                         reauthorizationRequired holds change notifications
                                                         until POST /v1.0/subscriptions/{id}/reauthorize or a
                                                         PATCH; subscriptionRemoved deletes the subscription
  POST   /sim/graph/subscriptions/{id}/corrupt-signature the next rich notification has a wrong dataSignature
  GET    /sim/graph/notifications[?subscriptionId=&kind=validation|change|lifecycle]
                                                         every attempt: status, attempt number, next retry
  POST   /sim/graph/faults                               {status: 429|500|503|504, method?, path?, times?: 1,
                                                         retryAfterSeconds?}: the next matching Graph API
                                                         requests (path after /v1.0) get that error
  GET    /sim/graph/faults, DELETE /sim/graph/faults     list, clear
`;
