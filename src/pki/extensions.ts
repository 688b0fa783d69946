/**
 * The X.509 extensions @peculiar/x509 has no class for, encoded with its ASN.1 schemas: CRL
 * Number (RFC 5280 §5.2.3), Delta CRL Indicator (§5.2.4) and Freshest CRL (§4.2.1.15, §5.2.6).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BaseCRLNumber,
  CRLNumber,
  DistributionPoint,
  DistributionPointName,
  FreshestCRL,
  GeneralName,
  id_ce_cRLNumber,
  id_ce_deltaCRLIndicator,
  id_ce_freshestCRL,
} from '@peculiar/asn1-x509';
import { x509 } from './x509.ts';

export const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const OID_UPN = '1.3.6.1.4.1.311.20.2.3';

export function crlNumberExtension(value: number): x509.Extension {
  return new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(value)));
}

/** Critical, as §5.2.4 requires: a client that cannot use deltas must not take one for a full CRL. */
export function deltaCrlIndicatorExtension(baseNumber: number): x509.Extension {
  return new x509.Extension(
    id_ce_deltaCRLIndicator,
    true,
    AsnConvert.serialize(new BaseCRLNumber(baseNumber)),
  );
}

/** Non-critical in both certificates and CRLs (§4.2.1.15, §5.2.6). */
export function freshestCrlExtension(url: string): x509.Extension {
  const point = new DistributionPoint({
    distributionPoint: new DistributionPointName({
      fullName: [new GeneralName({ uniformResourceIdentifier: url })],
    }),
  });
  return new x509.Extension(id_ce_freshestCRL, false, AsnConvert.serialize(new FreshestCRL([point])));
}

/** RFC 5280 §5.3.1 CRLReason names and codes (7 is unused). */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReason = keyof typeof REVOCATION_REASONS;
