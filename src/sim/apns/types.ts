/** The simulator's public data types (re-exported by index.ts). */

/** A provider-token signing key the simulator accepts (Apple: a key from "Certificates, IDs & Profiles"). */
export interface ApnsKey {
  /** The 10-character key ID, the JWT header's `kid`. */
  keyId: string;
  /** The team ID the key belongs to, the JWT's `iss`. */
  teamId: string;
  /** SPKI PEM public key; a PKCS#8 private key PEM (an AuthKey_*.p8 file) is accepted too. */
  publicKey: string;
}

export type ApnsAuth =
  /** `issuedAt`: the JWT's `iat` claim, seconds since the epoch. */
  | { kind: 'token'; keyId: string; teamId: string; issuedAt: number }
  | { kind: 'certificate'; subject: string }
  | { kind: 'none' };

export interface ApnsRequestRecord {
  /** Order of arrival (answer order), from 1; keeps counting across clear(). */
  seq: number;
  /** When it was answered, epoch ms (options.now). */
  at: number;
  apnsId: string;
  /** The device token from the path, lower-cased ('' when missing). */
  token: string;
  /** apns-topic; with certificate auth and no header, the certificate's topic (what APNs would use). */
  topic: string | undefined;
  pushType: string | undefined;
  priority: number | undefined;
  expiration: number | undefined;
  collapseId: string | undefined;
  /** Parsed JSON, or the raw string if unparsable (undefined when the body was empty). */
  payload: unknown;
  payloadBytes: number;
  auth: ApnsAuth;
  status: number;
  reason: string | undefined;
  /** Which connection (HTTP/2 session, or HTTP/1.1 socket) carried it. */
  connectionId: number;
}

export type ApnsFault =
  | { status: 410; reason?: 'Unregistered' | 'ExpiredToken'; times?: number }
  | { status: 400; reason: 'BadDeviceToken' | 'DeviceTokenNotForTopic' | string; times?: number }
  | { status: 429 | 500 | 503; reason?: string; times?: number };

export interface ApnsStats {
  /** Connections accepted so far (HTTP/2 sessions and HTTP/1.1 sockets). */
  connections: number;
  openConnections: number;
  /** Requests on /3/device/* so far (not reset by clear()). */
  requests: number;
  /** Of which answered 200. */
  accepted: number;
  /** Most push streams seen open at once on one HTTP/2 session. */
  maxConcurrentStreamsSeen: number;
  /** GOAWAY frames sent because of goawayAfter(). */
  goaways: number;
}
