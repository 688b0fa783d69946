import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../sim/exchange/index.ts';
import { GraphAuthError } from './errors.ts';
import { createEncryptionCertificate } from './rich.ts';
import { startScripted } from './test-support.ts';
import { ClientCredentialsTokenSource } from './token.ts';

const APP = { clientId: randomUUID(), secret: 'app~secret~value' };
let sim: ExchangeSimulator;

before(async () => {
  sim = await startExchangeSimulator({ mailboxes: [{ email: 'alice@contoso.com' }], graph: { apps: [APP] } });
});
after(() => sim.close());

const source = (
  credential: ConstructorParameters<typeof ClientCredentialsTokenSource>[0]['credential'],
  clientId = APP.clientId,
) =>
  new ClientCredentialsTokenSource({
    tenantId: sim.graph.tenantId,
    clientId,
    credential,
    authorityHost: sim.url,
    now: () => sim.now(),
  });

async function rejectsWith(promise: Promise<unknown>, reason: string, codes: number[]) {
  const error = await promise.then(
    () => assert.fail('expected a GraphAuthError'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof GraphAuthError, String(error));
  assert.equal(error.reason, reason);
  assert.deepEqual(error.errorCodes, codes);
  assert.match(error.message, new RegExp(`AADSTS${codes[0]}`));
  return error;
}

describe('ClientCredentialsTokenSource', () => {
  test('client secret: a token Graph accepts; the secret never appears in an error', async () => {
    const tokens = source({ type: 'secret', secret: APP.secret });
    assert.equal(tokens.tokenUrl, sim.graph.tokenUrl);
    const token = await tokens.getToken();
    const response = await fetch(`${sim.graph.graphUrl}/users/alice@contoso.com/mailFolders('Inbox')`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 200);
    await response.arrayBuffer();

    const wrong = source({ type: 'secret', secret: 'not-the-secret' });
    const error = await rejectsWith(wrong.getToken(), 'invalid_secret', [7000215]);
    assert.equal(error.status, 401);
    assert.equal(error.error, 'invalid_client');
    assert.ok(error.traceId);
    assert.doesNotMatch(error.message, /not-the-secret/);
    await rejectsWith(
      source({ type: 'secret', secret: APP.secret }, randomUUID()).getToken(),
      'unknown_app',
      [700016],
    );
  });

  test('certificate: PS256 with x5t#S256 and RS256 with x5t are accepted once registered; unregistered is refused', async () => {
    const cert = await createEncryptionCertificate({ id: 'assertion-cert' });
    const pem = `-----BEGIN CERTIFICATE-----\n${cert.certificate.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    const credential = { type: 'certificate' as const, certificate: pem, privateKey: cert.privateKeyPem };
    await rejectsWith(source(credential).getToken(), 'certificate_not_registered', [700027]);
    sim.graph.addCertificate(APP.clientId, pem);
    for (const algorithm of ['PS256', 'RS256'] as const) {
      const token = await source({ ...credential, algorithm }).getToken();
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<
        string,
        unknown
      >;
      assert.equal(claims.appid, APP.clientId);
      assert.equal(claims.appidacr, '2', 'authenticated with a certificate');
    }
  });

  test('one token request serves N concurrent and later calls; invalidate and expiry fetch a new one', async () => {
    const tokens = source({ type: 'secret', secret: APP.secret });
    const all = await Promise.all(Array.from({ length: 20 }, () => tokens.getToken()));
    assert.equal(new Set(all).size, 1);
    for (let i = 0; i < 5; i++) assert.equal(await tokens.getToken(), all[0]);
    assert.equal(tokens.requests, 1);
    tokens.invalidate('some other token');
    assert.equal(await tokens.getToken(), all[0]);
    tokens.invalidate(all[0]!);
    await tokens.getToken();
    assert.equal(tokens.requests, 2);
    await sim.advance(3599_000 - 5 * 60_000 + 1_000); // inside the refresh skew
    await tokens.getToken();
    assert.equal(tokens.requests, 3);
  });

  test('an unreachable or non-JSON token endpoint is a typed error too', async () => {
    const reasonAt = async (authorityHost: string) => {
      const error = await new ClientCredentialsTokenSource({
        tenantId: sim.graph.tenantId,
        clientId: APP.clientId,
        credential: { type: 'secret', secret: 'x' },
        authorityHost,
      })
        .getToken()
        .catch((e: unknown) => e);
      assert.ok(error instanceof GraphAuthError);
      return error.reason;
    };
    const scripted = await startScripted(() => ({ status: 200, body: { token_type: 'Bearer' } }));
    try {
      assert.equal(await reasonAt(scripted.url), 'invalid_response');
    } finally {
      await scripted.close();
    }
    assert.equal(await reasonAt(scripted.url), 'unreachable', 'nothing listens there any more');
  });

  test('options are checked', () => {
    assert.throws(() => source({ type: 'secret', secret: '' }), TypeError);
    assert.throws(
      () =>
        new ClientCredentialsTokenSource({
          tenantId: 'a/b',
          clientId: 'x',
          credential: { type: 'secret', secret: 's' },
        }),
      TypeError,
    );
    assert.throws(() => source({ type: 'certificate', certificate: 'nope', privateKey: 'nope' }), TypeError);
  });
});
