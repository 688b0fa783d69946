import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type FcmSimulator, type ServiceAccount, startFcmSimulator } from './index.ts';
import { assertion, JWT_BEARER, postToken, testClock } from './testkit.ts';

const clock = testClock();
let sim: FcmSimulator;
let sa: ServiceAccount;
let other: ServiceAccount;
const lines: string[] = [];

before(async () => {
  sim = await startFcmSimulator({ now: clock.now, log: (line) => lines.push(line) });
  sa = sim.createServiceAccount({ projectId: 'demo-project' });
  other = sim.createServiceAccount({ projectId: 'other-project' });
});
after(() => sim.close());

async function grant(jwt: string) {
  return postToken(sim, { grant_type: JWT_BEARER, assertion: jwt });
}

function assertRefused(
  answer: { status: number; json: Record<string, unknown> },
  error: string,
  description: string | RegExp,
) {
  assert.equal(answer.status, 400);
  assert.deepEqual(Object.keys(answer.json).sort(), ['error', 'error_description']);
  assert.equal(answer.json.error, error);
  if (typeof description === 'string') assert.equal(answer.json.error_description, description);
  else assert.match(String(answer.json.error_description), description);
}

const SHORT_LIVED =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';

describe('service accounts', () => {
  test('createServiceAccount gives a Google-shaped key file pointing here', () => {
    assert.equal(sa.type, 'service_account');
    assert.equal(sa.project_id, 'demo-project');
    assert.match(sa.private_key_id, /^[0-9a-f]{40}$/);
    assert.match(sa.private_key, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    assert.match(sa.client_email, /^firebase-adminsdk-[a-z0-9]{5}@demo-project\.iam\.gserviceaccount\.com$/);
    assert.match(sa.client_id, /^\d{21}$/);
    assert.equal(sa.token_uri, sim.tokenUri);
    assert.equal(sim.tokenUri, `${sim.url}/token`);
    assert.equal(sa.universe_domain, 'googleapis.com');
    assert.equal(
      sa.client_x509_cert_url,
      `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(sa.client_email)}`,
    );
  });

  test('bad input is refused', () => {
    assert.throws(() => sim.createServiceAccount({ projectId: 'Bad Project' }), /projectId/);
    assert.throws(() => sim.createServiceAccount({ projectId: 'x', clientEmail: 'nope' }), /clientEmail/);
    assert.throws(
      () => sim.createServiceAccount({ projectId: 'third', clientEmail: sa.client_email }),
      /already belongs to project demo-project/,
    );
    assert.throws(
      () =>
        sim.addServiceAccount({
          projectId: 'p1',
          clientEmail: 'a@p1.iam.gserviceaccount.com',
          privateKeyId: 'k1',
          publicKey: 'not a key',
        }),
      /publicKey/,
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(
      () =>
        sim.addServiceAccount({
          projectId: 'p1',
          clientEmail: 'a@p1.iam.gserviceaccount.com',
          privateKeyId: 'k1',
          publicKey: ec.publicKey.export({ type: 'spki', format: 'pem' }) as string,
        }),
      /RSA/,
    );
  });
});

describe('token endpoint: grants', () => {
  test('a correct assertion gets a bearer token', async () => {
    const answer = await grant(await assertion(sa, { now: clock.t }));
    assert.equal(answer.status, 200);
    assert.deepEqual(Object.keys(answer.json).sort(), ['access_token', 'expires_in', 'token_type']);
    assert.match(answer.json.access_token, /^ya29\.[A-Za-z0-9._-]+$/);
    assert.equal(answer.json.expires_in, 3599);
    assert.equal(answer.json.token_type, 'Bearer');
    assert.match(answer.headers.get('cache-control') ?? '', /no-store/);
    const last = sim.tokenRequests().at(-1)!;
    assert.deepEqual(last, {
      at: clock.t,
      clientEmail: sa.client_email,
      status: 200,
      error: undefined,
      errorDescription: undefined,
      reason: undefined,
    });
  });

  test('JSON bodies, no kid, the cloud-platform scope and a little clock skew are accepted', async () => {
    const jwt = await assertion(sa, {
      now: clock.t + 30_000,
      kid: null,
      scope: 'https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform',
    });
    const answer = await postToken(sim, { grant_type: JWT_BEARER, assertion: jwt }, 'json');
    assert.equal(answer.status, 200);
  });

  test('an added key (SPKI public key) and key rotation', async () => {
    const first = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const external: ServiceAccount = {
      ...sa,
      project_id: 'ext-project',
      client_email: 'pusher@ext-project.iam.gserviceaccount.com',
      private_key_id: 'key-1',
      private_key: first.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    };
    sim.addServiceAccount({
      projectId: 'ext-project',
      clientEmail: external.client_email,
      privateKeyId: 'key-1',
      publicKey: first.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    });
    assert.equal((await grant(await assertion(external, { now: clock.t }))).status, 200);

    sim.addServiceAccount({
      projectId: 'ext-project',
      clientEmail: external.client_email,
      privateKeyId: 'key-2',
      publicKey: second.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    });
    const rotated = {
      ...external,
      private_key_id: 'key-2',
      private_key: second.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    };
    assert.equal((await grant(await assertion(rotated, { now: clock.t }))).status, 200);
    assert.equal((await grant(await assertion(rotated, { now: clock.t, kid: null }))).status, 200);
    assert.equal(
      (await grant(await assertion(external, { now: clock.t }))).status,
      200,
      'old key still valid',
    );
  });

  test('accessTokenTtlSeconds sets expires_in', async () => {
    const short = await startFcmSimulator({ now: clock.now, accessTokenTtlSeconds: 120 });
    try {
      const account = short.createServiceAccount();
      assert.equal(account.project_id, 'herald-sim');
      const answer = await postToken(short, {
        grant_type: JWT_BEARER,
        assertion: await assertion(account, { now: clock.t }),
      });
      assert.equal(answer.json.expires_in, 120);
    } finally {
      await short.close();
    }
  });
});

describe('token endpoint: refusals', () => {
  test('a signature by another key', async () => {
    const jwt = await assertion(sa, { now: clock.t, privateKey: other.private_key });
    assertRefused(await grant(jwt), 'invalid_grant', 'Invalid JWT Signature.');
    assert.equal(sim.tokenRequests().at(-1)!.reason, 'signature does not verify');
  });

  test('a tampered payload', async () => {
    const jwt = await assertion(sa, { now: clock.t });
    const [h, , s] = jwt.split('.');
    const forged = Buffer.from(
      JSON.stringify({ iss: sa.client_email, aud: sa.token_uri, scope: 'x', iat: 1, exp: 2 }),
    ).toString('base64url');
    assertRefused(await grant(`${h}.${forged}.${s}`), 'invalid_grant', 'Invalid JWT Signature.');
  });

  test('an unknown kid (a deleted key)', async () => {
    const jwt = await assertion(sa, { now: clock.t, kid: '0123456789abcdef0123456789abcdef01234567' });
    assertRefused(await grant(jwt), 'invalid_grant', 'Invalid JWT Signature.');
    assert.match(sim.tokenRequests().at(-1)!.reason!, /kid .* is not a key of/);
  });

  test('the kid of another account', async () => {
    const jwt = await assertion(sa, {
      now: clock.t,
      kid: other.private_key_id,
      privateKey: other.private_key,
    });
    assertRefused(await grant(jwt), 'invalid_grant', 'Invalid JWT Signature.');
  });

  test('a wrong audience', async () => {
    for (const aud of ['https://oauth2.googleapis.com/token', [sim.tokenUri], 42]) {
      const jwt = await assertion(sa, { now: clock.t, aud });
      assertRefused(
        await grant(jwt),
        'invalid_grant',
        `Invalid JWT: Failed audience check. The right audience is ${sim.tokenUri}`,
      );
    }
  });

  test('an unknown or missing issuer', async () => {
    const jwt = await assertion(sa, { now: clock.t, iss: 'someone@else.iam.gserviceaccount.com' });
    assertRefused(await grant(jwt), 'invalid_grant', 'Invalid grant: account not found');
    assert.equal(sim.tokenRequests().at(-1)!.clientEmail, 'someone@else.iam.gserviceaccount.com');
    const noIss = await assertion({ ...sa, client_email: '' }, { now: clock.t, iss: '' });
    assertRefused(await grant(noIss), 'invalid_grant', 'Invalid grant: account not found');
  });

  test('expired, too long-lived, from the future, without iat or exp', async () => {
    const iat = Math.floor(clock.t / 1000);
    const cases: Array<[Parameters<typeof assertion>[1], RegExp]> = [
      [{ now: clock.t - 3_700_000 }, /^expired/],
      [{ now: clock.t, exp: iat + 3601 }, /over 3600/],
      [{ now: clock.t, exp: iat }, /exp is not after iat/],
      [{ now: clock.t + 120_000 }, /in the future/],
      [{ now: clock.t, iat: null }, /no numeric iat/],
      [{ now: clock.t, exp: null }, /no numeric exp/],
    ];
    for (const [options, reason] of cases) {
      assertRefused(await grant(await assertion(sa, options)), 'invalid_grant', SHORT_LIVED);
      assert.match(sim.tokenRequests().at(-1)!.reason!, reason);
    }
  });

  test('an assertion expires with the simulated clock', async () => {
    const jwt = await assertion(sa, { now: clock.t });
    clock.advance(3_600_000);
    try {
      assertRefused(await grant(jwt), 'invalid_grant', SHORT_LIVED);
    } finally {
      clock.advance(-3_600_000);
    }
    assert.equal((await grant(jwt)).status, 200);
  });

  test('a missing, empty or foreign scope', async () => {
    assertRefused(
      await grant(await assertion(sa, { now: clock.t, scope: null })),
      'invalid_scope',
      'Empty or missing scope not allowed.',
    );
    assertRefused(
      await grant(await assertion(sa, { now: clock.t, scope: ' ' })),
      'invalid_scope',
      'Empty or missing scope not allowed.',
    );
    assertRefused(
      await grant(
        await assertion(sa, { now: clock.t, scope: 'https://www.googleapis.com/auth/devstorage.read_only' }),
      ),
      'invalid_scope',
      'Invalid OAuth scope or ID token audience provided.',
    );
  });

  test('a wrong, missing grant_type or a missing assertion', async () => {
    const jwt = await assertion(sa, { now: clock.t });
    assertRefused(
      await postToken(sim, { grant_type: 'client_credentials', assertion: jwt }),
      'unsupported_grant_type',
      'Invalid grant_type: client_credentials',
    );
    assertRefused(
      await postToken(sim, { assertion: jwt }),
      'invalid_request',
      'Required parameter is missing: grant_type',
    );
    assertRefused(
      await postToken(sim, { grant_type: JWT_BEARER }),
      'invalid_request',
      'Required parameter is missing: assertion',
    );
  });

  test('garbage assertions and other algorithms', async () => {
    for (const junk of ['x', 'a.b.c', '....', `${'A'.repeat(5000)}.e30.`]) {
      assertRefused(
        await postToken(sim, { grant_type: JWT_BEARER, assertion: junk }),
        'invalid_grant',
        /^Invalid JWT/,
      );
    }
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const iat = Math.floor(clock.t / 1000);
    const body = Buffer.from(
      JSON.stringify({ iss: sa.client_email, aud: sim.tokenUri, scope: 'x', iat, exp: iat + 60 }),
    ).toString('base64url');
    assertRefused(
      await postToken(sim, { grant_type: JWT_BEARER, assertion: `${header}.${body}.` }),
      'invalid_grant',
      'Invalid JWT Signature.',
    );
  });

  test('non-POST, bad JSON and oversized bodies', async () => {
    const get = await fetch(sim.tokenUri);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const bad = await fetch(sim.tokenUri, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{nope',
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: string }).error, 'invalid_request');
    const big = await fetch(sim.tokenUri, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `assertion=${'a'.repeat(2 * 1024 * 1024)}`,
    });
    assert.equal(big.status, 413);
  });

  test('every request is logged', () => {
    assert.ok(lines.some((l) => /^fcm token 200 for firebase-adminsdk-/.test(l)));
    assert.ok(lines.some((l) => /^fcm token 400 invalid_grant \(signature does not verify\)/.test(l)));
  });
});
