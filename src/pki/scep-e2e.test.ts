/**
 * The CA behind the real SCEP protocol code (./scep/): a client enrolls with a one-time
 * challenge (PKCSReq), then renews with the certificate it got (RenewalReq, no challenge); a
 * reused challenge gets a signed FAILURE. Proves the ScepAuthority contract end to end.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { forEachDatabase } from '../store/testing.ts';
import { MessageType } from './scep/oids.ts';
import { pkiOperation } from './scep/pki-operation.ts';
import { createCsr, envelopeFor, newIdentity, readCertRep, signedPkiMessage } from './scep/testing-client.ts';
import { openTestCa } from './testing.ts';

forEachDatabase('pki/scep end to end: PKCSReq with a one-time challenge, then RenewalReq', async (store) => {
  const ca = await openTestCa(store);
  await ca.addTemplate({
    name: 'ens',
    subject: 'CN={DeviceUid},O=Contoso',
    sanEmail: '{EmailAddress}',
    sanUpn: '{UserPrincipalName}',
  });
  const values = {
    DeviceUid: 'IPHONE-1',
    EmailAddress: 'erin@contoso.example',
    UserPrincipalName: 'erin@corp.example',
  };
  const { challenge } = await ca.createChallenge({ template: 'ens', values });
  const authority = ca.scep();
  const recipient = authority.recipient().certificateDer;

  const device = await newIdentity('CN=IPHONE-1');
  const csr = await createCsr(device.keys, 'CN=IPHONE-1', challenge);
  const request = await signedPkiMessage({
    messageType: MessageType.PKCSReq,
    transactionId: 'e2e-1',
    content: envelopeFor(csr, recipient, 'aes-256-cbc'),
    signer: device,
  });
  const outcome = await pkiOperation(authority, request);
  assert.equal(outcome.status, 'SUCCESS');
  const reply = await readCertRep(outcome.reply, device);
  assert.equal(reply.signatureVerified, true);
  assert.equal(reply.pkiStatus, '0');
  const issued = new X509Certificate(reply.issuedDer!);
  assert.equal(issued.subject, 'CN=IPHONE-1\nO=Contoso');
  assert.equal(issued.subjectAltName, 'email:erin@contoso.example, othername:UPN:erin@corp.example');
  assert.ok(issued.checkIssued(new X509Certificate(ca.chainDer()[0]!)));

  // The same challenge again, from another device: a signed FAILURE (badRequest).
  const intruder = await newIdentity('CN=IPHONE-1');
  const reuse = await pkiOperation(
    authority,
    await signedPkiMessage({
      messageType: MessageType.PKCSReq,
      transactionId: 'e2e-2',
      content: envelopeFor(
        await createCsr(intruder.keys, 'CN=IPHONE-1', challenge),
        recipient,
        'aes-256-cbc',
      ),
      signer: intruder,
    }),
  );
  assert.equal(reuse.status, 'FAILURE');
  const refused = await readCertRep(reuse.reply, intruder);
  assert.equal(refused.failInfo, '2');
  assert.match(refused.failInfoText ?? '', /used already/);

  // Renewal: a new key, signed with the issued certificate, no challenge.
  const renewing = await newIdentity('CN=IPHONE-1');
  const signer = { ...device, certificateDer: reply.issuedDer! };
  const renewal = await pkiOperation(
    authority,
    await signedPkiMessage({
      messageType: MessageType.RenewalReq,
      transactionId: 'e2e-3',
      content: envelopeFor(await createCsr(renewing.keys, 'CN=IPHONE-1,O=Contoso'), recipient, 'aes-256-cbc'),
      signer,
    }),
  );
  assert.equal(renewal.status, 'SUCCESS', JSON.stringify(renewal));
  assert.equal(renewal.renewal, true);
  const renewed = new X509Certificate((await readCertRep(renewal.reply, signer)).issuedDer!);
  assert.equal(renewed.subject, issued.subject);
  assert.notEqual(renewed.serialNumber, issued.serialNumber);
});
