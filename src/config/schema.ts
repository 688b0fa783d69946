/**
 * Herald's one configuration schema (STYLE habit 4). Every key has a default, so `{}` is a valid
 * configuration; every object is strict, so a misspelt key fails at start instead of being
 * silently ignored. Key names follow /work/shared/api/operator.md (a contract with operators).
 *
 * Nested objects use `.prefault({})` rather than `.default(...)`: zod 4's `default` returns its
 * value without parsing it, `prefault` parses `{}` so the inner defaults apply.
 */
import { z } from 'zod';
import { checkEndpoint, DEFAULT_AUTODISCOVER_ENDPOINTS } from '../exchange/autodiscover/index.ts';
import { exchangeVersions } from '../exchange/ews/index.ts';
import { filePath, markKind, secret } from './meta.ts';

const port = z.number().int().min(0).max(65_535);

/** An absolute http(s) URL; trailing slashes are dropped so `${url}/path` joins cleanly. */
function httpUrl() {
  return z
    .string()
    .refine((value) => {
      if (!URL.canParse(value)) return false;
      const { protocol } = new URL(value);
      return protocol === 'http:' || protocol === 'https:';
    }, 'must be an absolute http:// or https:// URL')
    .transform((value) => value.replace(/\/+$/, ''));
}

function listen(host: string, defaultPort: number) {
  return z
    .strictObject({ host: z.string().min(1).default(host), port: port.default(defaultPort) })
    .prefault({});
}

const serverTls = z.strictObject({ certFile: filePath(), keyFile: filePath() });

/** `sqlite:<path>` (`sqlite::memory:` for tests) or a PostgreSQL connection URL. */
const databaseUrl = markKind(
  z.string().refine((value) => {
    if (value.startsWith('sqlite:')) return value.length > 'sqlite:'.length;
    if (!/^postgres(ql)?:\/\//.test(value) || !URL.canParse(value)) return false;
    return new URL(value).hostname !== '';
  }, 'must be sqlite:<path> or postgres://[user[:password]@]host[:port]/database'),
  'database-url',
);

const apnsToken = z.strictObject({
  keyFile: filePath(),
  // Apple's key and team identifiers are 10 characters (Apple, "Establishing a token-based
  // connection to APNs").
  keyId: z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character key ID from Apple'),
  teamId: z.string().regex(/^[A-Z0-9]{10}$/, 'must be the 10-character team ID from Apple'),
});

const apnsCertificate = z.strictObject({
  p12File: filePath(),
  passphrase: secret(z.string()).optional(),
});

const apns = z
  .strictObject({
    token: apnsToken.optional(),
    certificate: apnsCertificate.optional(),
    endpoint: httpUrl().default('https://api.push.apple.com'),
    sandboxEndpoint: httpUrl().default('https://api.sandbox.push.apple.com'),
  })
  .refine((value) => (value.token === undefined) !== (value.certificate === undefined), {
    message: 'set exactly one of apns.token and apns.certificate',
  });

const fcm = z.strictObject({
  serviceAccountFile: filePath(),
  endpoint: httpUrl().default('https://fcm.googleapis.com'),
});

/** A notification relay (the role of ENS2's Cloud Notification Service): Herald POSTs each push,
 * signed with the shared secret, to a server that can reach Apple and Google. */
const relay = z.strictObject({
  url: httpUrl(),
  secret: secret(z.string().min(32, 'must be at least 32 characters')),
});

const app = z
  .strictObject({
    appId: z.string().min(1),
    apns: apns.optional(),
    fcm: fcm.optional(),
    relay: relay.optional(),
  })
  .refine((value) => value.apns !== undefined || value.fcm !== undefined || value.relay !== undefined, {
    message: 'an app needs push credentials: set apns, fcm or relay',
  });

/** Reports every repeated value of `key` at the path of its second occurrence. */
function uniqueBy<T>(key: keyof T & string, what: string) {
  return (items: readonly T[], ctx: z.RefinementCtx) => {
    const seen = new Set<unknown>();
    items.forEach((item, index) => {
      if (seen.has(item[key])) {
        ctx.addIssue({
          code: 'custom',
          path: [index, key],
          message: `duplicate ${what} "${String(item[key])}"`,
        });
      }
      seen.add(item[key]);
    });
  };
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * The tenant's Entra application for app-only Graph access (client credentials): a client secret
 * or a certificate registered on the app. Its application permission (Mail.Read) should be
 * scoped to the mailboxes Herald serves with RBAC for Applications in Exchange Online.
 */
const graphApp = z
  .strictObject({
    clientId: z.string().regex(GUID, 'must be the application (client) id, a GUID'),
    clientSecret: secret(z.string().min(1)).optional(),
    certificate: z
      .strictObject({
        certFile: filePath(),
        keyFile: filePath(),
        /** PS256 (x5t#S256, the default) or RS256 (also x5t). */
        algorithm: z.enum(['PS256', 'RS256']).default('PS256'),
      })
      .optional(),
  })
  .refine((value) => (value.clientSecret === undefined) !== (value.certificate === undefined), {
    message: 'set exactly one of clientSecret and certificate',
  });

/** Microsoft Graph (Exchange Online) for one tenant (docs/graph.md). */
const tenantGraph = z.strictObject({
  /** The Entra tenant (directory) id of the organisation's Microsoft 365 tenant. */
  tenantId: z.string().regex(GUID, 'must be the Entra tenant (directory) id, a GUID'),
  /** Mail domains in Exchange Online: a registration without `provider` for them uses Graph. */
  domains: z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'must be a mail domain')).default([]),
  /** App-only access; without it, devices send delegated Graph tokens. */
  app: graphApp.optional(),
});

