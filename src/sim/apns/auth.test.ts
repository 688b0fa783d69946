import 'reflect-metadata';
import assert from 'node:assert/strict';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import type http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { type ApnsSimulator, startApnsSimulator } from './index.ts';
import { closeSession, connect, deviceToken, type GeneratedKey, providerToken, push } from './testkit.ts';

const HOUR = 3600;

describe('provider tokens', () => {
  let sim: ApnsSimulator;
  let clock = Date.now();
  const nowS = () => Math.floor(clock / 1000);
  const sessions: http2.ClientHttp2Session[] = [];
  const open = () => {
    const session = connect(sim);
    sessions.push(session);
    return session;
  };

  before(async () => {
    sim = await startApnsSimulator({ now: () => clock });
  });
  after(async () => {
    await Promise.all(sessions.map(closeSession));
    await sim.close();
  });

  /** Tokens issued at the simulator's clock unless told otherwise. */
  const token = (key: GeneratedKey, claims: Parameters<typeof providerToken>[1] = {}) =>
    providerToken(key, { iat: nowS(), ...claims });

  async function answer(jwt: string | undefined, session = open()) {
    const result = await push(session, jwt === undefined ? {} : { jwt });
    return result.status === 200 ? 200 : `${result.status} ${result.json?.reason}`;
  }

  test('no authorization and no client certificate → 403 MissingProviderToken', async () => {
    assert.equal(await answer(undefined), '403 MissingProviderToken');
    assert.equal(await answer(''), '403 MissingProviderToken');
    assert.deepEqual(sim.requests().at(-1)?.auth, { kind: 'none' });
  });

  test('malformed tokens → 403 InvalidProviderToken', async () => {
    const key = sim.generateKey();
    const good = await token(key);
    const session = open();
    for (const header of ['Basic dXNlcjpwdw==', 'bearer', 'bearer not.a.jwt', `token ${good}`]) {
      const result = await push(session, { headers: { authorization: header } });
      assert.equal(result.status, 403, header);
      assert.deepEqual(result.json, { reason: 'InvalidProviderToken' }, header);
    }
    // "Bearer" in any case is fine
    assert.equal((await push(session, { headers: { authorization: `Bearer ${good}` } })).status, 200);
  });

  test('a wrong signature, an unknown kid, a wrong iss, no iat or another alg → 403 InvalidProviderToken', async () => {
    const key = sim.generateKey();
    const impostor: GeneratedKey = { ...sim.generateKey(), keyId: key.keyId, teamId: key.teamId };
    // same kid and team as `key`, signed with another private key
    const cases: Record<string, string> = {
      'wrong signature': await token(impostor),
      'unknown kid': await token(key, { kid: 'UNKNOWN123' }),
      'wrong iss': await token(key, { iss: 'OTHERTEAM1' }),
      'no iat': await token(key, { iat: null }),
      ES384: await token(key, { alg: 'ES384' }),
      'iat in milliseconds': await token(key, { iat: clock }),
    };
    for (const [name, jwt] of Object.entries(cases)) {
      assert.equal(await answer(jwt), '403 InvalidProviderToken', name);
    }
    assert.equal(await answer(await token(key)), 200);
  });

  test('iat more than an hour old → 403 ExpiredProviderToken; just under an hour is fine', async () => {
    const key = sim.generateKey();
    const jwt = await token(key, { iat: nowS() });
    assert.equal(await answer(jwt), 200);
    clock += (HOUR - 10) * 1000;
    assert.equal(await answer(jwt), 200);
    clock += 20_000;
    assert.equal(await answer(jwt), '403 ExpiredProviderToken');
    const record = sim.requests().at(-1)!;
    assert.equal(record.auth.kind, 'token');
    // a fresh token works again
    assert.equal(await answer(await token(key, { iat: nowS() })), 200);
  });

  test('a new token less than 20 minutes after the last → 429 TooManyProviderTokenUpdates', async () => {
    const key = sim.generateKey();
    const t0 = nowS();
    const first = await token(key, { iat: t0 });
    const session = open();
    assert.equal(await answer(first, session), 200);
    // the same token again, on any connection, is no update
    assert.equal(await answer(first, session), 200);
    assert.equal(await answer(first), 200);
    clock += 5 * 60_000;
    const early = await token(key, { iat: t0 + 5 * 60 });
    assert.equal(await answer(early, session), '429 TooManyProviderTokenUpdates');
    assert.equal(await answer(early), '429 TooManyProviderTokenUpdates');
    assert.equal(await answer(first, session), 200, 'the accepted token still works');
    clock += 15 * 60_000;
    const onTime = await token(key, { iat: t0 + 20 * 60 });
    assert.equal(await answer(onTime, session), 200);
    assert.equal(await answer(first, session), 200, 'the previous token stays valid until it expires');
    // another team's refresh is its own business
    const other = sim.generateKey();
    assert.equal(await answer(await token(other, { iat: t0 + 20 * 60 + 1 })), 200);
  });

  test('a token of another team on a connection → 403 UnrelatedKeyIdInToken; a second key of the same team is fine', async () => {
    const a = sim.generateKey('TEAMAAAAAA');
    const a2 = sim.generateKey('TEAMAAAAAA');
    const b = sim.generateKey('TEAMBBBBBB');
    const session = open();
    assert.equal(await answer(await token(a), session), 200);
    // (a token of a2 issued 20 minutes before a's, so it is no refresh too soon)
    assert.equal(await answer(await token(a2, { iat: nowS() - 20 * 60 }), session), 200);
    assert.equal(await answer(await token(b), session), '403 UnrelatedKeyIdInToken');
    assert.equal(await answer(await token(b)), 200, 'a new connection may carry team B');
  });

  test('keys given as .p8 private keys or SPKI public keys are both accepted', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const privateKey = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const publicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    sim.addKey({ keyId: 'P8KEY00001', teamId: 'P8TEAM0001', publicKey: privateKey });
    sim.addKey({ keyId: 'SPKIKEY001', teamId: 'SPKITEAM01', publicKey });
    const p8 = { keyId: 'P8KEY00001', teamId: 'P8TEAM0001', publicKey, privateKey };
    const spki = { keyId: 'SPKIKEY001', teamId: 'SPKITEAM01', publicKey, privateKey };
    assert.equal(await answer(await token(p8)), 200);
    assert.equal(await answer(await token(spki)), 200);
    assert.ok(sim.keys().some((k) => k.keyId === 'P8KEY00001' && k.publicKey.includes('PUBLIC KEY')));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.throws(
      () =>
        sim.addKey({
          keyId: 'RSA',
          teamId: 'T',
          publicKey: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        }),
      /P-256/,
    );
    assert.throws(() => sim.addKey({ keyId: 'X', teamId: 'T', publicKey: 'nope' }), /PEM/);
  });

  test('generateKey makes 10-character ids and a .p8', () => {
    const key = sim.generateKey();
    assert.match(key.keyId, /^[A-Z0-9]{10}$/);
    assert.match(key.teamId, /^[A-Z0-9]{10}$/);
    assert.match(key.privateKey, /^-----BEGIN PRIVATE KEY-----/);
    const given = sim.generateKey('ABCDE12345', 'KEYID12345');
    assert.equal(given.teamId, 'ABCDE12345');
    assert.equal(given.keyId, 'KEYID12345');
  });
});

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const UID = '0.9.2342.19200300.100.1.1';

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`;
}

async function makeCa(name: string) {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  return { keys, cert };
}

async function makeClientCert(ca: Awaited<ReturnType<typeof makeCa>>, bundleId: string) {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: `${UID}=${bundleId}, CN=Apple Push Services: ${bundleId}, OU=TEAM123456, O=Example, C=US`,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  });
  return { cert: cert.toString('pem'), key: await pkcs8Pem(keys.privateKey) };
}

describe('certificate-based provider auth', () => {
  let sim: ApnsSimulator;
  let good: { cert: string; key: string };
  let stranger: { cert: string; key: string };
  const sessions: http2.ClientHttp2Session[] = [];
  const open = (identity?: { cert: string; key: string }) => {
    const session = connect(sim, identity ?? {});
    sessions.push(session);
    return session;
  };

  before(async () => {
    const ca = await makeCa('Test Apple WWDR');
    const otherCa = await makeCa('Somebody else');
    good = await makeClientCert(ca, 'com.example.mail');
    stranger = await makeClientCert(otherCa, 'com.example.mail');
    sim = await startApnsSimulator({ clientCa: ca.cert.toString('pem') });
  });
  after(async () => {
    await Promise.all(sessions.map(closeSession));
    await sim.close();
  });

  test('a certificate from the client CA authenticates; its UID is the default topic', async () => {
    const session = open(good);
    const token = deviceToken();
    const result = await push(session, { token, topic: null });
    assert.equal(result.status, 200, result.text);
    const record = sim.received({ token })[0]!;
    assert.equal(record.topic, 'com.example.mail');
    assert.equal(record.auth.kind, 'certificate');
    assert.match(record.auth.kind === 'certificate' ? record.auth.subject : '', /UID=com\.example\.mail/);
    assert.equal((await push(session, { topic: 'com.example.mail' })).status, 200);
    assert.equal((await push(session, { topic: 'com.example.mail.voip' })).status, 200);
  });

  test("another app's topic → 400 TopicDisallowed", async () => {
    const result = await push(open(good), { topic: 'com.example.other' });
    assert.equal(result.status, 400);
    assert.deepEqual(result.json, { reason: 'TopicDisallowed' });
  });

  test('a certificate not from the client CA → 403 BadCertificate', async () => {
    const result = await push(open(stranger), { topic: 'com.example.mail' });
    assert.equal(result.status, 403);
    assert.deepEqual(result.json, { reason: 'BadCertificate' });
  });

  test('no certificate and no token → 403 MissingProviderToken', async () => {
    const result = await push(open(), {});
    assert.deepEqual(result.json, { reason: 'MissingProviderToken' });
  });

  test('a token on a certificate connection takes precedence', async () => {
    const key = sim.generateKey();
    const session = open(stranger);
    const jwt = await providerToken(key);
    const result = await push(session, { jwt, topic: 'com.any.app' });
    assert.equal(result.status, 200);
    assert.equal(sim.received().at(-1)?.auth.kind, 'token');
    const missing = await push(session, { jwt, topic: null });
    assert.deepEqual(missing.json, { reason: 'MissingTopic' });
  });

  test('without clientCa no certificate is trusted', async () => {
    const bare = await startApnsSimulator();
    const session = connect(bare, good);
    try {
      const result = await push(session, { topic: 'com.example.mail' });
      assert.deepEqual(result.json, { reason: 'BadCertificate' });
    } finally {
      await closeSession(session);
      await bare.close();
    }
  });
});
