export { adminAuth } from './admin-api.ts';
export { type AppDeps, buildApp, type HeraldApp } from './app.ts';
export { gatewayRuleJson } from './gateway-rules-api.ts';
export {
  certificateJson,
  certificateWithPem,
  challengeValues,
  crlJson,
  type PkiProvider,
  templateJson,
} from './pki/index.ts';