const tenant = z.strictObject({
  id: z
    .string()
    .max(63)
    .regex(
      /^[a-z0-9][a-z0-9-]*$/,
      'must be lowercase letters, digits and hyphens, not starting with a hyphen',
    ),
  apiToken: secret(z.string().min(16, 'must be at least 16 characters')),
  notification: z.strictObject({ content: z.enum(['full', 'badge', 'silent']).default('full') }).prefault({}),
  apps: z.array(app).default([]).superRefine(uniqueBy('appId', 'appId')),
  graph: tenantGraph.optional(),
});

/** How Herald talks to Microsoft Graph and Entra ID (every URL overridable for national clouds and the simulator). */
const graph = z.strictObject({
  authorityHost: httpUrl().default('https://login.microsoftonline.com'),
  graphUrl: httpUrl().default('https://graph.microsoft.com/v1.0'),
  /** Where the signing keys of validation tokens are published. */
  jwksUrl: httpUrl().default('https://login.microsoftonline.com/common/discovery/v2.0/keys'),
  timeoutSeconds: z.number().int().min(1).max(600).default(30),
  /** Longest lifetime Graph grants an Outlook message subscription (documented: 10 080 minutes). */
  subscriptionMinutes: z.number().int().min(10).max(43_200).default(10_080),
  /** The same with includeResourceData (documented: 1 440 minutes). */
  subscriptionMinutesWithResourceData: z.number().int().min(10).max(43_200).default(1_440),
  renewal: z
    .strictObject({
      /** How often the renewal job (one node at a time, through a lease) looks for subscriptions due. */
      intervalSeconds: z.number().int().min(1).max(3600).default(60),
      /** Subscriptions handled per pass. */
      batchSize: z.number().int().min(1).max(10_000).default(200),
      /** Graph calls of one pass at the same time. */
      concurrency: z.number().int().min(1).max(64).default(8),
    })
    .prefault({}),
  /** Validity of Herald's certificate for rich notifications; a new one replaces it 30 days before it expires. */
  encryptionCertificateDays: z.number().int().min(30).max(3650).default(365),
  /**
   * EWS hosts that mean "this mailbox is in Exchange Online" (a device's ewsUrl, or what
   * Autodiscover found): such mailboxes of a tenant with Graph settings use Graph. Add the
   * national clouds' hosts (e.g. outlook.office365.us) where they apply.
   */
  exchangeOnlineHosts: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z0-9.-]+$/, 'a host name, e.g. outlook.office365.com')
        .transform((host) => host.toLowerCase()),
    )
    .default(['outlook.office365.com', 'outlook.office.com']),
});

// RequestServerVersion values: ExchangeVersionType of the EWS types.xsd, kept in one place by the EWS codec.

