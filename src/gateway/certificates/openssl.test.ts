/**
 * OpenSSL accepts what test/support/pki.ts makes: certificates with the UPN otherName, base and
 * delta CRLs with their extensions (RFC 5280 §5.2), and `openssl verify -crl_check` reaches the
 * same verdicts as the gateway. Guards the test PKI against testing our parser with itself.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { X509CrlReason } from '@peculiar/x509';
import {
  createCrl,
  createTestCa,
  issueClientCertificate,
  issueServerCertificate,
} from '../../../test/support/pki.ts';

const dir = mkdtempSync(join(tmpdir(), 'herald-openssl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }).toString();
}

function derToPem(der: Buffer): string {
  return `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
}

for (const algorithm of ['ecdsa', 'rsa'] as const) {
  test(`openssl/${algorithm}: certificates, CRLs and verify -crl_check`, async () => {
    const ca = await createTestCa(`Herald OpenSSL ${algorithm} CA`, { algorithm });
    const good = await issueClientCertificate(ca, {
      cn: 'good',
      upn: 'alice@corp.example',
      email: 'alice@corp.example',
      crlUrl: 'http://127.0.0.1:1/ca.crl',
      deltaCrlUrl: 'http://127.0.0.1:1/delta.crl',
    });
    const revoked = await issueClientCertificate(ca, { cn: 'revoked', crlUrl: 'http://127.0.0.1:1/ca.crl' });
    const elsewhere = await issueClientCertificate(ca, {
      cn: 'elsewhere',
      crlUrl: 'http://127.0.0.1:1/other.crl',
    });
    const server = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const base = await createCrl(ca, {
      revoked: [{ serial: revoked.serialNumber, reason: X509CrlReason.keyCompromise }],
      crlNumber: 41,
      freshestUrl: 'http://127.0.0.1:1/delta.crl',
      distributionPoint: 'http://127.0.0.1:1/ca.crl',
    });
    const delta = await createCrl(ca, {
      revoked: [{ serial: good.serialNumber, reason: X509CrlReason.removeFromCRL }],
      crlNumber: 42,
      deltaOf: 41,
    });
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'good.pem'), good.certPem);
    writeFileSync(join(dir, 'revoked.pem'), revoked.certPem);
    writeFileSync(join(dir, 'elsewhere.pem'), elsewhere.certPem);
    writeFileSync(join(dir, 'server.pem'), server.certPem);
    writeFileSync(join(dir, 'base.der'), base);
    writeFileSync(join(dir, 'delta.der'), delta);
    writeFileSync(join(dir, 'base.pem'), derToPem(base));

    const certText = openssl('x509', '-in', 'good.pem', '-noout', '-text');
    assert.match(certText, /othername: UPN::alice@corp\.example/);
    assert.match(certText, /email:alice@corp\.example/);
    assert.match(certText, /TLS Web Client Authentication/);
    assert.match(certText, /X509v3 CRL Distribution Points:[\s\S]*URI:http:\/\/127\.0\.0\.1:1\/ca\.crl/);
    assert.match(certText, /X509v3 Freshest CRL:[\s\S]*URI:http:\/\/127\.0\.0\.1:1\/delta\.crl/);

    const baseText = openssl('crl', '-inform', 'DER', '-in', 'base.der', '-noout', '-text');
    assert.match(baseText, /X509v3 CRL Number:\s*\n\s*41/);
    assert.match(baseText, /X509v3 Freshest CRL/);
    assert.match(
      baseText,
      /X509v3 Issuing Distribution Point: critical[\s\S]*URI:http:\/\/127\.0\.0\.1:1\/ca\.crl/,
    );
    assert.match(baseText, new RegExp(`Serial Number: ${revoked.serialNumber}[\\s\\S]*Key Compromise`));
    const deltaText = openssl('crl', '-inform', 'DER', '-in', 'delta.der', '-noout', '-text');
    assert.match(deltaText, /X509v3 Delta CRL Indicator: critical\s*\n\s*41/);
    assert.match(deltaText, /Remove From CRL/);
    openssl('crl', '-inform', 'DER', '-in', 'base.der', '-CAfile', 'ca.pem', '-noout'); // signature verifies

    const verify = (cert: string) =>
      spawnSync('openssl', ['verify', '-CAfile', 'ca.pem', '-crl_check', '-CRLfile', 'base.pem', cert], {
        cwd: dir,
      });
    const ok = verify('good.pem');
    assert.equal(ok.status, 0, ok.stderr.toString());
    assert.match(ok.stdout.toString(), /good\.pem: OK/);
    const refused = verify('revoked.pem');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stdout.toString() + refused.stderr.toString(), /certificate revoked/);
    // The base CRL is partitioned (Issuing Distribution Point): like CrlCache, OpenSSL will not
    // let it speak for a certificate of another distribution point.
    const outOfScope = verify('elsewhere.pem');
    assert.notEqual(outOfScope.status, 0);
    assert.match(outOfScope.stdout.toString() + outOfScope.stderr.toString(), /different CRL scope/);
    const client = spawnSync(
      'openssl',
      ['verify', '-CAfile', 'ca.pem', '-purpose', 'sslclient', 'good.pem'],
      {
        cwd: dir,
      },
    );
    assert.equal(client.status, 0, client.stderr.toString());
    const tlsServer = spawnSync(
      'openssl',
      ['verify', '-CAfile', 'ca.pem', '-purpose', 'sslserver', 'server.pem'],
      {
        cwd: dir,
      },
    );
    assert.equal(tlsServer.status, 0, tlsServer.stderr.toString());
  });
}
