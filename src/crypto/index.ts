export { loadOrCreateAdminToken } from './admin-token.ts';
export {
  CredentialsDecryptError,
  dataKeyHash,
  decodeDataKey,
  decryptDeviceJwe,
  newDataKey,
  openAccount,
  sealAccount,
  type TenantKeyResolver,
} from './device-credentials.ts';
export { loadOrCreateMasterKey, type MasterKey, masterKeyFromBytes } from './master-key.ts';
export { digestsEqual, hashApiToken, identifierHash, newApiToken, randomId, sha256Hex } from './secrets.ts';
export {
  generateTenantKey,
  openTenantPrivateKey,
  publicKeyFromJwk,
  type TenantKeyMaterial,
} from './tenant-keys.ts';
