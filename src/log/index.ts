/**
 * Structured JSON logs (pino) with secrets and personal data redacted by default (STYLE habit 9).
 * Redaction works on two levels: known field names anywhere in a logged object, and the request
 * URL, whose callback path carries a registration's data key.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

/** Field names whose values never reach a log, at any depth we log objects at. */
const SECRET_FIELDS = [
  'password',
  'passphrase',
  'accessToken',
  'apiToken',
  'token',
  'pushToken',
  'credentials',
  'authorization',
  'apitoken',
  'cookie',
  'email',
  'mailbox',
  'key',
  'pkcs12',
  'privateKey',
];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const field of SECRET_FIELDS) {
    paths.push(field, `*.${field}`, `*.*.${field}`);
  }
  paths.push(
    'req.headers.authorization',
    'req.headers.apitoken',
    'req.headers.cookie',
    'res.headers["set-cookie"]',
  );
  return paths;
}

/**
 * The callback path `/notify/{registrationId}.{key}`: keep the id, hide the key; and query values
 * that are secret or personal (the admin API's `?email=` filter).
 */
export function redactUrl(url: string): string {
  return url
    .replace(/(\/notify\/[A-Za-z0-9_-]+)\.[^/?#]*/g, '$1.<redacted>')
    .replace(/([?&](?:key|token|code|email|user|enrollmentUser|message)=)[^&#]*/gi, '$1<redacted>');
}

export interface LogOptions {
  level?: string;
  /** Where to write; default stdout. Tests pass a stream to capture and scan the output. */
  destination?: pino.DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(options: LogOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? { service: 'herald' },
      redact: { paths: redactPaths(), censor: '<redacted>' },
      serializers: {
        err: pino.stdSerializers.err,
        req: (req: { method?: string; url?: string; id?: string; ip?: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url ? redactUrl(req.url) : undefined,
          remoteAddress: req.ip,
        }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
