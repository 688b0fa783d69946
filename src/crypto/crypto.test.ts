import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CompactEncrypt } from 'jose';
import {
  dataKeyHash,
  decodeDataKey,
  decryptDeviceJwe,
  digestsEqual,
  generateTenantKey,
  hashApiToken,
  identifierHash,
  loadOrCreateMasterKey,
  masterKeyFromBytes,
  newDataKey,
  openAccount,
  openTenantPrivateKey,
  publicKeyFromJwk,
  sealAccount,
} from './index.ts';

const master = masterKeyFromBytes(randomBytes(32));

async function jweFor(publicJwk: Parameters<typeof publicKeyFromJwk>[0], payload: unknown, kid?: string) {
  const header = { alg: 'RSA-OAEP-256', enc: 'A256GCM', ...(kid ? { kid } : {}) };
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .encrypt(publicKeyFromJwk(publicJwk));
}

test('master key file is created once with mode 0600 and reloads to the same key', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'herald-mk-')), 'sub', 'master.key');
  const first = loadOrCreateMasterKey(file);
  assert.equal(first.created, true);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const sealed = first.key.seal('hello', 'test');
  const second = loadOrCreateMasterKey(file);
  assert.equal(second.created, false);
  assert.equal(second.key.open(sealed, 'test').toString(), 'hello');
  assert.throws(() => second.key.open(sealed, 'other-purpose'));
  assert.ok(!readFileSync(file, 'utf8').includes('hello'));
});

test('a device JWE decrypts with the tenant key, by kid and without kid; rotated keys still decrypt', async () => {
  const oldKey = await generateTenantKey(master, 'contoso');
  const newKey = await generateTenantKey(master, 'contoso');
  const keys = [newKey, oldKey];
  const resolve = async (kid: string | undefined) =>
    keys
      .filter((k) => kid === undefined || k.kid === kid)
      .map((k) => openTenantPrivateKey(master, 'contoso', k));
  const payload = { type: 'basic', username: 'alice', password: 'p@ss' };
  for (const [name, jwe] of [
    ['old key with kid', await jweFor(oldKey.publicJwk, payload, oldKey.kid)],
    ['old key without kid', await jweFor(oldKey.publicJwk, payload)],
    ['new key with kid', await jweFor(newKey.publicJwk, payload, newKey.kid)],
  ] as const) {
    const plain = JSON.parse(new TextDecoder().decode(await decryptDeviceJwe(jwe, resolve)));
    assert.deepEqual(plain, payload, name);
  }
});

test('error/JWE with a wrong algorithm, garbage, or an unknown kid is refused', async () => {
  const key = await generateTenantKey(master, 't1');
  const resolve = async (kid: string | undefined) =>
    kid && kid !== key.kid ? [] : [openTenantPrivateKey(master, 't1', key)];
  await assert.rejects(decryptDeviceJwe('not-a-jwe', resolve), { name: 'CredentialsDecryptError' });
  const other = await generateTenantKey(master, 't2');
  await assert.rejects(
    decryptDeviceJwe(await jweFor(other.publicJwk, {}, other.kid), resolve),
    /unknown or retired/,
  );
  await assert.rejects(
    decryptDeviceJwe(await jweFor(other.publicJwk, {}), resolve),
    /could not be decrypted/,
  );
  const rsa1 = new CompactEncrypt(new Uint8Array([1]))
    .setProtectedHeader({ alg: 'RSA-OAEP', enc: 'A256GCM' })
    .encrypt(publicKeyFromJwk(key.publicJwk));
  await assert.rejects(decryptDeviceJwe(await rsa1, resolve), /RSA-OAEP-256/);
});

test('a sealed tenant key cannot be opened for another tenant', async () => {
  const key = await generateTenantKey(master, 'a');
  assert.throws(() => openTenantPrivateKey(master, 'b', key));
});

test('account sealed under a data key opens only with that key and that registration id', () => {
  const { key, encoded, hash } = newDataKey();
  assert.equal(encoded.length, 43);
  assert.deepEqual(decodeDataKey(encoded), key);
  assert.equal(dataKeyHash(decodeDataKey(encoded)!), hash);
  assert.equal(decodeDataKey('short'), undefined);
  const sealed = sealAccount(key, 'reg1', { email: 'alice@contoso.com', password: 'secret' });
  assert.ok(!sealed.includes('alice') && !sealed.includes('secret'));
  assert.deepEqual(openAccount(key, 'reg1', sealed), { email: 'alice@contoso.com', password: 'secret' });
  assert.throws(() => openAccount(key, 'reg2', sealed));
  assert.throws(() => openAccount(newDataKey().key, 'reg1', sealed));
});

test('token digests compare in constant time and identifier hashes normalise case', () => {
  assert.ok(digestsEqual(hashApiToken('x'), hashApiToken('x')));
  assert.ok(!digestsEqual(hashApiToken('x'), hashApiToken('y')));
  assert.ok(!digestsEqual('', ''));
  const k = randomBytes(32);
  assert.equal(
    identifierHash(k, 'email', 'Alice@Contoso.com '),
    identifierHash(k, 'email', 'alice@contoso.com'),
  );
  assert.notEqual(identifierHash(k, 'email', 'a@b'), identifierHash(randomBytes(32), 'email', 'a@b'));
});
