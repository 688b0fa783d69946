/**
 * Herald's CA and Herald's gateway together: the gateway trusts Herald's CA chain and fetches
 * its CRLs from where the certificates point (the CDP and Freshest CRL under Herald's
 * publicUrl, served by `herald serve`). A device certificate Herald issued through the admin API
 * reaches Exchange; after `revoke` (a new delta CRL) and a CRL refresh it is refused as
 * `revoked`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { opensslCsr, type TempDir, tempDir } from '../../src/pki/testing.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { type RunningHerald, startHerald } from '../support/herald.ts';
import { type PkiAdminCall, pkiAdmin, TEST_PKI_CONFIG } from '../support/pki-admin.ts';

describe('the gateway accepts a certificate from Herald and refuses it once revoked', () => {
  let herald: RunningHerald;
  let api: PkiAdminCall;
  let gw: TestGateway;
  let dir: TempDir;
  let device: { certPem: string; keyPem: string; serial: string };
  let issuingId: string;

  before(async () => {
    dir = tempDir();
    herald = await startHerald({ config: { pki: TEST_PKI_CONFIG } });
    api = pkiAdmin(herald);
    const template = await api('POST', '/templates', {
      name: 'ens',
      subject: 'CN={DeviceUid},O=Contoso',
      sanEmail: '{EmailAddress}',
      sanUpn: '{UserPrincipalName}',
    });
    assert.equal(template.status, 201, template.text);
    const issued = await api('POST', '/certificates', {
      template: 'ens',
      csr: opensslCsr(dir, 'device'),
      values: {
        DeviceUid: 'ApplF17X',
        EmailAddress: 'alice@contoso.example',
        UserPrincipalName: 'alice@corp.example',
      },
    });
    assert.equal(issued.status, 201, issued.text);
    const certificate = issued.json.certificate as { pem: string; serial: string };
    device = {
      certPem: certificate.pem,
      keyPem: dir.read('device.key').toString('utf8'),
      serial: certificate.serial,
    };
    const info = (await api('GET', '/ca')).json;
    issuingId = String(info.issuingId);
    const chain = String(info.chainPem);
    gw = await startTestGateway({
      store: herald.service.store,
      trustedCaPem: chain,
      gateway: { crl: { refreshSeconds: 3600 } },
    });
  });

  after(async () => {
    await gw?.close();
    await herald?.stop();
    dir?.remove();
  });

  test('the device reaches Exchange with its Herald certificate; CRLs came from Herald', async () => {
    const response = await gw.request({
      path: '/Microsoft-Server-ActiveSync?Cmd=Options&User=alice&DeviceId=ApplF17X&DeviceType=iPhone',
      cert: device,
    });
    assert.equal(response.status, 200, response.body.toString('utf8'));
    assert.equal(gw.upstream.requests.length, 1);
    // The gateway's CRL fetches went to Herald, not to the test CA's distribution point.
    assert.equal(gw.crl.requests(), 0);
    for (const file of [`${issuingId}.crl`, `${issuingId}-delta.crl`]) {
      assert.ok(
        herald.logs.lines.some((line) => line.includes(`"url":"/pki/crl/${file}"`)),
        `Herald served ${file} to the gateway`,
      );
    }
  });

  test('after revoke and a CRL refresh: 403, reason revoked', async () => {
    const revoked = await api('POST', `/certificates/${device.serial}/revoke`, { reason: 'keyCompromise' });
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.json.crlPublished, true);
    await gw.gateway.crls!.refreshAll();
    const response = await gw.request({
      path: '/Microsoft-Server-ActiveSync?Cmd=Options&User=alice&DeviceId=ApplF17X&DeviceType=iPhone',
      cert: device,
    });
    assert.equal(response.status, 403);
    assert.equal(response.headers['x-herald-gateway'], 'certificate; reason=revoked');
    assert.equal(gw.upstream.requests.length, 1, 'nothing more reached Exchange');
  });
});
