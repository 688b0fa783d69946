/**
 * Client-certificate authentication against a real TLS server. Keys and certificates are made at
 * test time with the openssl CLI: a CA, a server certificate for 127.0.0.1, two client
 * certificates from that CA (as PKCS#12, the form devices hand over) and one from a stranger CA.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { HeraldError } from '../../errors/index.ts';
import { createEwsClient } from './index.ts';
import * as fx from './test-fixtures.ts';
import type { EwsTarget } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'herald-ews-tls-'));
const file = (name: string) => join(dir, name);
/** Run the openssl CLI; arguments are space-separated (none of ours contains a space). */
const openssl = (command: string) => execFileSync('openssl', command.split(' '), { cwd: dir, stdio: 'pipe' });
const ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

function makeCa(name: string) {
  openssl(
    `req -x509 ${ec} -keyout ${name}.key -out ${name}.pem -days 1 -subj /CN=${name} ` +
      '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign',
  );
}

function makeLeaf(name: string, ca: string, extensions: string) {
  writeFileSync(file(`${name}.ext`), extensions);
  openssl(`req ${ec} -keyout ${name}.key -out ${name}.csr -subj /CN=${name}`);
  openssl(
    `x509 -req -in ${name}.csr -CA ${ca}.pem -CAkey ${ca}.key -CAcreateserial -out ${name}.pem ` +
      `-days 1 -extfile ${name}.ext`,
  );
}

function makeClientPkcs12(name: string, ca: string, passphrase: string): Buffer {
  makeLeaf(name, ca, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  openssl(`pkcs12 -export -inkey ${name}.key -in ${name}.pem -out ${name}.p12 -passout pass:${passphrase}`);
  return readFileSync(file(`${name}.p12`));
}

let server: Server;
let url: string;
let caPem: string;
let adele: Buffer;
let megan: Buffer;
let stranger: Buffer;
/** The client certificate subject the server saw on each request. */
let peers: string[] = [];

before(async () => {
  makeCa('herald-test-ca');
  makeCa('stranger-ca');
  makeLeaf(
    'localhost',
    'herald-test-ca',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  adele = makeClientPkcs12('adele', 'herald-test-ca', 'adele-pass');
  megan = makeClientPkcs12('megan', 'herald-test-ca', 'megan-pass');
  stranger = makeClientPkcs12('mallory', 'stranger-ca', 'x');
  caPem = readFileSync(file('herald-test-ca.pem'), 'utf8');

  server = createServer(
    {
      key: readFileSync(file('localhost.key')),
      cert: readFileSync(file('localhost.pem')),
      ca: caPem,
      // Like IIS in front of Exchange: ask for a certificate, finish the handshake, and answer
      // an untrusted or missing one with HTTP 403 (IIS 403.7 / 403.16).
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      req.resume();
      req.on('end', () => {
        if (!socket.authorized) {
          res.writeHead(403, { 'content-type': 'text/html' });
          res.end('403.16 - Client certificate is untrusted or invalid');
          return;
        }
        peers.push(String(socket.getPeerCertificate().subject?.CN));
        res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
        res.end(fx.getFolderSuccess(5));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/EWS/Exchange.asmx`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const target = (pkcs12: Buffer, passphrase: string): EwsTarget => ({
  url,
  auth: { type: 'certificate', pkcs12, passphrase },
});

function isHeraldError(code: string, details: Record<string, unknown>) {
  return (err: unknown) => {
    assert.ok(err instanceof HeraldError, String(err));
    assert.equal(err.code, code);
    assert.deepEqual(err.details, details);
    return true;
  };
}

test('the server sees the PKCS#12 client certificate, and each user keeps their own', async () => {
  peers = [];
  const client = createEwsClient({ userAgent: 'Herald/test', ca: [caPem] });
  try {
    assert.equal(await client.getInboxUnreadCount(target(adele, 'adele-pass')), 5);
    assert.equal(await client.getInboxUnreadCount(target(megan, 'megan-pass')), 5);
    assert.equal(await client.getInboxUnreadCount(target(adele, 'adele-pass')), 5);
  } finally {
    await client.close();
  }
  // A kept-alive connection opened with Adele's certificate must never carry Megan's request.
  assert.deepEqual(peers, ['adele', 'megan', 'adele']);
});

test('the per-certificate agent cache is bounded and still correct after eviction', async () => {
  peers = [];
  const client = createEwsClient({ userAgent: 'Herald/test', ca: [caPem], maxCertificateAgents: 1 });
  try {
    for (const [p12, pass] of [
      [adele, 'adele-pass'],
      [megan, 'megan-pass'],
      [adele, 'adele-pass'],
    ] as const) {
      assert.equal(await client.getInboxUnreadCount(target(p12, pass)), 5);
    }
  } finally {
    await client.close();
  }
  assert.deepEqual(peers, ['adele', 'megan', 'adele']);
});

test('a wrong PKCS#12 passphrase → exchange_auth_failed before connecting', async () => {
  peers = [];
  const client = createEwsClient({ userAgent: 'Herald/test', ca: [caPem] });
  try {
    await assert.rejects(
      client.getInboxUnreadCount(target(adele, 'wrong')),
      isHeraldError('exchange_auth_failed', { reason: 'client_certificate_unusable' }),
    );
  } finally {
    await client.close();
  }
  assert.deepEqual(peers, []);
});

test('a certificate the server does not trust, or none → exchange_auth_failed', async () => {
  const client = createEwsClient({ userAgent: 'Herald/test', ca: [caPem] });
  try {
    await assert.rejects(
      client.getInboxUnreadCount(target(stranger, 'x')),
      isHeraldError('exchange_auth_failed', { httpStatus: 403 }),
    );
    await assert.rejects(
      client.getInboxUnreadCount({ url, auth: { type: 'oauth', accessToken: 'token' } }),
      isHeraldError('exchange_auth_failed', { httpStatus: 403 }),
    );
  } finally {
    await client.close();
  }
});

test('a server certificate outside the trusted CAs → exchange_unreachable (tls)', async () => {
  const client = createEwsClient({ userAgent: 'Herald/test' });
  try {
    await assert.rejects(
      client.getInboxUnreadCount(target(adele, 'adele-pass')),
      isHeraldError('exchange_unreachable', { reason: 'tls' }),
    );
  } finally {
    await client.close();
  }
});
