/**
 * Small ASN.1 helpers over asn1js (the parser pkijs is built on): strict parsing of untrusted
 * DER, OCTET STRING contents whether primitive or constructed (BER, which OpenSSL and pkijs both
 * write for large contents), and byte conversions between Buffer and ArrayBuffer.
 */
import * as asn1js from 'asn1js';
import { ScepMalformedError } from './errors.ts';

/** A copy of the bytes as an ArrayBuffer (pkijs and asn1js take ArrayBuffers). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

export function fromArrayBuffer(buffer: ArrayBuffer | Uint8Array): Buffer {
  return buffer instanceof Uint8Array ? Buffer.from(buffer) : Buffer.from(new Uint8Array(buffer));
}

/** Parse one complete BER/DER value; anything left over, or nothing parsed, is malformed. */
export function parseAsn1(bytes: Uint8Array, what: string): asn1js.AsnType {
  if (bytes.byteLength === 0) throw new ScepMalformedError(`The ${what} is empty.`);
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    parsed = asn1js.fromBER(toArrayBuffer(bytes));
  } catch (error) {
    // asn1js throws, rather than reporting, on some malformed values (a GeneralizedTime...).
    throw new ScepMalformedError(`The ${what} is not valid ASN.1.`, { cause: error });
  }
  if (parsed.offset === -1 || parsed.result.error) {
    throw new ScepMalformedError(`The ${what} is not valid ASN.1.`);
  }
  if (parsed.offset !== bytes.byteLength) {
    throw new ScepMalformedError(`The ${what} has trailing bytes after its ASN.1 value.`);
  }
  return parsed.result;
}

/** The contents of an OCTET STRING, joining the pieces of a constructed (BER) one. */
export function octets(value: unknown, what: string): Buffer {
  if (!(value instanceof asn1js.OctetString))
    throw new ScepMalformedError(`The ${what} is not an OCTET STRING.`);
  if (!value.idBlock.isConstructed) return Buffer.from(value.valueBlock.valueHexView);
  const pieces: Buffer[] = [];
  for (const piece of value.valueBlock.value) pieces.push(octets(piece, what));
  return Buffer.concat(pieces);
}

/**
 * The bytes of an IMPLICIT [n] OCTET STRING (EncryptedContentInfo.encryptedContent), which
 * pkijs hands over as a bare primitive or constructed block rather than an OctetString.
 */
export function implicitOctets(value: unknown, what: string): Buffer {
  if (value instanceof asn1js.OctetString) return octets(value, what);
  if (value instanceof asn1js.Constructed) {
    return Buffer.concat(value.valueBlock.value.map((piece) => implicitOctets(piece, what)));
  }
  if (value instanceof asn1js.Primitive) return Buffer.from(value.valueBlock.valueHexView);
  throw new ScepMalformedError(`The ${what} is not an OCTET STRING.`);
}

/** A primitive OCTET STRING (DER), which pkijs would otherwise split into a constructed one. */
export function octetString(bytes: Uint8Array): asn1js.OctetString {
  return new asn1js.OctetString({ valueHex: toArrayBuffer(bytes) });
}

/** The DER encoding of an asn1js value or a pkijs object's schema. */
export function encode(value: { toBER(): ArrayBuffer } | { toSchema(): { toBER(): ArrayBuffer } }): Buffer {
  return 'toBER' in value ? fromArrayBuffer(value.toBER()) : fromArrayBuffer(value.toSchema().toBER());
}
