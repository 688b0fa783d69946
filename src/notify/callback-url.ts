/**
 * The callback URL Herald gives Exchange: `{publicUrl}/api/ens/v1/ews/notify/{registrationId}.{key}`
 * (DESIGN decision 1). The key half is the registration's data key; the database holds only its hash.
 */
export const EWS_NOTIFY_PREFIX = '/api/ens/v1/ews/notify/';

export function ewsCallbackUrl(publicUrl: string, registrationId: string, encodedKey: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${EWS_NOTIFY_PREFIX}${registrationId}.${encodedKey}`;
}

/** Split the last path segment; undefined when it is not `{id}.{key}`. */
export function parseCallbackSegment(
  segment: string,
): { registrationId: string; encodedKey: string } | undefined {
  const match = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,128})$/.exec(segment);
  return match ? { registrationId: match[1]!, encodedKey: match[2]! } : undefined;
}
