/** What a mail app does on its side: fetch the tenant key and encrypt its credentials to it. */
import { CompactEncrypt, importJWK, type JWK } from 'jose';

export interface PublicKeyAnswer {
  keyId: string;
  jwk: JWK;
}

export async function encryptCredentials(key: PublicKeyAnswer, payload: unknown): Promise<string> {
  const publicKey = await importJWK(key.jwk, 'RSA-OAEP-256');
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: key.keyId })
    .encrypt(publicKey);
}

/** A syntactically valid APNs device token (64 hex digits). */
export function apnsToken(seed: number): string {
  return seed.toString(16).padStart(8, '0').repeat(8);
}

/** The device API as the `deviceClient` of test/support/herald.ts calls it. */
export type DeviceApiCall = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> | undefined }>;

export interface RegisteredDevice {
  email: string;
  token: string;
  registrationId: string;
  /** Fresh credentials encrypted to the tenant key, e.g. for a check-in. */
  credentials(): Promise<string>;
}

/**
 * What most integration tests start with: a mailbox (with a password) at the Exchange simulator
 * and an iOS device registered for it through the device API, which must answer 201.
 */
export async function registerDevice(
  api: DeviceApiCall,
  exchange: { ewsUrl: string; createMailbox(spec: { email: string; password: string }): unknown },
  device: { email: string; password: string; token: string; appId: string; publicKey?: PublicKeyAnswer },
): Promise<RegisteredDevice> {
  const { email, password, token, appId } = device;
  exchange.createMailbox({ email, password });
  const publicKey =
    device.publicKey ?? ((await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer);
  const credentials = () => encryptCredentials(publicKey, { type: 'basic', username: email, password });
  const created = await api('POST', '/v1/registrations', {
    device: { platform: 'ios', pushToken: token, appId },
    account: { email, ewsUrl: exchange.ewsUrl, credentials: await credentials() },
  });
  if (created.status !== 201)
    throw new Error(`registration answered ${created.status}: ${JSON.stringify(created.body)}`);
  return { email, token, registrationId: created.body?.registrationId as string, credentials };
}
