/**
 * The SCEP HTTP surface (RFC 8894 §4) in-process with inject(): GetCACaps, GetCACert with one
 * certificate and with a chain, PKIOperation by GET and by POST, and the plain-text 400/413/415
 * answers to requests that are not SCEP. The challenge never reaches the logs.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as asn1js from 'asn1js';
import Fastify, { type InjectOptions } from 'fastify';
import * as pkijs from 'pkijs';
import { createLogger } from '../../log/index.ts';
import { MessageType } from './oids.ts';
import { scepRoutes } from './routes.ts';
import { createTestScepCa, type TestScepCa } from './testing-ca.ts';
import { createCsr, envelopeFor, newIdentity, readCertRep, signedPkiMessage } from './testing-client.ts';

class Lines extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
}

async function appFor(ca: TestScepCa, logs = new Lines()) {
  const logger = createLogger({ level: 'trace', destination: logs });
  const app = Fastify({ loggerInstance: logger });
  await app.register(scepRoutes(ca, { logger }));
  await app.ready();
  return app;
}

describe('SCEP routes', () => {
  let ca: TestScepCa;
  let app: Awaited<ReturnType<typeof appFor>>;
  const logs = new Lines();
  before(async () => {
    ca = await createTestScepCa();
    app = await appFor(ca, logs);
  });
  after(async () => {
    await app.close();
  });

  test('GetCACaps: one capability per line, as text', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/pki/scep?operation=GetCACaps&message=CAIdentifier',
    });
    assert.equal(response.statusCode, 200);
    assert.match(response.headers['content-type'] ?? '', /^text\/plain/);
    assert.deepEqual(response.body.trimEnd().split('\n'), [
      'AES',
      'POSTPKIOperation',
      'Renewal',
      'SCEPStandard',
      'SHA-256',
      'SHA-512',
    ]);
  });

  test('GetCACert with a chain: application/x-x509-ca-ra-cert, a degenerate PKCS #7 of the chain', async () => {
    const response = await app.inject({ method: 'GET', url: '/pki/scep?operation=GetCACert&message=0' });
    assert.equal(response.statusCode, 200);
    // Exactly this type, no charset: certmonger compares the whole header.
    assert.equal(response.headers['content-type'], 'application/x-x509-ca-ra-cert');
    const info = new pkijs.ContentInfo({
      schema: asn1js.fromBER(new Uint8Array(response.rawPayload)).result,
    });
    assert.equal(info.contentType, '1.2.840.113549.1.7.2');
    const signedData = new pkijs.SignedData({ schema: info.content });
    assert.equal(signedData.signerInfos.length, 0);
    const certificates = (signedData.certificates ?? []).map((c) =>
      Buffer.from((c as pkijs.Certificate).toSchema().toBER()),
    );
    assert.deepEqual(certificates, [ca.issuing.der, ca.root.der]);
  });

  test('GetCACert with one certificate: application/x-x509-ca-cert, its DER', async () => {
    const single = await createTestScepCa({ singleCertificate: true, modulusLength: 2048 });
    const singleApp = await appFor(single);
    try {
      const response = await singleApp.inject({ method: 'GET', url: '/pki/scep?operation=GetCACert' });
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'application/x-x509-ca-cert');
      assert.deepEqual(response.rawPayload, single.issuing.der);
    } finally {
      await singleApp.close();
    }
  });

  async function pkcsReq(subject: string, challenge: string) {
    const identity = await newIdentity(subject);
    const csr = await createCsr(identity.keys, subject, challenge);
    const message = await signedPkiMessage({
      messageType: MessageType.PKCSReq,
      transactionId: randomBytes(8).toString('hex'),
      content: envelopeFor(csr, ca.issuing.der, 'aes-128-cbc'),
      signer: identity,
    });
    return { identity, message };
  }

  test('PKIOperation by POST (application/x-pki-message) issues the certificate', async () => {
    const challenge = ca.issueChallenge('post-1');
    const { identity, message } = await pkcsReq('CN=post-1', challenge);
    const response = await app.inject({
      method: 'POST',
      url: '/pki/scep?operation=PKIOperation',
      headers: { 'content-type': 'application/x-pki-message' },
      payload: message,
    });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'application/x-pki-message');
    const reply = await readCertRep(response.rawPayload, identity);
    assert.equal(reply.signatureVerified, true);
    assert.equal(reply.pkiStatus, '0');
    assert.ok(reply.issuedDer);
    const logText = logs.lines.join('\n');
    assert.ok(!logText.includes(challenge), 'the challenge is not logged');
    assert.match(logText, /SCEP PKIOperation answered/);
  });

  test('PKIOperation by POST as application/octet-stream, and by GET (encoded or not)', async () => {
    const first = await pkcsReq('CN=octet-1', ca.issueChallenge('octet-1'));
    const octet = await app.inject({
      method: 'POST',
      url: '/pki/scep?operation=PKIOperation',
      headers: { 'content-type': 'application/octet-stream' },
      payload: first.message,
    });
    assert.equal((await readCertRep(octet.rawPayload, first.identity)).pkiStatus, '0');

    const second = await pkcsReq('CN=get-1', ca.issueChallenge('get-1'));
    const encoded = encodeURIComponent(second.message.toString('base64'));
    const get = await app.inject({
      method: 'GET',
      url: `/pki/scep?operation=PKIOperation&message=${encoded}`,
    });
    assert.equal(get.statusCode, 200);
    assert.equal((await readCertRep(get.rawPayload, second.identity)).pkiStatus, '0');

    // Some clients do not percent-encode the base64: its '+' arrive as spaces.
    const third = await pkcsReq('CN=get-2', ca.issueChallenge('get-2'));
    const raw = third.message.toString('base64').replaceAll('/', '%2F').replaceAll('=', '%3D');
    const unencoded = await app.inject({
      method: 'GET',
      url: `/pki/scep?operation=PKIOperation&message=${raw}`,
    });
    assert.equal((await readCertRep(unencoded.rawPayload, third.identity)).pkiStatus, '0');
  });

  const malformed: Array<[string, InjectOptions, number, RegExp]> = [
    ['error/no operation', { method: 'GET', url: '/pki/scep' }, 400, /operation parameter is missing/],
    [
      'error/unknown operation',
      { method: 'GET', url: '/pki/scep?operation=GetCAChain' },
      400,
      /Unknown operation/,
    ],
    [
      'error/GET without message',
      { method: 'GET', url: '/pki/scep?operation=PKIOperation' },
      400,
      /message parameter/,
    ],
    [
      'error/message not base64',
      { method: 'GET', url: '/pki/scep?operation=PKIOperation&message=%25%25%25' },
      400,
      /not base64/,
    ],
    [
      'error/base64 garbage',
      {
        method: 'GET',
        url: `/pki/scep?operation=PKIOperation&message=${encodeURIComponent(randomBytes(300).toString('base64'))}`,
      },
      400,
      /pkiMessage/,
    ],
    [
      'error/POST garbage',
      {
        method: 'POST',
        url: '/pki/scep?operation=PKIOperation',
        headers: { 'content-type': 'application/x-pki-message' },
        payload: randomBytes(500),
      },
      400,
      /pkiMessage/,
    ],
    [
      'error/POST empty',
      {
        method: 'POST',
        url: '/pki/scep?operation=PKIOperation',
        headers: { 'content-type': 'application/x-pki-message' },
        payload: Buffer.alloc(0),
      },
      400,
      /empty/,
    ],
    [
      'error/POST of another operation',
      {
        method: 'POST',
        url: '/pki/scep?operation=GetCACaps',
        headers: { 'content-type': 'application/x-pki-message' },
        payload: Buffer.from([0x30, 0]),
      },
      400,
      /Only operation=PKIOperation/,
    ],
    [
      'error/POST over 64 KiB',
      {
        method: 'POST',
        url: '/pki/scep?operation=PKIOperation',
        headers: { 'content-type': 'application/x-pki-message' },
        payload: randomBytes(64 * 1024 + 1),
      },
      413,
      /larger than 65536 bytes/,
    ],
    [
      'error/POST of another media type',
      {
        method: 'POST',
        url: '/pki/scep?operation=PKIOperation',
        headers: { 'content-type': 'application/json' },
        payload: '{}',
      },
      415,
      /application\/x-pki-message/,
    ],
  ];
  for (const [name, request, status, text] of malformed) {
    test(name, async () => {
      const response = await app.inject(request);
      assert.equal(response.statusCode, status);
      assert.match(response.headers['content-type'] ?? '', /^text\/plain/);
      assert.match(response.body, text);
    });
  }

  test('a CA without an RSA key: PKIOperation answers 503, GetCACaps still works', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const ecApp = await appFor({
      ...ca,
      recipient: () => ({ certificateDer: ca.issuing.der, privateKey: ec }),
    });
    try {
      const { message } = await pkcsReq('CN=ec-1', ca.issueChallenge('ec-1'));
      const response = await ecApp.inject({
        method: 'POST',
        url: '/pki/scep?operation=PKIOperation',
        headers: { 'content-type': 'application/x-pki-message' },
        payload: message,
      });
      assert.equal(response.statusCode, 503);
      assert.match(response.body, /RSA issuing CA key/);
      const caps = await ecApp.inject({ method: 'GET', url: '/pki/scep?operation=GetCACaps' });
      assert.equal(caps.statusCode, 200);
    } finally {
      await ecApp.close();
    }
  });
});
