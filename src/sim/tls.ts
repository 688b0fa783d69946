/**
 * A throwaway TLS identity for simulators that speak HTTPS (APNs is HTTP/2 over TLS only): a
 * self-signed P-256 certificate for the loopback names, made at start, so a simulator needs no
 * files. Clients trust it through the PEM the simulator hands out (its `ca`).
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

export interface TlsIdentity {
  /** PEM certificate (self-signed: it is also the CA a client trusts). */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export async function selfSignedIdentity(
  hosts: readonly string[] = ['localhost', '127.0.0.1', '::1'],
  days = 30,
): Promise<TlsIdentity> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 60_000);
  const serialNumber = webcrypto
    .getRandomValues(new Uint8Array(8))
    .reduce((s, b) => s + b.toString(16).padStart(2, '0'), '01');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    // A name of its own: two simulators trusted side by side must not look like one issuer (a
    // verifier finds the issuer by name and would check the signature against the wrong key).
    name: `CN=${hosts[0] ?? 'localhost'}, OU=${serialNumber}, O=Herald simulator`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * 86_400_000),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((value) => ({ type: isIP(value) ? ('ip' as const) : ('dns' as const), value })),
      ),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString('pem'), key };
}
