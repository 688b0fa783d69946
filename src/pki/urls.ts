/**
 * Where the CA publishes: every issued certificate points at these (CDP, Freshest CRL, AIA),
 * and the HTTP routes serve them (operator.md, Certificate authority).
 */

export interface PkiUrls {
  /** The full CRL of a CA: `{publicUrl}/pki/crl/<id>.crl`. */
  crl(authorityId: string): string;
  /** Its delta CRL: `{publicUrl}/pki/crl/<id>-delta.crl`. */
  deltaCrl(authorityId: string): string;
  /** The CA certificate (DER): `{publicUrl}/pki/ca/<id>.crt`. */
  caCertificate(authorityId: string): string;
}

export function pkiUrls(publicUrl: string): PkiUrls {
  const url = new URL(publicUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`publicUrl must be http(s), not ${url.protocol}`);
  }
  // Relying parties fetch CRLs without following redirects reliably; the base must be exact.
  const base = url.toString().replace(/\/+$/, '');
  return {
    crl: (id) => `${base}/pki/crl/${encodeURIComponent(id)}.crl`,
    deltaCrl: (id) => `${base}/pki/crl/${encodeURIComponent(id)}-delta.crl`,
    caCertificate: (id) => `${base}/pki/ca/${encodeURIComponent(id)}.crt`,
  };
}
