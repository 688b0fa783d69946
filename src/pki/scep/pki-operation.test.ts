/**
 * PKIOperation end to end against a throwaway CA, with a SCEP client built on pkijs + WebCrypto
 * (testing-client.ts): enrolment with one-time challenges, renewal, polling, every content
 * cipher and digest, and the refusals a real client must see as CertRep FAILUREs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate as NodeCertificate, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { ScepMalformedError } from './errors.ts';
import { MessageType } from './oids.ts';
import { pkiOperation } from './pki-operation.ts';
import { createTestScepCa, type TestScepCa } from './testing-ca.ts';
import {
  type ClientCipher,
  createCsr,
  envelopeFor,
  issuerAndSubject,
  newIdentity,
  type ReadCertRep,
  readCertRep,
  type ScepTestIdentity,
  signedPkiMessage,
} from './testing-client.ts';

interface Enrolment {
  transactionId: string;
  senderNonce: Buffer;
  reply: ReadCertRep;
  status: string;
}

let clock = new Date('2031-05-01T10:00:00Z');
const now = () => clock;

async function send(
  ca: TestScepCa,
  options: {
    identity: ScepTestIdentity;
    content: Buffer;
    messageType?: number;
    cipher?: ClientCipher;
    hash?: 'SHA-1' | 'SHA-256' | 'SHA-512';
    recipientDer?: Buffer;
    transactionId?: string;
    tamper?: (message: Buffer) => Buffer;
  },
): Promise<Enrolment> {
  const transactionId = options.transactionId ?? randomBytes(8).toString('hex');
  const senderNonce = randomBytes(16);
  const envelope = envelopeFor(
    options.content,
    options.recipientDer ?? ca.issuing.der,
    options.cipher ?? 'aes-128-cbc',
  );
  let message = await signedPkiMessage({
    messageType: options.messageType ?? MessageType.PKCSReq,
    transactionId,
    senderNonce,
    content: envelope,
    signer: options.identity,
    ...(options.hash ? { hash: options.hash } : {}),
  });
  if (options.tamper) message = options.tamper(message);
  const outcome = await pkiOperation(ca, message);
  const reply = await readCertRep(outcome.reply, options.identity);
  assert.equal(reply.signatureVerified, true, 'the CertRep signature verifies');
  assert.equal(reply.messageType, '3');
  assert.equal(reply.transactionId, transactionId, 'transactionID echoed');
  assert.deepEqual(reply.recipientNonce, senderNonce, 'recipientNonce is the request senderNonce');
  assert.equal(reply.senderNonce?.length, 16);
  assert.notDeepEqual(reply.senderNonce, senderNonce, 'a fresh senderNonce');
  assert.equal(outcome.transactionId, transactionId);
  return { transactionId, senderNonce, reply, status: outcome.status };
}

async function enrol(ca: TestScepCa, subject: string, challenge: string | undefined, extra = {}) {
  const identity = await newIdentity(subject);
  const csr = await createCsr(identity.keys, subject, challenge);
  return { identity, ...(await send(ca, { identity, content: csr, ...extra })) };
}

function assertIssued(ca: TestScepCa, reply: ReadCertRep, identity: ScepTestIdentity, subject: string) {
  assert.equal(reply.pkiStatus, '0', `SUCCESS expected, got ${reply.pkiStatus} ${reply.failInfoText ?? ''}`);
  assert.ok(reply.issuedDer, 'the issued certificate is in the reply');
  const issued = new NodeCertificate(reply.issuedDer);
  const issuing = new NodeCertificate(ca.issuing.der);
  assert.ok(issued.checkIssued(issuing) && issued.verify(issuing.publicKey), 'issued by the issuing CA');
  assert.ok(
    issued.publicKey
      .export({ type: 'spki', format: 'der' })
      .equals(new NodeCertificate(identity.certificateDer).publicKey.export({ type: 'spki', format: 'der' })),
    'for the requester key',
  );
  assert.match(issued.subject, new RegExp(`CN=${subject.replace(/^CN=/, '')}`));
  assert.deepEqual(reply.signerCertificateDer, ca.issuing.der, 'signed by the issuing CA');
  return issued;
}

function assertRefused(reply: ReadCertRep, failInfo: string, text: RegExp) {
  assert.equal(reply.pkiStatus, '2', 'FAILURE');
  assert.equal(reply.failInfo, failInfo);
  assert.match(reply.failInfoText ?? '', text);
  assert.equal(reply.issuedDer, undefined);
}

describe('SCEP PKIOperation', () => {
  let ca: TestScepCa;
  before(async () => {
    ca = await createTestScepCa({ now });
  });

  test('PKCSReq with a dynamic challenge: SUCCESS, the certificate, nonces and transaction id', async () => {
    const challenge = ca.issueChallenge('device-1');
    const { identity, reply, transactionId, status } = await enrol(ca, 'CN=device-1', challenge);
    assertIssued(ca, reply, identity, 'CN=device-1');
    assert.equal(status, 'SUCCESS');
    assert.equal(reply.contentCipherOid, '2.16.840.1.101.3.4.1.2', "answered with the request's cipher");
    const seen = ca.requests.at(-1)!;
    assert.equal(seen.challenge, challenge);
    assert.equal(seen.transactionId, transactionId);
    assert.equal(seen.renewal, undefined);
  });

  test('a resent PKCSReq (same transaction, same CSR: its reply was lost) gets the same certificate', async () => {
    const identity = await newIdentity('CN=device-resent');
    const csr = await createCsr(identity.keys, 'CN=device-resent', ca.issueChallenge('device-resent'));
    const first = await send(ca, { identity, content: csr, transactionId: 'tx-resent' });
    const again = await send(ca, { identity, content: csr, transactionId: 'tx-resent' });
    assert.equal(again.reply.pkiStatus, '0', again.reply.failInfoText);
    assert.deepEqual(again.reply.issuedDer, first.reply.issuedDer);
  });

  test('a reused challenge is refused (FAILURE badRequest)', async () => {
    const challenge = ca.issueChallenge('device-2');
    const first = await enrol(ca, 'CN=device-2', challenge);
    assert.equal(first.reply.pkiStatus, '0');
    const second = await enrol(ca, 'CN=device-2', challenge);
    assertRefused(second.reply, '2', /used already/);
  });

  test('an expired challenge is refused: one-time passwords last 60 minutes', async () => {
    const challenge = ca.issueChallenge('device-3');
    clock = new Date(clock.getTime() + 61 * 60_000);
    const { reply } = await enrol(ca, 'CN=device-3', challenge);
    assertRefused(reply, '2', /expired/);
    const fresh = ca.issueChallenge('device-3');
    clock = new Date(clock.getTime() + 59 * 60_000);
    assert.equal((await enrol(ca, 'CN=device-3', fresh)).reply.pkiStatus, '0', 'valid for 59 minutes');
  });

  test('a challenge binds the identity it was issued for', async () => {
    const challenge = ca.issueChallenge('device-4');
    assertRefused((await enrol(ca, 'CN=someone-else', challenge)).reply, '2', /another identity/);
    assertRefused((await enrol(ca, 'CN=device-4', undefined)).reply, '2', /required/);
    assertRefused((await enrol(ca, 'CN=device-4', 'guessed')).reply, '2', /not valid/);
  });

  test('RenewalReq signed with the issued certificate: SUCCESS for the new key', async () => {
    const first = await enrol(ca, 'CN=device-5', ca.issueChallenge('device-5'));
    const current: ScepTestIdentity = { ...first.identity, certificateDer: first.reply.issuedDer! };
    const next = await newIdentity('CN=device-5');
    const csr = await createCsr(next.keys, 'CN=device-5');
    const renewal = await send(ca, { identity: current, content: csr, messageType: MessageType.RenewalReq });
    // The reply is encrypted to the certificate that signed the request: the current one.
    assertIssued(ca, renewal.reply, next, 'CN=device-5');
    assert.deepEqual(ca.requests.at(-1)!.renewal?.signerCertificateDer, first.reply.issuedDer);
    assert.equal(ca.requests.at(-1)!.challenge, undefined);

    // certmonger renews with a PKCSReq signed by the current certificate: a renewal as well.
    const again = await send(ca, { identity: current, content: await createCsr(next.keys, 'CN=device-5') });
    assert.equal(again.reply.pkiStatus, '0');
    assert.ok(ca.requests.at(-1)!.renewal);
  });

  test('RenewalReq signed with a self-signed certificate is refused', async () => {
    const identity = await newIdentity('CN=device-6');
    const csr = await createCsr(identity.keys, 'CN=device-6');
    const { reply } = await send(ca, { identity, content: csr, messageType: MessageType.RenewalReq });
    assertRefused(reply, '2', /issued certificate/);
  });

  test('a renewal signed by a certificate of another CA is refused (badCertId)', async () => {
    const other = await createTestScepCa({ now });
    const elsewhere = await enrol(other, 'CN=device-7', other.issueChallenge('device-7'));
    const current: ScepTestIdentity = { ...elsewhere.identity, certificateDer: elsewhere.reply.issuedDer! };
    const csr = await createCsr(elsewhere.identity.keys, 'CN=device-7');
    const { reply } = await send(ca, {
      identity: current,
      content: csr,
      messageType: MessageType.RenewalReq,
    });
    assertRefused(reply, '4', /not issued by this CA/);
  });

  for (const cipher of ['des-ede3-cbc', 'aes-128-cbc', 'aes-256-cbc'] as const) {
    test(`cipher/${cipher}: decrypted, and the reply is encrypted with it too`, async () => {
      const subject = `CN=cipher-${cipher}`;
      const { identity, reply } = await enrol(ca, subject, ca.issueChallenge(`cipher-${cipher}`), { cipher });
      assertIssued(ca, reply, identity, subject);
      const oids = {
        'des-ede3-cbc': '1.2.840.113549.3.7',
        'aes-128-cbc': '2.16.840.1.101.3.4.1.2',
        'aes-256-cbc': '2.16.840.1.101.3.4.1.42',
      };
      assert.equal(reply.contentCipherOid, oids[cipher]);
    });
  }

  for (const hash of ['SHA-1', 'SHA-512'] as const) {
    test(`digest/${hash}: the request signature verifies`, async () => {
      const subject = `CN=hash-${hash}`;
      const { identity, reply } = await enrol(ca, subject, ca.issueChallenge(`hash-${hash}`), { hash });
      assertIssued(ca, reply, identity, subject);
    });
  }

  test('a tampered signature is refused (FAILURE badMessageCheck) and nothing is issued', async () => {
    const before = ca.requests.length;
    const flipSignature = (message: Buffer) => {
      const info = new pkijs.ContentInfo({ schema: asn1js.fromBER(new Uint8Array(message)).result });
      const signedData = new pkijs.SignedData({ schema: info.content });
      const signature = Buffer.from(signedData.signerInfos[0]!.signature.valueBlock.valueHexView);
      signature[10]! ^= 0x01;
      signedData.signerInfos[0]!.signature = new asn1js.OctetString({ valueHex: new Uint8Array(signature) });
      const out = new pkijs.ContentInfo({ contentType: info.contentType, content: signedData.toSchema() });
      return Buffer.from(out.toSchema().toBER());
    };
    const { reply } = await enrol(ca, 'CN=device-8', ca.issueChallenge('device-8'), {
      tamper: flipSignature,
    });
    assertRefused(reply, '1', /signature does not verify/);
    assert.equal(ca.requests.length, before, 'the authority was not asked');
  });

  test('content changed after signing is refused (messageDigest, badMessageCheck)', async () => {
    const identity = await newIdentity('CN=device-9');
    const csr = await createCsr(identity.keys, 'CN=device-9', ca.issueChallenge('device-9'));
    const envelope = envelopeFor(csr, ca.issuing.der, 'aes-128-cbc');
    const message = await signedPkiMessage({
      messageType: 19,
      transactionId: 't-9',
      content: envelope,
      signer: identity,
    });
    // The last bytes of the envelope are ciphertext, inside the signed content.
    const at = message.indexOf(envelope.subarray(-8));
    assert.ok(at > 0);
    message[at]! ^= 0x01;
    const reply = await readCertRep((await pkiOperation(ca, message)).reply, identity);
    assertRefused(reply, '1', /messageDigest/);
  });

  test('a request encrypted to another certificate cannot be decrypted (badMessageCheck)', async () => {
    const { reply } = await enrol(ca, 'CN=device-10', ca.issueChallenge('device-10'), {
      recipientDer: ca.root.der,
    });
    assert.equal(reply.pkiStatus, '2');
    assert.equal(reply.failInfo, '1');
  });

  test('a CSR whose own signature is broken is refused (proof of possession)', async () => {
    const identity = await newIdentity('CN=device-11');
    const csr = await createCsr(identity.keys, 'CN=device-11', ca.issueChallenge('device-11'));
    csr[csr.length - 5]! ^= 0x01;
    const { reply } = await send(ca, { identity, content: csr });
    assertRefused(reply, '1', /certificate request signature/);
  });

  test('content that is not a CSR is refused (badRequest)', async () => {
    const identity = await newIdentity('CN=device-12');
    const { reply } = await send(ca, { identity, content: Buffer.from('not a certificate request') });
    assertRefused(reply, '2', /PKCS #10/);
  });

  for (const [name, type] of [
    ['GetCert', MessageType.GetCert],
    ['GetCRL', MessageType.GetCRL],
    ['CertRep', MessageType.CertRep],
    ['unknown 99', 99],
  ] as const) {
    test(`messageType/${name} is not supported: FAILURE badRequest`, async () => {
      const identity = await newIdentity('CN=device-13');
      const { reply } = await send(ca, { identity, content: Buffer.from([0x30, 0x00]), messageType: type });
      assertRefused(reply, '2', /messageType/);
    });
  }

  test('a message that is not a pkiMessage throws ScepMalformedError (HTTP 400)', async () => {
    const identity = await newIdentity('CN=device-14');
    const signed = await signedPkiMessage({
      messageType: 19,
      transactionId: 't',
      content: Buffer.from('x'),
      signer: identity,
    });
    const cases: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['random bytes', randomBytes(200)],
      ['truncated', signed.subarray(0, signed.length - 10)],
      ['trailing bytes', Buffer.concat([signed, Buffer.from([0])])],
      ['a certificate', ca.issuing.der],
      [
        'degenerate SignedData (no signer)',
        Buffer.from(
          await (async () => {
            const { certificatesOnly } = await import('./signed-data.ts');
            return certificatesOnly([ca.root.der]);
          })(),
        ),
      ],
    ];
    for (const [name, der] of cases) {
      await assert.rejects(pkiOperation(ca, der), ScepMalformedError, name);
    }
  });
});

describe('SCEP with a static challenge (a template shared by many devices)', () => {
  test('the static challenge is accepted again and again; a dynamic one still only once', async () => {
    const ca = await createTestScepCa({ now, staticChallenge: 'template-secret', singleCertificate: true });
    for (const subject of ['CN=kiosk-1', 'CN=kiosk-2']) {
      const { identity, reply } = await enrol(ca, subject, 'template-secret');
      assertIssued(ca, reply, identity, subject);
    }
    const once = ca.issueChallenge('kiosk-3');
    assert.equal((await enrol(ca, 'CN=kiosk-3', once)).reply.pkiStatus, '0');
    assertRefused((await enrol(ca, 'CN=kiosk-3', once)).reply, '2', /used already/);
  });
});

describe('SCEP CertPoll', () => {
  test('SUCCESS again after a lost reply, PENDING while the CA holds it; an unknown transaction is badCertId', async () => {
    const ca = await createTestScepCa({ now, singleCertificate: true });
    const identity = await newIdentity('CN=poll-1');
    const csr = await createCsr(identity.keys, 'CN=poll-1', ca.issueChallenge('poll-1'));
    const request = await send(ca, { identity, content: csr, transactionId: 'tx-poll-1' });
    assert.equal(request.reply.pkiStatus, '0');

    const poll = (transactionId: string) =>
      send(ca, {
        identity,
        transactionId,
        messageType: MessageType.CertPoll,
        content: issuerAndSubject(ca.issuing.der, 'CN=poll-1'),
      });
    const again = await poll('tx-poll-1');
    assertIssued(ca, again.reply, identity, 'CN=poll-1');
    assert.deepEqual(again.reply.issuedDer, request.reply.issuedDer);

    ca.hold('tx-poll-1');
    const pending = await poll('tx-poll-1');
    assert.equal(pending.reply.pkiStatus, '3', 'PENDING');
    assert.equal(pending.reply.failInfo, undefined);
    assert.equal(pending.reply.issuedDer, undefined);
    ca.release('tx-poll-1');
    assert.equal((await poll('tx-poll-1')).reply.pkiStatus, '0');

    assertRefused((await poll('tx-unknown')).reply, '4', /No request/);
  });
});

describe('SCEP CertRep and OpenSSL', () => {
  const openssl = (() => {
    try {
      execFileSync('openssl', ['version']);
      return true;
    } catch {
      return false;
    }
  })();
  test('OpenSSL verifies a CertRep against the root (as certmonger and sscep do)', {
    skip: openssl ? false : 'openssl is not installed',
  }, async () => {
    const ca = await createTestScepCa({ now: () => new Date() });
    const identity = await newIdentity('CN=openssl-1');
    const csr = await createCsr(identity.keys, 'CN=openssl-1', ca.issueChallenge('openssl-1'));
    const message = await signedPkiMessage({
      messageType: 19,
      transactionId: 'o-1',
      content: envelopeFor(csr, ca.issuing.der, 'aes-256-cbc'),
      signer: identity,
    });
    const directory = mkdtempSync(join(tmpdir(), 'herald-scep-'));
    try {
      for (const [name, der] of [
        ['success.der', (await pkiOperation(ca, message)).reply],
        ['failure.der', (await pkiOperation(ca, message)).reply],
      ] as const) {
        writeFileSync(join(directory, name), der);
      }
      writeFileSync(join(directory, 'root.pem'), ca.root.pem);
      for (const name of ['success.der', 'failure.der']) {
        // PKCS7_verify re-encodes the signed attributes: this fails if their SET is not in DER order.
        execFileSync(
          'openssl',
          [
            'smime',
            '-verify',
            '-binary',
            '-inform',
            'DER',
            '-in',
            join(directory, name),
            '-CAfile',
            join(directory, 'root.pem'),
            '-purpose',
            'any',
            '-out',
            join(directory, `${name}.content`),
          ],
          { stdio: 'pipe' },
        );
      }
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
