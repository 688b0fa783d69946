/**
 * The mailbox account a registration acts for: address, EWS URL and credentials. It exists in
 * clear only in memory; at rest it is sealed under the registration's data key.
 */
import { z } from 'zod';
import {
  CredentialsDecryptError,
  decryptDeviceJwe,
  type MasterKey,
  openAccount,
  type TenantKeyResolver,
} from '../crypto/index.ts';
import { HeraldError } from '../errors/index.ts';
import type { EwsAuth, EwsTarget } from '../exchange/ews/index.ts';
import type { Registration } from '../store/index.ts';

const MAILBOX = 'registration-mailbox';

/** The JWE payload forms of device-api.md. */
const credentialsPayload = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('basic'),
    username: z.string().min(1).max(1024),
    password: z.string().max(4096),
  }),
  z.strictObject({ type: z.literal('oauth'), accessToken: z.string().min(1).max(16384) }),
  z.strictObject({
    type: z.literal('certificate'),
    pkcs12: z.base64().min(1).max(65536),
    passphrase: z.string().max(1024),
  }),
]);
export type CredentialsPayload = z.infer<typeof credentialsPayload>;

export interface Account {
  email: string;
  ewsUrl: string;
  credentials: CredentialsPayload;
}

export async function decryptCredentials(jwe: string, keys: TenantKeyResolver): Promise<CredentialsPayload> {
  let plaintext: Uint8Array;
  try {
    plaintext = await decryptDeviceJwe(jwe, keys);
  } catch (error) {
    if (error instanceof CredentialsDecryptError) {
      throw new HeraldError('invalid_credentials_payload', { message: error.message, cause: error });
    }
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(plaintext));
  } catch (cause) {
    throw new HeraldError('invalid_credentials_payload', {
      message: 'The decrypted credentials are not JSON.',
      cause,
    });
  }
  const parsed = credentialsPayload.safeParse(json);
  if (!parsed.success) {
    // Name the fields at fault, never their values: they are secrets.
    const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new HeraldError('invalid_credentials_payload', {
      message: `The decrypted credentials do not match any accepted form (basic, oauth, certificate); check: ${fields}.`,
    });
  }
  return parsed.data;
}

export function ewsTarget(account: Account): EwsTarget {
  return { url: account.ewsUrl, auth: ewsAuth(account.credentials) };
}

function ewsAuth(credentials: CredentialsPayload): EwsAuth {
  switch (credentials.type) {
    case 'basic':
      return { type: 'basic', username: credentials.username, password: credentials.password };
    case 'oauth':
      return { type: 'oauth', accessToken: credentials.accessToken };
    case 'certificate':
      return {
        type: 'certificate',
        pkcs12: Buffer.from(credentials.pkcs12, 'base64'),
        passphrase: credentials.passphrase,
      };
  }
}

/** The mailbox address, and for EWS its server's URL (Graph mailboxes have none). */
export interface Mailbox {
  email: string;
  ewsUrl?: string;
}

/**
 * The mailbox address and EWS URL are sealed under the master key (not the data key), because a
 * check-in with fresh credentials must resubscribe without the old key, and the credentials
 * alone do not say which server and mailbox they are for.
 */
export function sealMailbox(master: MasterKey, registrationId: string, mailbox: Mailbox): string {
  return master.seal(
    JSON.stringify(
      mailbox.ewsUrl === undefined
        ? { email: mailbox.email }
        : { email: mailbox.email, ewsUrl: mailbox.ewsUrl },
    ),
    MAILBOX,
    registrationId,
  );
}

export function openMailbox(master: MasterKey, registration: Registration): Mailbox {
  return JSON.parse(master.open(registration.mailboxEnc, MAILBOX, registration.id).toString('utf8'));
}

/**
 * The account behind a registration, opened with a data key from a callback URL: the current
 * credentials, or those of a check-in in progress when the key is the new one.
 */
export function openRegistrationAccount(master: MasterKey, registration: Registration, key: Buffer): Account {
  const mailbox = openMailbox(master, registration);
  if (mailbox.ewsUrl === undefined) throw new Error('not an EWS registration');
  for (const sealed of [registration.accountEnc, registration.nextAccountEnc]) {
    if (sealed === null) continue;
    try {
      return {
        email: mailbox.email,
        ewsUrl: mailbox.ewsUrl,
        credentials: openAccount(key, registration.id, sealed) as CredentialsPayload,
      };
    } catch {
      // Not sealed under this key: try the other one.
    }
  }
  throw new Error('the data key opens neither the current nor the pending credentials');
}