const exchange = z.strictObject({
  // EWS push subscriptions accept a StatusFrequency of 1 to 1440 minutes (MS-OXWSNTIF).
  statusFrequencyMinutes: z.number().int().min(1).max(1440).default(15),
  requestServerVersion: z.enum(exchangeVersions).default('Exchange2013'),
  timeoutSeconds: z.number().int().min(1).max(600).default(30),
  /**
   * Where a registration without account.ewsUrl finds its EWS URL: Autodiscover v2, each endpoint
   * in order (`{domain}` is the mailbox's domain). Off: such registrations are refused.
   */
  autodiscover: z
    .strictObject({
      enabled: z.boolean().default(true),
      endpoints: z
        .array(
          z.string().superRefine((value, ctx) => {
            const problem = checkEndpoint(value);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
        )
        .min(1)
        .default([...DEFAULT_AUTODISCOVER_ENDPOINTS]),
      timeoutSeconds: z.number().int().min(1).max(120).default(10),
    })
    .prefault({}),
  /**
   * Send every EWS request through Herald's secure email gateway (the ENS2 "EWS proxy"): the
   * account's EWS URL keeps its path and gets the gateway's origin, so the gateway's compliance
   * rules apply to the notification service too. certFile/keyFile: Herald's own client
   * certificate, for a gateway that requires one.
   */
  gateway: z
    .strictObject({ url: httpUrl(), certFile: filePath().optional(), keyFile: filePath().optional() })
    .refine((value) => (value.certFile === undefined) === (value.keyFile === undefined), {
      message: 'set both certFile and keyFile, or neither',
    })
    .optional(),
});

/**
 * Kerberos constrained delegation (docs/gateway.md, "Kerberos constrained delegation"): for a
 * request with a valid client certificate the gateway obtains a service ticket for the
 * certificate's user (S4U2Self, then S4U2Proxy with its own account) and sends
 * `Authorization: Negotiate` to Exchange.
 */
const kerberosRoute = z.enum(['activesync', 'ews', 'autodiscover']);
const kerberos = z.strictObject({
  enabled: z.boolean().default(false),
  /** The gateway's own account, e.g. `svc_seg@CORP.EXAMPLE`; its keys are in keytabFile. */
  servicePrincipal: z.string().min(1).optional(),
  keytabFile: filePath().optional(),
  /** Exchange's SPN, e.g. `HTTP/exchange.corp.example`; default `HTTP/<upstream host>` per route. */
  targetSpn: z
    .string()
    .regex(/^[^/@\s]+\/[^/@\s]+(@[^@\s]+)?$/, 'must look like HTTP/host (or HTTP/host@REALM)')
    .optional(),
  /** The realm of the users and of the service account, in upper case (as AD writes it). */
  realm: z
    .string()
    .min(1)
    .refine((value) => value === value.toUpperCase(), 'must be in upper case, e.g. CORP.EXAMPLE')
    .optional(),
  /**
   * Domain controllers (host or host:port), tried in order: the first is used, the others when
   * it does not answer. Herald writes a krb5.conf for them under dataDir, with DNS lookups off.
   */
  kdcs: z
    .array(
      z.string().regex(/^[\w.-]+(:\d{1,5})?$|^\[[\da-fA-F:]+\](:\d{1,5})?$/, 'must be host or host:port'),
    )
    .default([]),
  /** An existing krb5.conf to use instead of the one Herald writes from realm and kdcs. */
  krb5Config: filePath().optional(),
  /** UPN suffix → realm, for users of another domain of the forest (then krb5Config must name its KDCs). */
  realmMap: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** Which routes send delegated credentials; the others pass Authorization through. */
  routes: z.array(kerberosRoute).min(1).default(['activesync', 'ews']),
  /** A user's tickets are reused until 5 minutes before they expire, and never longer than this. */
  cacheSeconds: z.number().int().min(0).max(86_400).default(36_000),
  /** At most this many users' tickets are kept (least recently used go first). */
  cacheUsers: z.number().int().min(1).max(1_000_000).default(10_000),
  /** A call to the KDC without an answer after this long fails the request (503 kerberos_kdc_unreachable). */
  kdcTimeoutSeconds: z.number().int().min(1).max(60).default(5),
});

const gateway = z.strictObject({
  listen: listen('0.0.0.0', 8443),
  /** Plain HTTP listener for /metrics and /health (admin token), kept off the device-facing port. */
  adminListen: listen('127.0.0.1', 8444),
  /**
   * Idle and response timeout, both towards devices and towards Exchange. ActiveSync Ping and
   * Sync hold a request up to 3,540 s (MS-ASCMD HeartbeatInterval/Wait); the default leaves 2 min.
   */
  idleTimeoutSeconds: z.number().int().min(60).max(86_400).default(3660),
  tls: z
    .strictObject({
      certFile: filePath(),
      keyFile: filePath(),
      minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
      ciphers: z.string().min(1).optional(),
    })
    .optional(),
  clientCertificates: z.enum(['off', 'optional', 'required']).default('required'),
  trustedCaFiles: z.array(filePath()).default([]),
  crl: z
    .strictObject({
      refreshSeconds: z.number().int().min(1).default(300),
      onUnavailable: z.enum(['fail-closed', 'fail-open']).default('fail-closed'),
      urls: z.array(httpUrl()).default([]),
    })
    .prefault({}),
  upstreams: z
    .strictObject({
      activesync: httpUrl().optional(),
      ews: httpUrl().optional(),
      /** `/autodiscover` is proxied only when this is set. */
      autodiscover: httpUrl().optional(),
    })
    // operator.md: the EWS upstream defaults to the ActiveSync one.
    .transform(({ activesync, ews = activesync, autodiscover }) => ({
      ...(activesync === undefined ? {} : { activesync }),
      ...(ews === undefined ? {} : { ews }),
      ...(autodiscover === undefined ? {} : { autodiscover }),
    }))
    .prefault({}),
  upstreamCaFiles: z.array(filePath()).default([]),
  ignoreUpstreamTlsErrors: z.boolean().default(false),
  removeUnsupportedAuthForEws: z.boolean().default(true),
  policy: z
    .strictObject({
      default: z.enum(['allow', 'block']).default('allow'),
      /** How often the gateway reads the compliance rules again (they change without a restart). */
      reloadSeconds: z.number().int().min(1).max(3600).default(5),
    })
    .prefault({}),
  kerberos: kerberos.prefault({}),
});

/** One of `allowed` (a number, so `HERALD_PKI_ROOT_KEY_BITS=3072` converts like any number). */
function oneOf<T extends number>(allowed: readonly T[], fallback: T) {
  return z
    .number()
    .int()
    .refine((value) => (allowed as readonly number[]).includes(value), `must be one of ${allowed.join(', ')}`)
    .default(fallback)
    .transform((value) => value as T);
}

/**
 * The certificate authority served by `herald serve` (docs/pki.md). Key sizes apply when Herald
 * creates its root and issuing CA, the first time the CA is needed; they change nothing after.
 */
const pki = z.strictObject({
  enabled: z.boolean().default(true),
  rootKeyBits: oneOf([3072, 4096] as const, 4096),
  issuingKeyBits: oneOf([2048, 3072, 4096] as const, 3072),
  crl: z
    .strictObject({
      /** Lifetime (nextUpdate − thisUpdate) of a full CRL. */
      fullHours: z.number().int().min(1).max(8760).default(168),
      /** Lifetime of a delta CRL; at most fullHours (a delta must not outlive its base). */
      deltaHours: z.number().int().min(1).max(8760).default(24),
    })
    .refine((crl) => crl.deltaHours <= crl.fullHours, {
      message: 'deltaHours must not exceed fullHours (a delta CRL must not outlive its base)',
      path: ['deltaHours'],
    })
    .prefault({}),
  /** One-time SCEP challenges expire after this long (NDES: 60 minutes). */
  challengeMinutes: z.number().int().min(1).max(10_080).default(60),
  /** How often CRLs are checked and refreshed (one node at a time, through a lease). */
  schedulerIntervalMinutes: z.number().int().min(1).max(1440).default(15),
});

const fields = z.strictObject({
  listen: listen('127.0.0.1', 8080),
  tls: serverTls.optional(),
  /** Base of the callback URLs; derived from listen + tls when absent (see below). */
  publicUrl: httpUrl()
    .refine((value) => {
      const url = new URL(value);
      return url.search === '' && url.hash === '';
    }, 'must not have a query or fragment')
    .optional(),
  /** Derived from dataDir when absent: `sqlite:<dataDir>/herald.db`. */
  database: databaseUrl.optional(),
  dataDir: filePath().default('./var'),
  /** Derived from dataDir when absent: `<dataDir>/master.key`. */
  masterKeyFile: filePath().optional(),
  tenants: z.array(tenant).default([]).superRefine(uniqueBy('id', 'tenant id')),
  exchange: exchange.prefault({}),
  graph: graph.prefault({}),
  proxy: z
    .strictObject({
      url: markKind(httpUrl(), 'url-userinfo'),
      noProxy: z.array(z.string().min(1)).default([]),
    })
    .optional(),
  trust: z.strictObject({ caFiles: z.array(filePath()).default([]) }).prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  push: z
    .strictObject({
      /** Outbox events one node delivers at the same time. */
      workers: z.number().int().min(1).max(1000).default(16),
      /** Tries of one push before it is given up (transient errors only; permanent ones stop at once). */
      maxAttempts: z.number().int().min(1).max(100).default(8),
      /** Backoff between tries: retryBaseSeconds × 2^(try-1), at most retryMaxSeconds (Retry-After wins). */
      retryBaseSeconds: z.number().min(0).max(3600).default(2),
      retryMaxSeconds: z.number().min(0).max(86_400).default(600),
      /** How long APNs/FCM keep a push for an offline device. */
      expirySeconds: z.number().int().min(0).max(2_419_200).default(86_400),
      /** Idle outbox polling interval (new events wake the workers at once). */
      pollMilliseconds: z.number().int().min(10).max(60_000).default(1000),
      /** How long a worker holds an outbox event; a node that died leaves it to others after this. */
      leaseSeconds: z.number().int().min(1).max(3600).default(120),
    })
    .prefault({}),
  watchdog: z
    .strictObject({
      /** How often the (leased, one node at a time) watchdog looks for silent subscriptions. */
      intervalSeconds: z.number().int().min(1).max(3600).default(30),
      /** A subscription is silent after this many StatusFrequency periods without a callback. */
      silentAfterPeriods: z.number().int().min(2).max(10).default(2),
      /** While a subscription waits for its device to check in, the checkin push is repeated this often. */
      checkinRepeatMinutes: z.number().int().min(1).max(10_080).default(60),
      /** A subscription whose device has not checked in this long after going silent is dead. */
      deadAfterHours: z.number().int().min(1).max(8760).default(72),
      /** Registrations handled per query. */
      batchSize: z.number().int().min(1).max(10_000).default(500),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest device-API JSON body. */
      bodyBytes: z.number().int().min(1).default(1_048_576),
      /** Largest EWS SendNotification callback body. */
      notificationBytes: z.number().int().min(1).default(1_048_576),
      /** Device API requests one tenant may make per minute, on one node (0: no limit). */
      tenantRequestsPerMinute: z.number().int().min(0).default(1200),
      /** Device API requests one client IP address may make per minute, on one node (0: no limit). */
      ipRequestsPerMinute: z.number().int().min(0).default(600),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      /** On SIGTERM/SIGINT: how long in-flight pushes may take to finish before they are re-queued and the process exits. */
      graceSeconds: z.number().int().min(0).max(600).default(10),
    })
    .prefault({}),
  admin: z
    .strictObject({
      /** Bearer token of the admin API and /metrics; generated into `<dataDir>/admin.token` when absent. */
      apiToken: secret(z.string().min(32, 'must be at least 32 characters')).optional(),
    })
    .prefault({}),
  pki: pki.prefault({}),
  gateway: gateway.prefault({}),
});

function bracketIfIpv6(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Joins without doubling a slash, keeping `./var` readable (`./var/master.key`). */
function under(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

/** The configuration schema; its output type is {@link HeraldConfig} (before freezing). */
export const configSchema = fields.transform(
  ({ listen, tls, publicUrl, database, dataDir, masterKeyFile, ...rest }) => ({
    // Rebuilt in schema order, so `config print` reads like the example file.
    listen,
    ...(tls === undefined ? {} : { tls }),
    publicUrl: publicUrl ?? `${tls ? 'https' : 'http'}://${bracketIfIpv6(listen.host)}:${listen.port}`,
    database: database ?? `sqlite:${under(dataDir, 'herald.db')}`,
    dataDir,
    masterKeyFile: masterKeyFile ?? under(dataDir, 'master.key'),
    ...rest,
  }),
);

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The effective, frozen configuration `loadConfig` returns. */
export type HeraldConfig = DeepReadonly<z.output<typeof configSchema>>;
