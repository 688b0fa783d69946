/**
 * Device profiles of Herald's CA (issue 7): for one device, an iOS configuration profile with a
 * SCEP payload and an Exchange ActiveSync payload that uses its certificate, optionally signed
 * (CMS), and an Android managed configuration with the same information. See docs/pki-profiles.md.
 */
export { buildDeviceProfiles } from './build.ts';
export { identifierPrefixFromUrl, profileLookupValues } from './input.ts';
export type { AndroidManagedConfig, DeviceProfileInput, DeviceProfiles, ProfileSigner } from './types.ts';

/**
 * The Content-Type to serve a .mobileconfig with, signed or not: the type Safari on iOS hands to
 * the profile installer (Chromium's iOS download code also recognises it as a mobileconfig).
 */
export const MOBILECONFIG_CONTENT_TYPE = 'application/x-apple-aspen-config';
