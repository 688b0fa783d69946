/**
 * Server-generated keys delivered as PKCS #12: OpenSSL reads the file (and reports PBES2/AES-256
 * and an HMAC-SHA256 MAC), Node's TLS loads it, a wrong passphrase is refused, and the key in it
 * belongs to the certificate the CA recorded.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { forEachDatabase } from '../store/testing.ts';
import { isPkiError } from './errors.ts';
import { parsePkcs12 } from './pkcs12.ts';
import { openssl, opensslOk, openTestCa, tempDir } from './testing.ts';

const VALUES = {
  DeviceUid: 'ipad-7',
  EmailAddress: 'bob@contoso.example',
  UserPrincipalName: 'bob@corp.example',
};

forEachDatabase(
  'pki/pkcs12: a generated key as PKCS #12 that openssl and node:tls accept',
  async (store, { t }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const ca = await openTestCa(store);
    await ca.addTemplate({
      name: 'mail',
      subject: 'CN={DeviceUid},O=Contoso',
      sanEmail: '{EmailAddress}',
      sanUpn: '{UserPrincipalName}',
      keySize: 3072,
    });
    const passphrase = 'correct horse battery staple';
    const result = await ca.issueWithGeneratedKey({
      template: 'mail',
      values: VALUES,
      passphrase,
      registrationId: 'reg-3',
    });
    assert.equal(result.passphrase, passphrase);
    assert.equal(result.certificate.registrationId, 'reg-3');
    const file = dir.write('device.p12', result.pkcs12);

    const info = openssl(['pkcs12', '-info', '-noout', '-in', file, '-passin', `pass:${passphrase}`]);
    assert.equal(info.status, 0, info.output);
    assert.match(info.output, /MAC: sha256, Iteration 2048/);
    assert.match(
      info.output,
      /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256/,
    );
    assert.match(info.output, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC/);
    const wrong = openssl(['pkcs12', '-info', '-noout', '-in', file, '-passin', 'pass:wrong']);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.output, /mac verify error/i);

    // What is inside: the key, the recorded certificate and the chain, paired by localKeyId.
    const pem = opensslOk(['pkcs12', '-in', file, '-passin', `pass:${passphrase}`, '-nodes']);
    assert.equal(pem.match(/BEGIN CERTIFICATE/g)?.length, 3);
    assert.equal(pem.match(/localKeyID:/g)?.length, 2, 'key bag and its certificate');
    assert.match(pem, /friendlyName: bob@corp\.example/);
    const key = createPrivateKey(pem.slice(pem.indexOf('-----BEGIN PRIVATE KEY-----')));
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 3072, "the template's key size");
    const certificate = new X509Certificate(result.certificate.certificateDer);
    assert.ok(
      createPublicKey(key)
        .export({ type: 'spki', format: 'der' })
        .equals(certificate.publicKey.export({ type: 'spki', format: 'der' })),
    );
    assert.ok(pem.includes(certificate.toString().trim()));

    // Node's TLS stack loads it as a client identity.
    assert.doesNotThrow(() => createSecureContext({ pfx: result.pkcs12, passphrase }));
    assert.throws(() => createSecureContext({ pfx: result.pkcs12, passphrase: 'nope' }));

    // Our own reader round-trips it.
    const parsed = await parsePkcs12(result.pkcs12, passphrase);
    assert.equal(parsed.keys.length, 1);
    assert.deepEqual(parsed.certificates, [result.certificate.certificateDer, ...ca.chainDer()]);
    await assert.rejects(parsePkcs12(result.pkcs12, 'nope'), (error: unknown) =>
      isPkiError(error, 'pki_import_failed'),
    );

    // Without a passphrase one is generated and returned.
    const generated = await ca.issueWithGeneratedKey({ template: 'mail', values: VALUES });
    assert.ok(generated.passphrase.length >= 20);
    assert.doesNotThrow(() =>
      createSecureContext({ pfx: generated.pkcs12, passphrase: generated.passphrase }),
    );
  },
);
