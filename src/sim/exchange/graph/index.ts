/**
 * The Microsoft Graph side of the Exchange simulator: the same mailboxes served through Graph
 * (token endpoint, subscriptions, change and lifecycle notifications, messages and the Inbox),
 * built from Microsoft's public documentation:
 * - learn.microsoft.com/graph/api/resources/subscription (properties, maximum lifetimes)
 * - learn.microsoft.com/graph/change-notifications-delivery-webhooks (validation handshake,
 *   3-second answers, retries for up to 4 hours)
 * - learn.microsoft.com/graph/change-notifications-with-resource-data (encryptedContent,
 *   validationTokens)
 * - learn.microsoft.com/graph/change-notifications-lifecycle-events (lifecycle notifications)
 * - learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow and
 *   …/certificate-credentials (token endpoint, client assertions)
 */

import type { SimClock } from '../../clock.ts';
import type { RingLog } from '../log.ts';
import type { Mailbox, MailboxStore } from '../store.ts';
import { type AppSpec, Entra } from './entra.ts';
import { GraphFaults } from './faults.ts';
import { userId } from './resources.ts';
import { type GraphLimits, GraphService } from './service.ts';

export type { AppInfo, AppSpec } from './entra.ts';
export type { Attempt, GraphDeliveryOutcome, GraphLimits, GraphSubscriptionInfo } from './service.ts';

export interface GraphOptions extends Partial<GraphLimits> {
  /** The simulated tenant (a GUID; default random). */
  tenantId?: string;
  /** Lifetime of access tokens in seconds (default 3599). */
  tokenLifetimeSeconds?: number;
  /** Apps registered at start (`--graph-app CLIENT_ID:SECRET`). */
  apps?: AppSpec[];
  /** Opaque delegated tokens accepted at start (`--graph-token EMAIL:TOKEN`). */
  tokens?: Array<{ email: string; token: string }>;
}

export class GraphSim {
  readonly entra: Entra;
  readonly service: GraphService;
  /** Errors the Graph API answers instead, for clients' retry paths. */
  readonly faults = new GraphFaults();
  readonly #store: MailboxStore;
  readonly #clock: SimClock;

  constructor(deps: {
    store: MailboxStore;
    clock: SimClock;
    log: RingLog;
    options?: GraphOptions;
    callbackCa?: string | Buffer | Array<string | Buffer>;
    say?: (line: string) => void;
  }) {
    const { tenantId, tokenLifetimeSeconds, apps, tokens, ...limits } = deps.options ?? {};
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.entra = new Entra(() => deps.clock.now(), { tenantId, tokenLifetimeSeconds });
    this.service = new GraphService({
      store: deps.store,
      entra: this.entra,
      clock: deps.clock,
      log: deps.log,
      limits,
      callbackCa: deps.callbackCa,
      say: deps.say,
    });
    for (const app of apps ?? []) this.entra.registerApp(app);
    for (const { email, token } of tokens ?? []) this.entra.addOpaqueToken(email, token);
  }

  now(): number {
    return this.#clock.now();
  }

  /** A new mailbox's domain becomes a name of the tenant (as verified domains are). */
  mailboxAdded(mailbox: Mailbox): void {
    this.entra.addDomain(mailbox.email.split('@')[1]!);
  }

  /** Mint a delegated Mail.Read token for a mailbox (the simulator stands in for the sign-in). */
  delegatedToken(
    email: string,
    options: { clientId?: string; lifetimeSeconds?: number; token?: string } = {},
  ) {
    const mailbox = this.#store.require(email);
    if (options.token !== undefined) {
      this.entra.addOpaqueToken(mailbox.email, options.token);
      return { token_type: 'Bearer', access_token: options.token };
    }
    return this.entra.mintDelegated(
      { email: mailbox.email, id: userId(mailbox), displayName: mailbox.displayName },
      { clientId: options.clientId, lifetimeSeconds: options.lifetimeSeconds },
    );
  }

  info(baseUrl: string) {
    const tenant = this.entra.tenantId;
    return {
      tenantId: tenant,
      tokenUrl: `${baseUrl}/${tenant}/oauth2/v2.0/token`,
      jwksUri: `${baseUrl}/${tenant}/discovery/v2.0/keys`,
      graphUrl: `${baseUrl}/v1.0`,
      issuer: this.entra.issuer,
      limits: this.service.limits,
      users: this.#store.all().map((m) => ({ email: m.email, id: userId(m) })),
    };
  }

  close(): void {
    this.service.close();
  }
}
