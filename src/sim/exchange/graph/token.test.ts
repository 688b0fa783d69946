import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeJwt, jwtVerify, SignJWT } from 'jose';
import { type ExchangeSimulator, startExchangeSimulator } from '../index.ts';
import { graph, rsaCertificate, token } from './testkit.ts';

const APP = { clientId: randomUUID(), secret: 's3cret~value' };
const SCOPE = 'https://graph.microsoft.com/.default';
let sim: ExchangeSimulator;
let cert: Awaited<ReturnType<typeof rsaCertificate>>;

before(async () => {
  sim = await startExchangeSimulator({ mailboxes: [{ email: 'alice@contoso.com' }], graph: { apps: [APP] } });
  cert = await rsaCertificate();
});
after(() => sim.close());

function assertion(options: { alg?: 'RS256' | 'PS256'; aud?: string; iss?: string; exp?: number } = {}) {
  const alg = options.alg ?? 'RS256';
  const now = Math.floor(sim.now() / 1000);
  const header =
    alg === 'RS256'
      ? { alg, typ: 'JWT', x5t: createHash('sha1').update(cert.der).digest('base64url') }
      : { alg, typ: 'JWT', 'x5t#S256': createHash('sha256').update(cert.der).digest('base64url') };
  return new SignJWT({ jti: randomUUID() })
    .setProtectedHeader(header)
    .setAudience(options.aud ?? sim.graph.tokenUrl)
    .setIssuer(options.iss ?? APP.clientId)
    .setSubject(APP.clientId)
    .setNotBefore(now)
    .setExpirationTime(options.exp ?? now + 600)
    .sign(cert.key);
}

const certForm = (clientAssertion: string) => ({
  grant_type: 'client_credentials',
  client_id: APP.clientId,
  scope: SCOPE,
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion: clientAssertion,
});

describe('Entra token endpoint', () => {
  test('client secret: a Bearer JWT with roles Mail.Read, tid and appid, verifiable against the JWKS', async () => {
    const { status, json } = await token(sim, {
      grant_type: 'client_credentials',
      client_id: APP.clientId,
      client_secret: APP.secret,
      scope: SCOPE,
    });
    assert.equal(status, 200);
    assert.equal(json.token_type, 'Bearer');
    assert.equal(json.expires_in, 3599);
    const jwks = createRemoteJWKSet(new URL(sim.graph.jwksUri));
    const { payload } = await jwtVerify(json.access_token, jwks, {
      issuer: `https://sts.windows.net/${sim.graph.tenantId}/`,
      audience: 'https://graph.microsoft.com',
      currentDate: new Date(sim.now()),
    });
    assert.deepEqual(payload.roles, ['Mail.Read']);
    assert.equal(payload.tid, sim.graph.tenantId);
    assert.equal(payload.appid, APP.clientId);
    assert.equal(payload.idtyp, 'app');
  });

  test('a wrong secret is refused with invalid_client AADSTS7000215 in Entra’s shape', async () => {
    const { status, json } = await token(sim, {
      grant_type: 'client_credentials',
      client_id: APP.clientId,
      client_secret: 'nope',
      scope: SCOPE,
    });
    assert.equal(status, 401);
    assert.equal(json.error, 'invalid_client');
    assert.deepEqual(json.error_codes, [7000215]);
    assert.match(json.error_description, /^AADSTS7000215: /);
    assert.ok(json.trace_id && json.correlation_id && json.timestamp);
  });

  test('unknown client, unknown tenant, missing parameter and a non-.default scope are refused', async () => {
    const base = { grant_type: 'client_credentials', client_secret: APP.secret, scope: SCOPE };
    const unknown = await token(sim, { ...base, client_id: randomUUID() });
    assert.equal(unknown.json.error, 'unauthorized_client');
    assert.deepEqual(unknown.json.error_codes, [700016]);
    const tenant = await token(sim, { ...base, client_id: APP.clientId }, 'fabrikam.com');
    assert.deepEqual(tenant.json.error_codes, [90002]);
    const byDomain = await token(sim, { ...base, client_id: APP.clientId }, 'contoso.com');
    assert.equal(byDomain.status, 200, 'a mailbox domain names the tenant');
    const missing = await token(sim, { grant_type: 'client_credentials', client_id: APP.clientId });
    assert.deepEqual(missing.json.error_codes, [900144]);
    const scope = await token(sim, { ...base, client_id: APP.clientId, scope: 'Mail.Read' });
    assert.equal(scope.json.error, 'invalid_scope');
  });

  test('certificate assertions: RS256 with x5t and PS256 with x5t#S256 are accepted once the certificate is registered', async () => {
    const before = await token(sim, certForm(await assertion()));
    assert.equal(before.status, 401);
    assert.deepEqual(before.json.error_codes, [700027]);
    const registered = await fetch(`${sim.url}/sim/graph/apps/${APP.clientId}/certificates`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ certificate: cert.pem }),
    });
    assert.equal(registered.status, 201);
    for (const alg of ['RS256', 'PS256'] as const) {
      const { status, json } = await token(sim, certForm(await assertion({ alg })));
      assert.equal(status, 200, JSON.stringify(json));
      assert.equal(decodeJwt(json.access_token).appidacr, '2');
    }
  });

  test('assertions with the wrong audience, issuer or an expired exp are refused', async () => {
    sim.graph.addCertificate(APP.clientId, cert.pem);
    const aud = await token(
      sim,
      certForm(await assertion({ aud: 'https://login.microsoftonline.com/other/oauth2/v2.0/token' })),
    );
    assert.deepEqual(aud.json.error_codes, [700024]);
    const iss = await token(sim, certForm(await assertion({ iss: randomUUID() })));
    assert.deepEqual(iss.json.error_codes, [700021]);
    const exp = await token(sim, certForm(await assertion({ exp: Math.floor(sim.now() / 1000) - 3600 })));
    assert.deepEqual(exp.json.error_codes, [700024]);
  });

  test('Graph answers 401 InvalidAuthenticationToken without a token, with a forged one, and after expiry', async () => {
    const none = await fetch(`${sim.graph.graphUrl}/subscriptions`);
    assert.equal(none.status, 401);
    assert.equal(
      ((await none.json()) as { error: { code: string } }).error.code,
      'InvalidAuthenticationToken',
    );
    const forged = await graph(sim, await assertion(), 'GET', '/subscriptions');
    assert.equal(forged.status, 401);
    const { json } = await token(sim, {
      grant_type: 'client_credentials',
      client_id: APP.clientId,
      client_secret: APP.secret,
      scope: SCOPE,
    });
    assert.equal((await graph(sim, json.access_token, 'GET', '/subscriptions')).status, 200);
    await sim.advance(3600 * 1000 + 6 * 60_000);
    const expired = await graph(sim, json.access_token, 'GET', '/subscriptions');
    assert.equal(expired.status, 401);
    assert.equal(expired.json.error.code, 'InvalidAuthenticationToken');
    assert.match(expired.json.error.message, /expired/);
  });
});
