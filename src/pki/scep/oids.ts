/**
 * Object identifiers and code values SCEP uses: CMS (RFC 5652), PKCS #9, the SCEP attributes
 * (RFC 8894 §3.2.1, under VeriSign's arc 2.16.840.1.113733.1.9) and the algorithms Herald accepts.
 */

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  challengePassword: '1.2.840.113549.1.9.7',
  rsaEncryption: '1.2.840.113549.1.1.1',
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionId: '2.16.840.1.113733.1.9.7',
  /** id-scep-failInfoText, RFC 8894 §3.2.1.4. */
  failInfoText: '1.3.6.1.5.5.7.24.1',
} as const;

/** RFC 8894 §3.2.1.2 messageType values (IANA "SCEP Message Types"). */
export const MessageType = {
  CertRep: 3,
  RenewalReq: 17,
  PKCSReq: 19,
  CertPoll: 20,
  GetCert: 21,
  GetCRL: 22,
} as const;

/** RFC 8894 §3.2.1.3 pkiStatus values, sent as PrintableString. */
export const PkiStatus = { SUCCESS: '0', FAILURE: '2', PENDING: '3' } as const;

/** RFC 8894 §3.2.1.4 failInfo values, sent as PrintableString. */
export const FailInfoCode = {
  badAlg: '0',
  badMessageCheck: '1',
  badRequest: '2',
  badTime: '3',
  badCertId: '4',
} as const;

/** Digest algorithms by OID, as node:crypto names. MD5 is refused (RFC 8894 §3.5.2). */
export const DIGESTS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export const DIGEST_OID: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(DIGESTS).map(([oid, name]) => [name, oid]),
);

/**
 * Signature algorithms of a SignerInfo: RSA PKCS #1 v1.5 either named by the key
 * (rsaEncryption, what OpenSSL writes; the digest comes from digestAlgorithm) or with its hash.
 */
export const RSA_SIGNATURES: Readonly<Record<string, string | undefined>> = {
  [OID.rsaEncryption]: undefined,
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};
