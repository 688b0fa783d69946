/**
 * `herald sim apns`: an Apple Push Notification service simulator, built from Apple's public
 * documentation ("Sending notification requests to APNs", "Handling notification responses from
 * APNs", "Establishing a token-based connection to APNs", "Establishing a certificate-based
 * connection to APNs") for app developers and for Herald's tests. It imports nothing from Herald:
 * it is the independent peer that keeps Herald honest.
 */
import type { AddressInfo } from 'node:net';
import { selfSignedIdentity } from '../tls.ts';
import { ProviderAuth } from './auth.ts';
import { type ControlTarget, controlHandler } from './control.ts';
import { generateApnsKey, loadKey } from './keys.ts';
import { createApnsServer } from './server.ts';
import { ApnsSim } from './simulator.ts';
import type { ApnsFault, ApnsKey, ApnsRequestRecord, ApnsStats } from './types.ts';

export { SimInputError } from './errors.ts';
export { MAX_PAYLOAD, MAX_VOIP_PAYLOAD, PUSH_TYPES } from './simulator.ts';
export type { ApnsAuth, ApnsFault, ApnsKey, ApnsRequestRecord, ApnsStats } from './types.ts';

export interface ApnsSimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Server identity; default a fresh self-signed one. `ca` (default `cert`) is what clients trust. */
  tls?: { cert: string; key: string; ca?: string };
  /** Provider-token signing keys it accepts. */
  keys?: ApnsKey[];
  /** CAs for certificate-based provider auth (client certificates). */
  clientCa?: string | string[];
  /** If non-empty, only these topics are allowed (else 400 TopicDisallowed). */
  topics?: string[];
  /** Epoch ms, for JWT age checks and record times (default Date.now). */
  now?: () => number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (default 1000). */
  maxConcurrentStreams?: number;
  /** Artificial latency per push, ms (default 0). */
  responseDelayMs?: number;
  /** Requests kept (default 10 000; oldest dropped, counters keep counting). */
  recordLimit?: number;
  log?: (line: string) => void;
}

export interface ApnsSimulator {
  /** https://127.0.0.1:PORT */
  url: string;
  /** PEM the client must trust. */
  ca: string;
  /** Closes every session; resolves when the port is free. */
  close(): Promise<void>;
  addKey(key: ApnsKey): void;
  /** Registers a new key; random 10-character [A-Z0-9] ids if not given. `privateKey` is a .p8 (PKCS#8 PEM). */
  generateKey(teamId?: string, keyId?: string): ApnsKey & { privateKey: string };
  /** The keys it accepts (public halves, SPKI PEM). */
  keys(): ApnsKey[];
  /** Accepted pushes (status 200), oldest first; filter by token. */
  received(filter?: { token?: string }): ApnsRequestRecord[];
  /** Every request on /3/device/*, accepted or not. */
  requests(filter?: { token?: string }): ApnsRequestRecord[];
  /** Forgets the recorded requests (counters keep counting). */
  clear(): void;
  fault(token: string, fault: ApnsFault): void;
  clearFaults(token?: string): void;
  /** Active faults with the requests each still affects (undefined: until cleared). */
  faults(): Array<{
    token: string;
    status: number;
    reason: string | undefined;
    remaining: number | undefined;
  }>;
  /** From now on 410 Unregistered with a timestamp; returns that timestamp (epoch ms). */
  unregister(token: string): number;
  /** A token bound to a topic: other topics → 400 DeviceTokenNotForTopic. Re-activates an unregistered token. */
  registerDevice(token: string, topic: string): void;
  /** Each session sends GOAWAY (NO_ERROR) after answering that many push streams; undefined turns it off. */
  goawayAfter(streams: number | undefined): void;
  stats(): ApnsStats;
}

