/**
 * PKCS #12 (RFC 7292) with pkijs, no OpenSSL at runtime: building the file a device gets with a
 * server-generated key, and reading one an operator imports a CA from.
 *
 * Built files use PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC; RFC 8018) for the key bag and the
 * certificate bag, and an HMAC-SHA256 MAC: what `openssl pkcs12 -export` writes by default since
 * OpenSSL 3.0, and what Windows calls "AES256-SHA256". Both bags carry localKeyId (the SHA-1 of the
 * certificate) and friendlyName, which keystores use to pair a key with its certificate.
 */
import { createHash, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { PkiError } from './errors.ts';
import { decryptPbeSha1TripleDes, PBE_SHA1_3DES } from './pkcs12-legacy.ts';
import { arrayBuffer } from './x509.ts';

const OID = {
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbes2: '1.2.840.113549.1.5.13',
} as const;

/** An engine of our own rather than pkijs's process-wide one, which other code may set. */
const engine = new pkijs.CryptoEngine({
  name: 'herald',
  crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'],
});

function password(passphrase: string): ArrayBuffer {
  return arrayBuffer(Buffer.from(passphrase, 'utf8'));
}

export interface Pkcs12Contents {
  /** PKCS #8 DER of the private key. */
  keyPkcs8: Buffer;
  /** The certificate that goes with the key (DER). */
  certificateDer: Buffer;
  /** Its issuers (DER), issuing CA first. */
  chainDer: readonly Buffer[];
  friendlyName: string;
}

export interface Pkcs12Options {
  passphrase: string;
  pbkdf2Iterations: number;
  macIterations: number;
}

function bagAttributes(localKeyId: Buffer, friendlyName: string): pkijs.Attribute[] {
  return [
    new pkijs.Attribute({
      type: OID.friendlyName,
      values: [new asn1js.BmpString({ value: friendlyName })],
    }),
    new pkijs.Attribute({
      type: OID.localKeyId,
      values: [new asn1js.OctetString({ valueHex: arrayBuffer(localKeyId) })],
    }),
  ];
}

function certBag(der: Buffer, attributes?: pkijs.Attribute[]): pkijs.SafeBag {
  // certValue set directly: the certificate's bytes go in unchanged (no decode/re-encode).
  const value = new pkijs.CertBag({
    certId: OID.x509Certificate,
    certValue: new asn1js.OctetString({ valueHex: arrayBuffer(der) }),
  });
  return new pkijs.SafeBag({
    bagId: OID.certBag,
    bagValue: value,
    ...(attributes ? { bagAttributes: attributes } : {}),
  });
}

export async function buildPkcs12(contents: Pkcs12Contents, options: Pkcs12Options): Promise<Buffer> {
  const pass = password(options.passphrase);
  const encryption = {
    password: pass,
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: options.pbkdf2Iterations,
  };
  const localKeyId = createHash('sha1').update(contents.certificateDer).digest();
  const attributes = () => bagAttributes(localKeyId, contents.friendlyName);

  const shrouded = new pkijs.PKCS8ShroudedKeyBag({
    parsedValue: pkijs.PrivateKeyInfo.fromBER(arrayBuffer(contents.keyPkcs8)),
  });
  await shrouded.makeInternalValues(encryption, engine);
  const keyBag = new pkijs.SafeBag({
    bagId: OID.shroudedKeyBag,
    bagValue: shrouded,
    bagAttributes: attributes(),
  });
  const certificates = [
    certBag(contents.certificateDer, attributes()),
    ...contents.chainDer.map((der) => certBag(der)),
  ];

  const authenticatedSafe = new pkijs.AuthenticatedSafe({
    parsedValue: {
      safeContents: [
        // The key bag is encrypted itself; its SafeContents needs no second layer (privacy 0).
        { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: [keyBag] }) },
        { privacyMode: 1, value: new pkijs.SafeContents({ safeBags: certificates }) },
      ],
    },
  });
  await authenticatedSafe.makeInternalValues({ safeContents: [{}, encryption] }, engine);
  const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe } });
  await pfx.makeInternalValues(
    {
      password: pass,
      iterations: options.macIterations,
      pbkdf2HashAlgorithm: 'SHA-256',
      hmacHashAlgorithm: 'SHA-256',
    },
    engine,
  );
  return Buffer.from(pfx.toSchema().toBER(false));
}

export interface Pkcs12Parsed {
  /** PKCS #8 DER of every private key found. */
  keys: Buffer[];
  /** DER of every certificate found. */
  certificates: Buffer[];
}

function importError(message: string, cause?: unknown): PkiError {
  return new PkiError('pki_import_failed', message, { cause });
}

