import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../sim/exchange/index.ts';
import { GraphClient } from './client.ts';
import { GraphNotificationError } from './errors.ts';
import { subscriptionExpiration } from './limits.ts';
import { type NotificationCollection, newClientState } from './notifications.ts';
import {
  certificateThumbprint,
  createEncryptionCertificate,
  decryptMessage,
  EncryptionKeyRing,
} from './rich.ts';
import { startReceiver } from './test-support.ts';
import { ClientCredentialsTokenSource } from './token.ts';
import { createValidationTokenVerifier } from './validation-tokens.ts';

const APP = { clientId: randomUUID(), secret: 'rich-secret' };
const ALICE = 'alice@contoso.com';
const mail = { subject: 'Board minutes', from: { name: 'Dana', address: 'dana@example.com' } };

let sim: ExchangeSimulator;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let client: GraphClient;

before(async () => {
  sim = await startExchangeSimulator({ mailboxes: [{ email: ALICE }], graph: { apps: [APP] } });
  receiver = await startReceiver();
  const tokens = new ClientCredentialsTokenSource({
    tenantId: sim.graph.tenantId,
    clientId: APP.clientId,
    credential: { type: 'secret', secret: APP.secret },
    authorityHost: sim.url,
    now: () => sim.now(),
  });
  client = new GraphClient({ credentials: { type: 'app', tokens }, graphUrl: sim.graph.graphUrl });
});
after(async () => {
  await sim.close();
  await receiver.close();
});

const expectReason = (reason: string) => (error: unknown) =>
  error instanceof GraphNotificationError && error.reason === reason;

/** Deliver a mail and resolve with the notification body it caused. */
async function deliverAndReceive(input: typeof mail): Promise<NotificationCollection> {
  const count = receiver.at('/graph/notify').length;
  await sim.deliver(ALICE, input, { wait: true });
  await receiver.until(() => receiver.at('/graph/notify').length > count);
  const entry = receiver.at('/graph/notify').at(-1)!;
  assert.equal(entry.error, undefined);
  return entry.parsed!;
}