export async function startApnsSimulator(options: ApnsSimulatorOptions = {}): Promise<ApnsSimulator> {
  const maxConcurrentStreams = options.maxConcurrentStreams ?? 1000;
  if (!Number.isInteger(maxConcurrentStreams) || maxConcurrentStreams < 1) {
    throw new RangeError('maxConcurrentStreams must be a positive integer');
  }
  const responseDelayMs = options.responseDelayMs ?? 0;
  if (!Number.isFinite(responseDelayMs) || responseDelayMs < 0) {
    throw new RangeError('responseDelayMs must be ≥ 0');
  }
  const sim = new ApnsSim({
    now: options.now,
    topics: options.topics,
    recordLimit: options.recordLimit,
    log: options.log,
  });
  const auth = new ProviderAuth(sim.now);
  for (const key of options.keys ?? []) auth.addKey(loadKey(key));
  const identity = options.tls ?? (await selfSignedIdentity());
  const ca = options.tls?.ca ?? identity.cert;

  const api: Omit<ApnsSimulator, 'url' | 'close'> & ControlTarget = {
    ca,
    addKey: (key) => auth.addKey(loadKey(key)),
    generateKey(teamId, keyId) {
      const key = generateApnsKey(teamId, keyId);
      auth.addKey(loadKey(key));
      return key;
    },
    keys: () => auth.keys().map(({ keyId, teamId, publicKey }) => ({ keyId, teamId, publicKey })),
    received: (filter) => sim.received(filter),
    requests: (filter) => sim.requests(filter),
    clear: () => sim.clear(),
    fault: (token, fault) => sim.fault(token, fault),
    clearFaults: (token) => sim.clearFaults(token),
    faults: () => sim.faults(),
    unregister: (token) => sim.unregister(token),
    registerDevice: (token, topic) => sim.registerDevice(token, topic),
    goawayAfter: (streams) => sim.goawayAfter(streams),
    stats: () => ({ ...sim.stats }),
  };

  const { server, close } = createApnsServer(sim, auth, {
    cert: identity.cert,
    key: identity.key,
    clientCa: options.clientCa,
    maxConcurrentStreams,
    responseDelayMs,
    log: options.log,
    control: controlHandler(api, (error) => options.log?.(`control error: ${String(error)}`)),
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => options.log?.(`server error: ${error.message}`));
  const { port } = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = `https://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
  return { url, close, ...api };
}

export const simApnsUsage = `herald sim apns: Apple Push Notification service simulator (HTTP/2 over TLS)

Provider API (as api.push.apple.com)
  POST /3/device/{hex token}      headers: authorization: bearer <ES256 JWT {kid}{iss: team, iat}>
                                  (or a client certificate whose subject UID is the topic),
                                  apns-topic, apns-push-type, apns-priority (10|5|1),
                                  apns-expiration, apns-collapse-id (≤ 64 bytes), apns-id (UUID)
                                  body: JSON {"aps": {...}} ≤ 4096 bytes (5120 for voip)
  200 with apns-id and an empty body, or {"reason": "..."} (410 adds "timestamp") with Apple's
  status codes: 400 Bad*/Missing*/PayloadEmpty/DeviceTokenNotForTopic/TopicDisallowed,
  403 InvalidProviderToken/ExpiredProviderToken/MissingProviderToken/BadCertificate,
  404 BadPath, 405 MethodNotAllowed, 410 Unregistered, 413 PayloadTooLarge,
  429 TooManyProviderTokenUpdates (a new token within 20 min of the last), 500, 503

Control API (JSON, HTTP/1.1 or HTTP/2, no auth; bad input → 400 {"error": "..."})
  GET    /sim/pushes[?token=T]          accepted pushes, oldest first
  GET    /sim/requests[?token=T]        every /3/device request with its status and reason
  DELETE /sim/pushes                    forget recorded requests (stats keep counting)
  POST   /sim/faults                    {token, status: 400|410|429|500|503, reason?, times?}
  GET    /sim/faults                    active faults
  DELETE /sim/faults[?token=T]          clear faults
  POST   /sim/unregister                {token}: from now on 410 Unregistered
  POST   /sim/devices                   {token, topic}: other topics → 400 DeviceTokenNotForTopic
  POST   /sim/goaway                    {afterStreams: N|null}: GOAWAY after N streams per connection
  GET    /sim/keys                      accepted signing keys
  POST   /sim/keys                      {keyId, teamId, publicKey} or {generate: true, teamId?, keyId?}
                                        (generate answers the .p8 private key: a dev tool)
  GET    /sim/ca.pem                    the CA a client must trust
  GET    /sim/stats                     connections, requests, accepted, maxConcurrentStreamsSeen, goaways
`;