/** Decrypts PBES2 (with pkijs) or the legacy 3DES PBE (pkcs12-legacy.ts); others are named. */
async function decrypt(
  algorithm: pkijs.AlgorithmIdentifier,
  ciphertext: Buffer,
  passphrase: string,
  what: string,
): Promise<Buffer> {
  try {
    if (algorithm.algorithmId === OID.pbes2) {
      const encrypted = new pkijs.EncryptedData({
        encryptedContentInfo: new pkijs.EncryptedContentInfo({
          contentType: pkijs.ContentInfo.DATA,
          contentEncryptionAlgorithm: algorithm,
          encryptedContent: new asn1js.OctetString({ valueHex: arrayBuffer(ciphertext) }),
        }),
      });
      return Buffer.from(await encrypted.decrypt({ password: password(passphrase) }, engine));
    }
    if (algorithm.algorithmId === PBE_SHA1_3DES) {
      return decryptPbeSha1TripleDes(algorithm.algorithmParams as asn1js.Sequence, ciphertext, passphrase);
    }
  } catch (error) {
    throw importError(`the ${what} in the PKCS #12 file could not be decrypted`, error);
  }
  throw importError(
    `the PKCS #12 file protects its ${what} with an unsupported algorithm (${algorithm.algorithmId}); ` +
      'export it again with AES-256 (OpenSSL 3 `openssl pkcs12 -export` by default, Windows "AES256-SHA256")',
  );
}

function octets(value: asn1js.OctetString): Buffer {
  // Constructed (BER) octet strings, as some exporters write, are joined by getValue().
  return Buffer.from(value.getValue());
}

/**
 * Reads a password-integrity PKCS #12 file, checking its MAC: PBES2 (AES) as OpenSSL 3 and modern
 * Windows write, or pbeWithSHAAnd3-KeyTripleDES-CBC as older exports use.
 */
export async function parsePkcs12(der: Buffer, passphrase: string): Promise<Pkcs12Parsed> {
  let pfx: pkijs.PFX;
  try {
    pfx = pkijs.PFX.fromBER(arrayBuffer(der));
  } catch (error) {
    throw importError('the file is not PKCS #12', error);
  }
  try {
    await pfx.parseInternalValues({ password: password(passphrase), checkIntegrity: true }, engine);
  } catch (error) {
    throw importError('the PKCS #12 MAC does not verify: wrong passphrase, or a damaged file', error);
  }
  const authenticatedSafe = pfx.parsedValue?.authenticatedSafe;
  if (authenticatedSafe === undefined) throw importError('the PKCS #12 file has no content');

  const bags: pkijs.SafeBag[] = [];
  for (const info of authenticatedSafe.safeContents) {
    // From copies: pkijs's fromSchema annotates the schema object it is given.
    const content = (info.content as asn1js.BaseBlock).toBER(false);
    if (info.contentType === pkijs.ContentInfo.DATA) {
      bags.push(
        ...pkijs.SafeContents.fromBER(
          arrayBuffer(octets(asn1js.fromBER(content).result as asn1js.OctetString)),
        ).safeBags,
      );
    } else if (info.contentType === pkijs.ContentInfo.ENCRYPTED_DATA) {
      const encrypted = pkijs.EncryptedData.fromBER(content);
      const info = encrypted.encryptedContentInfo;
      if (info.encryptedContent === undefined) continue;
      // [0] IMPLICIT, primitive or (BER) constructed: pkijs joins it.
      const plain = await decrypt(
        info.contentEncryptionAlgorithm,
        Buffer.from(info.getEncryptedContent()),
        passphrase,
        'certificates',
      );
      bags.push(...pkijs.SafeContents.fromBER(arrayBuffer(plain)).safeBags);
    } else {
      throw importError(
        `the PKCS #12 file uses public-key privacy (${info.contentType}), which Herald cannot read`,
      );
    }
  }

  const parsed: Pkcs12Parsed = { keys: [], certificates: [] };
  for (const bag of bags) {
    if (bag.bagId === OID.keyBag) {
      parsed.keys.push(Buffer.from((bag.bagValue as pkijs.PrivateKeyInfo).toSchema().toBER(false)));
    } else if (bag.bagId === OID.shroudedKeyBag) {
      const shrouded = bag.bagValue as pkijs.PKCS8ShroudedKeyBag;
      parsed.keys.push(
        await decrypt(
          shrouded.encryptionAlgorithm,
          octets(shrouded.encryptedData),
          passphrase,
          'private key',
        ),
      );
    } else if (bag.bagId === OID.certBag) {
      const value = bag.bagValue as pkijs.CertBag;
      if (value.certId === OID.x509Certificate)
        parsed.certificates.push(octets(value.certValue as asn1js.OctetString));
    }
  }
  return parsed;
}
