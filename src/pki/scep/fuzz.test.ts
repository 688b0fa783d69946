/**
 * Hostile input for PKIOperation: random bodies, valid pkiMessages with bytes changed (outer:
 * the signature no longer holds), and correctly signed messages around a changed envelope or
 * CSR (inner: decryption and CSR parsing see the damage). Every one must end as a
 * ScepMalformedError (HTTP 400) or a signed CertRep, never another error: a crash on a
 * malformed message is a bug. A seeded PRNG; the seed is printed, HERALD_TEST_FUZZ_SEED replays.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { ScepMalformedError } from './errors.ts';
import { pkiOperation } from './pki-operation.ts';
import { createTestScepCa, type TestScepCa } from './testing-ca.ts';
import {
  createCsr,
  envelopeFor,
  newIdentity,
  type ScepTestIdentity,
  signedPkiMessage,
} from './testing-client.ts';

const SEED = process.env.HERALD_TEST_FUZZ_SEED
  ? Number(process.env.HERALD_TEST_FUZZ_SEED)
  : randomInt(2 ** 31);
console.log(`SCEP fuzz seed ${SEED} (replay with HERALD_TEST_FUZZ_SEED=${SEED})`);

/** mulberry32: the same sequence for the same seed on every machine. */
function rng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number) => Math.floor(next() * below);
  const bytes = (length: number) => Buffer.from(Array.from({ length }, () => int(256)));
  const mutate = (original: Buffer) => {
    const copy = Buffer.from(original);
    for (let i = 0, n = 1 + int(4); i < n; i++) copy[int(copy.length)] = int(256);
    return int(6) === 0 ? copy.subarray(0, int(copy.length)) : copy;
  };
  return { int, bytes, mutate };
}

describe('SCEP PKIOperation on hostile input', () => {
  let ca: TestScepCa;
  let identity: ScepTestIdentity;
  let csr: Buffer;
  let valid: Buffer;
  const outcomes = new Map<string, number>();

  async function expectHandled(message: Buffer, what: string) {
    try {
      const outcome = await pkiOperation(ca, message);
      assert.ok(outcome.reply.length > 0);
      const key = `${outcome.status}:${outcome.failInfo ?? ''}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    } catch (error) {
      if (!(error instanceof ScepMalformedError)) {
        assert.fail(
          `${what} (seed ${SEED}) threw ${(error as Error).stack}\nmessage: ${message.toString('base64')}`,
        );
      }
      outcomes.set('400', (outcomes.get('400') ?? 0) + 1);
    }
  }

  before(async () => {
    ca = await createTestScepCa();
    identity = await newIdentity('CN=fuzz');
    csr = await createCsr(identity.keys, 'CN=fuzz', ca.issueChallenge('fuzz'));
    valid = await signedPkiMessage({
      messageType: 19,
      transactionId: 'fuzz',
      content: envelopeFor(csr, ca.issuing.der, 'aes-128-cbc'),
      signer: identity,
    });
  });

  test('random bodies and changed pkiMessages: a 400 or a CertRep, never a crash', async () => {
    const random = rng(SEED);
    for (let i = 0; i < 1000; i++) await expectHandled(random.bytes(1 + random.int(800)), `random body ${i}`);
    for (let i = 0; i < 400; i++) await expectHandled(random.mutate(valid), `changed pkiMessage ${i}`);
    assert.ok((outcomes.get('400') ?? 0) > 0);
    assert.ok(
      (outcomes.get('FAILURE:badMessageCheck') ?? 0) > 0,
      'changed messages fail their signature check',
    );
  });

  test('signed messages around a changed envelope or CSR: a CertRep FAILURE, never a crash', async () => {
    const random = rng(SEED + 1);
    const envelope = envelopeFor(csr, ca.issuing.der, 'des-ede3-cbc');
    for (let i = 0; i < 100; i++) {
      const content =
        i % 2 === 0
          ? envelopeFor(random.mutate(csr), ca.issuing.der, 'aes-256-cbc')
          : random.mutate(envelope);
      const messageType = [17, 19, 20][random.int(3)]!;
      const message = await signedPkiMessage({
        messageType,
        transactionId: `fuzz-${i}`,
        content,
        signer: identity,
      });
      await expectHandled(message, `signed message ${i} around changed content`);
    }
  });
});