describe('rich notifications', () => {
  test('decrypt with Herald’s certificate, verify validationTokens against the JWKS, survive a key rotation, reject tampering before decryption', async () => {
    const cert = await createEncryptionCertificate({ id: 'herald-enc-1' });
    assert.equal(cert.thumbprint, certificateThumbprint(cert.certificate));
    const ring = new EncryptionKeyRing([
      { id: cert.id, thumbprint: cert.thumbprint, privateKey: cert.privateKeyPem },
    ]);
    const verifier = createValidationTokenVerifier({
      appIds: [APP.clientId],
      jwksUrl: sim.graph.jwksUri,
      now: () => sim.now(),
    });
    const sub = await client.createSubscription({
      mailbox: ALICE,
      notificationUrl: receiver.notificationUrl,
      lifecycleNotificationUrl: receiver.lifecycleUrl,
      clientState: newClientState(),
      expiration: subscriptionExpiration(sim.now(), { includeResourceData: true }),
      includeResourceData: true,
      encryptionCertificate: cert.certificate,
      encryptionCertificateId: cert.id,
    });
    assert.equal(sub.includeResourceData, true);
    assert.equal(
      sub.resource,
      `users/${ALICE}/mailFolders('Inbox')/messages?$select=subject,from,receivedDateTime,isRead`,
    );
    assert.ok(+sub.expirationDateTime - sim.now() <= 1_440 * 60_000);

    const body = await deliverAndReceive(mail);
    await verifier.verifyCollection(body);
    const [change] = body.changes;
    assert.equal(change!.encryptedContent!.encryptionCertificateId, cert.id);
    const message = decryptMessage(change!.encryptedContent!, ring);
    assert.equal(message.id, change!.messageId);
    assert.equal(message.subject, mail.subject);
    assert.deepEqual(message.from, mail.from);
    assert.equal(message.isRead, false);

    // Validation tokens: wrong audience, wrong publisher check, missing tokens, another tenant.
    const otherApp = createValidationTokenVerifier({
      appIds: [randomUUID()],
      jwksUrl: sim.graph.jwksUri,
      now: () => sim.now(),
    });
    await assert.rejects(otherApp.verifyCollection(body), expectReason('invalid_validation_token'));
    await assert.rejects(
      verifier.verifyCollection({ ...body, validationTokens: [] }),
      expectReason('missing_validation_token'),
    );
    await assert.rejects(
      verifier.verifyToken(body.validationTokens[0]!, randomUUID()),
      expectReason('invalid_validation_token'),
    );
    const [h, p, s] = body.validationTokens[0]!.split('.');
    const forged = [h, p, `${s!.slice(0, -4)}AAAA`].join('.');
    await assert.rejects(
      verifier.verifyCollection({ ...body, validationTokens: [forged] }),
      expectReason('invalid_validation_token'),
    );
    const late = createValidationTokenVerifier({
      appIds: [APP.clientId],
      jwksUrl: sim.graph.jwksUri,
      now: () => sim.now() + 7 * 3_600_000,
    });
    await assert.rejects(late.verifyCollection(body), /expired/);

    // Rotation: subscription moves to a new certificate; the old key stays in the ring for in-flight items.
    const next = await createEncryptionCertificate({ id: 'herald-enc-2', modulusLength: 3072 });
    ring.add({ id: next.id, thumbprint: next.thumbprint, privateKey: next.privateKeyPem });
    const moved = await client.renewSubscription(
      sub.id,
      subscriptionExpiration(sim.now(), { includeResourceData: true }),
      {
        encryptionCertificate: next.certificate,
        encryptionCertificateId: next.id,
      },
    );
    assert.equal(moved.encryptionCertificateId, next.id);
    const rotated = (await deliverAndReceive({ ...mail, subject: 'after rotation' })).changes[0]!;
    assert.equal(rotated.encryptedContent!.encryptionCertificateId, next.id);
    assert.equal(decryptMessage(rotated.encryptedContent!, ring).subject, 'after rotation');
    assert.equal(
      decryptMessage(change!.encryptedContent!, ring).subject,
      mail.subject,
      'the old key still decrypts',
    );
    ring.remove(cert.id);
    assert.throws(() => decryptMessage(change!.encryptedContent!, ring), expectReason('unknown_certificate'));
    assert.throws(
      () =>
        decryptMessage(
          { ...rotated.encryptedContent!, encryptionCertificateThumbprint: cert.thumbprint },
          ring,
        ),
      expectReason('unknown_certificate'),
      'a thumbprint that does not match the id is refused',
    );

    // Tampering: the simulator's corrupt-signature fault, and a flipped data byte.
    sim.graph.corruptNextSignature(sub.id);
    const tampered = (await deliverAndReceive({ ...mail, subject: 'tampered' })).changes[0]!;
    assert.throws(() => decryptMessage(tampered.encryptedContent!, ring), expectReason('signature_mismatch'));
    const data = Buffer.from(rotated.encryptedContent!.data, 'base64');
    data[data.length - 1]! ^= 0x01;
    assert.throws(
      () => decryptMessage({ ...rotated.encryptedContent!, data: data.toString('base64') }, ring),
      expectReason('signature_mismatch'),
    );
    const wrongKey = await createEncryptionCertificate({ id: next.id });
    assert.throws(
      () =>
        decryptMessage(
          rotated.encryptedContent!,
          new EncryptionKeyRing([{ id: next.id, privateKey: wrongKey.privateKeyPem }]),
        ),
      expectReason('decryption_failed'),
    );
  });

  test('createEncryptionCertificate gives what Graph accepts', async () => {
    const cert = await createEncryptionCertificate({ commonName: 'x, y=z' });
    assert.match(cert.id, /^herald-graph-/);
    assert.match(cert.thumbprint, /^[0-9A-F]{40}$/);
    assert.match(cert.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(+cert.notAfter > Date.now() + 364 * 86_400_000);
    await assert.rejects(createEncryptionCertificate({ modulusLength: 1024 as 2048 }), RangeError);
  });
});
