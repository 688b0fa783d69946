/** Relay: forward pushes, signed, to a relay server that can reach Apple and Google. */
export {
  createRelaySender,
  RELAY_PROTOCOL_VERSION,
  type RelayRequestBody,
  type RelaySenderOptions,
  relayRequestBody,
} from './sender.ts';
export {
  DEFAULT_RELAY_TOLERANCE_SECONDS,
  RELAY_SIGNATURE_HEADER,
  RELAY_TIMESTAMP_HEADER,
  signRelayBody,
  type VerifyRelaySignatureInput,
  verifyRelaySignature,
} from './signature.ts';
