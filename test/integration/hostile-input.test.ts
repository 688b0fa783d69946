/**
 * Hostile input against a real Herald over real HTTP (issue 4, part 6): XXE and billion-laughs
 * bodies, absurd nesting and element counts sent to the callback URL of a real registration;
 * oversized bodies on every route the server has (found from the server itself, so a route added
 * later is covered); wrong media types; and the device API's per-IP and per-tenant rate limits,
 * which never touch the Exchange callback or `alive`. Client addresses other than 127.0.0.1 are
 * real source addresses on the loopback network (127.0.0.0/8), not forged headers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { errorCatalogue } from '../../src/errors/index.ts';
import {
  ids,
  sendNotificationAllEvents,
  sendNotificationStatusOtherPrefixes,
} from '../../src/exchange/ews/test-fixtures.ts';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { databases } from '../../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../support/device.ts';
import { type RunningHerald, startHerald } from '../support/herald.ts';
import { type PushPeers, startHeraldWithPush, startPushPeers } from '../support/push.ts';

const APP = 'com.example.mail';
const MAILBOX = { email: 'mallory-target@contoso.example', password: 'target-secret-password' };
/** Config defaults (docs/configuration.md): the limits this test checks are the shipped ones. */
const BODY_BYTES = 1_048_576;
const NOTIFICATION_BYTES = 1_048_576;

// ------------------------------------------------------------------------------- HTTP helpers

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
}

const agents = new Map<string, Agent>();
/** A keep-alive client bound to one loopback source address (the server sees it as the client IP). */
function agentFor(localAddress: string): Agent {
  let agent = agents.get(localAddress);
  if (!agent) {
    agent = new Agent({ localAddress, connections: 8 });
    agents.set(localAddress, agent);
  }
  return agent;
}

async function send(
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer | Readable;
    from?: string;
  } = {},
): Promise<Answer> {
  const started = performance.now();
  const response = await request(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body }),
    dispatcher: agentFor(init.from ?? '127.0.0.1'),
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text, ms: performance.now() - started };
}

function header(answer: Answer, name: string): string | undefined {
  const value = answer.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A device-API error: JSON `{"error": {"code", "message"}}` whose code has this status in the catalogue. */
function assertJsonError(
  answer: Answer,
  status: number,
  code: string,
  what: string,
): Record<string, unknown> {
  assert.equal(answer.status, status, `${what}: ${answer.text.slice(0, 300)}`);
  assert.match(header(answer, 'content-type') ?? '', /^application\/json/, what);
  const body = JSON.parse(answer.text) as { error?: Record<string, unknown> };
  assert.equal(body.error?.code, code, what);
  assert.equal(typeof body.error?.message, 'string', what);
  assert.equal(errorCatalogue[code as keyof typeof errorCatalogue]?.status, status, `${what}: catalogue`);
  return body.error!;
}

/** A SOAP 1.1 fault with faultcode soap:Client (the sender's fault, Exchange does not retry). */
function assertSoapClientFault(answer: Answer, status: number, what: string): string {
  assert.equal(answer.status, status, `${what}: ${answer.text.slice(0, 300)}`);
  assert.match(header(answer, 'content-type') ?? '', /^text\/xml/, what);
  assert.match(
    answer.text,
    /<soap:Fault><faultcode>soap:Client<\/faultcode><faultstring>[^<]*<\/faultstring>/,
    what,
  );
  return answer.text;
}

function assertSendNotificationResult(answer: Answer, status: 'OK' | 'Unsubscribe', what: string): void {
  assert.equal(answer.status, 200, `${what}: ${answer.text.slice(0, 300)}`);
  assert.match(answer.text, new RegExp(`<m:SubscriptionStatus>${status}</m:SubscriptionStatus>`), what);
}

const xml = { 'content-type': 'text/xml; charset=utf-8' };
const json = { 'content-type': 'application/json' };

/** The routes the server has, read from fastify's route tree: [method, path with :params]. */
function serverRoutes(herald: RunningHerald): Array<[string, string]> {
  const tree = herald.service.app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: Array<[string, string]> = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method) routes.push([method, stack.join('')]);
    }
  }
  return routes;
}

/** A body of `bytes` bytes, streamed in chunks without a Content-Length (chunked encoding). */
function chunked(bytes: number, fill: string): Readable {
  const chunk = Buffer.alloc(64 * 1024, fill);
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < bytes; sent += chunk.length) yield chunk;
    })(),
  );
}

// ------------------------------------------------------------------------------- hostile XML

/** Incompressible id-like text (PostgreSQL compresses repetitive index entries). */
function randomBase64(length: number): string {
  return randomBytes(length).toString('base64').slice(0, length);
}

/** `valid` with a DTD declaring an external entity (file and http) used inside the body. */
function xxeBody(valid: string, canaryUrl: string): string {
  const doctype =
    '<!DOCTYPE soap:Envelope [\n' +
    '  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n' +
    `  <!ENTITY % remote SYSTEM "${canaryUrl}/evil.dtd">\n` +
    '  %remote;\n' +
    ']>';
  const withDoctype = valid.replace(/^(<\?xml[^>]*\?>)?/, (declaration) => `${declaration}${doctype}`);
  return withDoctype.replace(/(<(?:\w+:)?Watermark>)[^<]*/, '$1&xxe;');
}

const billionLaughs =
  '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' +
  Array.from(
    { length: 9 },
    (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">\n`,
  ).join('') +
  ']>\n<lolz>&lol9;</lolz>';

/** Nest `depth` elements inside the SOAP body of `valid`. */
function deepBody(valid: string, depth: number): string {
  return valid.replace(
    /<(\w+:)?Body([^>]*)>/,
    (open) => `${open}${'<x>'.repeat(depth)}${'</x>'.repeat(depth)}`,
  );
}

function manyElementsBody(valid: string, count: number): string {
  return valid.replace(/<(\w+:)?Body([^>]*)>/, (open) => `${open}<x>${'<y/>'.repeat(count)}</x>`);
}

// ------------------------------------------------------------------------------- the tests

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`hostile input [${database.name}]`, { skip: skip ?? false }, () => {
    let sim: ExchangeSimulator;
    let herald: RunningHerald;
    let peers: PushPeers | undefined;
    let drop: () => Promise<void> = async () => {};
    const token = 'contoso-hostile-input-token-0123456789';
    let callbackUrl: string;
    let statusPing: string;
    let newMail: string;
    let registrationId: string;
    let subscriptionId: string;
    let canary: Server;
    let canaryRequests = 0;
    let canaryUrl: string;

    before(async () => {
      canary = createServer((_req, res) => {
        canaryRequests += 1;
        res.end('<!ENTITY exfil SYSTEM "file:///etc/hostname">');
      });
      await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
      canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}`;

      sim = await startExchangeSimulator({ clock: { mode: 'manual' }, mailboxes: [MAILBOX] });
      const target = await database.forServer();
      drop = target.drop;
      ({ herald, peers } = await startHeraldWithPush({
        ...(target.url ? { database: target.url } : {}),
        tenantId: 'contoso',
        apiToken: token,
        appId: APP,
        // 0: no limit (what the last test checks); the body limits are the defaults.
        config: { limits: { ipRequestsPerMinute: 0, tenantRequestsPerMinute: 0 } },
      }));
      const auth = { authorization: `Bearer ${token}` };
      const key = JSON.parse((await send(`${herald.url}/api/ens/v1/publickey`, { headers: auth })).text);
      const created = await send(`${herald.url}/api/ens/v1/registrations`, {
        method: 'POST',
        headers: { ...auth, ...json },
        body: JSON.stringify({
          device: { platform: 'ios', pushToken: apnsToken(7), appId: APP },
          account: {
            email: MAILBOX.email,
            ewsUrl: sim.ewsUrl,
            credentials: await encryptCredentials(key as PublicKeyAnswer, {
              type: 'basic',
              username: MAILBOX.email,
              password: MAILBOX.password,
            }),
          },
        }),
      });
      assert.equal(created.status, 201, created.text);
      registrationId = (JSON.parse(created.text) as { registrationId: string }).registrationId;
      const [subscription] = sim.subscriptions(MAILBOX.email);
      assert.ok(subscription);
      callbackUrl = subscription.callbackUrl;
      subscriptionId = subscription.id;
      statusPing = sendNotificationStatusOtherPrefixes.replace(ids.subscription, subscription.id);
      // A real SendNotification as the simulator (Exchange) sends it: the template of the attacks.
      await sim.deliver(
        MAILBOX.email,
        { subject: 'hello', from: { address: 'bob@contoso.example' } },
        { wait: true },
      );
      newMail = sim.log({ kind: 'callback' }).at(-1)!.requestBody!;
      assert.match(newMail, /NewMailEvent/);
    });

    after(async () => {
      await herald?.stop();
      await peers?.close();
      await sim?.close();
      await drop();
      await new Promise((resolve) => canary?.close(resolve));
      for (const agent of agents.values()) await agent.close();
      agents.clear();
    });

    test('the callback URL is live: a real notification is answered OK', async () => {
      assertSendNotificationResult(
        await send(callbackUrl, { method: 'POST', headers: xml, body: newMail }),
        'OK',
        'replayed notification',
      );
      assertSendNotificationResult(
        await send(callbackUrl, { method: 'POST', headers: xml, body: statusPing }),
        'OK',
        'status ping',
      );
    });

    test('XXE: 400 soap:Client fault, no file content echoed, no entity fetched', async () => {
      const passwd = 'root:x:0:0';
      const outboxBefore = (await herald.service.store.outbox.listForRegistration(registrationId)).length;
      for (const body of [
        xxeBody(newMail, canaryUrl),
        xxeBody(statusPing, canaryUrl),
        // No DTD at all, only a reference to an undeclared entity.
        newMail.replace(/(<(?:\w+:)?Watermark>)[^<]*/, '$1&xxe;'),
        // A DOCTYPE with an external DTD only, the form without an internal subset.
        newMail.replace(/^(<\?xml[^>]*\?>)?/, `$1<!DOCTYPE foo SYSTEM "${canaryUrl}/evil.dtd">`),
      ]) {
        const answer = await send(callbackUrl, { method: 'POST', headers: xml, body });
        const fault = assertSoapClientFault(answer, 400, 'XXE');
        assert.equal(fault.includes(passwd), false, 'nothing from /etc/passwd');
        assert.doesNotMatch(fault, /root:|\/bin\/(ba)?sh|nologin/);
      }
      assert.equal(canaryRequests, 0, 'no external entity or DTD was fetched');
      const outboxAfter = (await herald.service.store.outbox.listForRegistration(registrationId)).length;
      assert.equal(outboxAfter, outboxBefore, 'nothing was enqueued');
      assert.equal(herald.logs.text().includes(passwd), false, 'nothing from /etc/passwd in the logs');
    });

    test('billion laughs: 400 fast, nothing expanded', async () => {
      const answer = await send(callbackUrl, { method: 'POST', headers: xml, body: billionLaughs });
      assertSoapClientFault(answer, 400, 'billion laughs');
      assert.ok(answer.ms < 1000, `answered in ${answer.ms.toFixed(0)} ms`);
      assert.doesNotMatch(answer.text, /lollol/);
    });

    test('nesting depth 10,000: 400 fast', async () => {
      const body = deepBody(newMail, 10_000);
      const answer = await send(callbackUrl, { method: 'POST', headers: xml, body });
      assertSoapClientFault(answer, 400, 'depth');
      assert.ok(answer.ms < 1000, `answered in ${answer.ms.toFixed(0)} ms`);
    });

    test('200,000 elements: 400 or 413, fast', async () => {
      const body = manyElementsBody(newMail, 200_000);
      const answer = await send(callbackUrl, { method: 'POST', headers: xml, body });
      assertSoapClientFault(answer, Buffer.byteLength(body) > NOTIFICATION_BYTES ? 413 : 400, 'elements');
      assert.ok(answer.ms < 2000, `answered in ${answer.ms.toFixed(0)} ms`);
    });

    test('other malformed XML: 400 soap:Client fault each', async () => {
      const cases: Array<[string, string | Buffer]> = [
        ['a 600 KB text node', newMail.replace(/(<(?:\w+:)?Watermark>)[^<]*/, `$1${'A'.repeat(600_000)}`)],
        ['a 600 KB attribute', newMail.replace(/<(\w+:)?ItemId /, (m) => `${m}x="${'A'.repeat(600_000)}" `)],
        [
          'invalid UTF-8',
          Buffer.concat([Buffer.from(newMail.slice(0, 200)), Buffer.from([0xc3, 0x28, 0xff])]),
        ],
        ['a NUL character', `${newMail.slice(0, 300)}\u0000${newMail.slice(300)}`],
        ['truncated', newMail.slice(0, Math.floor(newMail.length / 2))],
        ['empty', ''],
        ['not XML', 'hello'],
        ['JSON sent as XML', '{"SendNotification": {}}'],
        ['processing instruction only', '<?xml version="1.0"?>'],
        ['two roots', `${statusPing}${statusPing.replace(/^<\?xml[^>]*\?>/, '')}`],
        [
          'a SOAP envelope with an unrelated body',
          '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>',
        ],
        // Values that would not fit a database key: on PostgreSQL these were 500s (index entry
        // over 2704 bytes; UnreadCount beyond the integer column), and Exchange retries a 500.
        ['a 3 KB ItemId', newMail.replace(/(<(?:\w+:)?ItemId Id=")[^"]*/g, `$1${randomBase64(3000)}`)],
        ['a 3 KB Watermark', newMail.replace(/(<(?:\w+:)?Watermark>)[^<]*/g, `$1${randomBase64(3000)}`)],
        [
          'an UnreadCount beyond xs:int',
          sendNotificationAllEvents.replace(ids.subscription, subscriptionId).replace('>7<', '>9999999999<'),
        ],
      ];
      const outboxBefore = (await herald.service.store.outbox.listForRegistration(registrationId)).length;
      for (const [name, body] of cases) {
        assertSoapClientFault(await send(callbackUrl, { method: 'POST', headers: xml, body }), 400, name);
      }
      const outboxAfter = (await herald.service.store.outbox.listForRegistration(registrationId)).length;
      assert.equal(outboxAfter, outboxBefore, 'nothing was enqueued');
    });

    test('device API: values too long for the database are refused with 400, not a 500', async () => {
      const auth = { authorization: `Bearer ${token}` };
      const key = JSON.parse((await send(`${herald.url}/api/ens/v1/publickey`, { headers: auth })).text);
      const answer = await send(`${herald.url}/api/ens/v1/registrations`, {
        method: 'POST',
        headers: { ...auth, ...json },
        body: JSON.stringify({
          // An FCM-token-shaped value of 4 KB: the token is part of a unique index.
          device: { platform: 'android', pushToken: randomBytes(3072).toString('base64url'), appId: APP },
          account: {
            email: MAILBOX.email,
            ewsUrl: sim.ewsUrl,
            credentials: await encryptCredentials(key as PublicKeyAnswer, {
              type: 'basic',
              username: MAILBOX.email,
              password: MAILBOX.password,
            }),
          },
        }),
      });
      const error = assertJsonError(answer, 400, 'invalid_request', 'a 4 KB push token');
      assert.match(String(error.message), /device\.pushToken/);
    });

    test('every route: an oversized body gets 413 with a clear error, never a 5xx', async () => {
      const routes = serverRoutes(herald);
      const names = routes.map(([method, path]) => `${method} ${path}`);
      for (const expected of [
        'GET /api/ens/alive',
        'GET /api/ens/v1/publickey',
        'POST /api/ens/v1/registrations',
        'POST /api/ens/v1/registrations/:id/checkin',
        'DELETE /api/ens/v1/registrations/:id',
        'POST /api/ens/v1/ews/notify/:segment',
        'GET /api/ens/openapi.json',
      ]) {
        assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
      }
      const auth = { authorization: `Bearer ${token}` };
      // The admin API's token check comes first; with it, the body limit is what answers.
      const adminAuth = {
        authorization: `Bearer ${readFileSync(join(herald.dataDir, 'admin.token'), 'utf8').trim()}`,
      };
      for (const [method, path] of routes) {
        if (method === 'HEAD') continue; // HEAD answers carry no body to check; GET covers the route.
        const isCallback = path.includes('/ews/notify/');
        const url = isCallback
          ? callbackUrl
          : `${herald.url}${path.replace(':id', registrationId).replace(/:\w+/g, 'x')}`;
        const limit = isCallback ? NOTIFICATION_BYTES : BODY_BYTES;
        const what = `${method} ${path}`;
        const headers = {
          ...(isCallback ? xml : json),
          ...(path.startsWith('/api/ens/v1/') ? auth : {}),
          ...(path.startsWith('/api/admin/') || path.startsWith('/api/pki/') ? adminAuth : {}),
        };
        const filler = isCallback ? '<x/>' : ' ';
        const oversized = filler.repeat(Math.ceil((limit + 1024) / filler.length));
        const check = (answer: Answer, how: string) => {
          assert.ok(answer.status < 500, `${what} ${how}: ${answer.status}`);
          if (isCallback) {
            const fault = assertSoapClientFault(answer, 413, `${what} ${how}`);
            assert.match(fault, /too large/);
          } else if (path === '/pki/scep') {
            // SCEP clients read plain text, not Herald's JSON (src/pki/scep/routes.ts).
            assert.equal(answer.status, 413, `${what} ${how}`);
            assert.match(String(answer.headers['content-type']), /^text\/plain/, `${what} ${how}`);
          } else {
            // The device API, and any other route (admin API...): the JSON error format.
            assertJsonError(answer, 413, 'payload_too_large', `${what} ${how}`);
          }
        };
        // Announced with Content-Length: refused before it is read.
        check(await send(url, { method, headers, body: oversized }), 'with Content-Length');
        // GET bodies are never read, so only an announced length can be judged.
        if (method !== 'GET') {
          check(
            await send(url, { method, headers, body: chunked(limit + 64 * 1024, filler[0]!) }),
            'chunked',
          );
        }
      }
      // The server is unharmed and the registration still takes notifications.
      assert.equal((await send(`${herald.url}/api/ens/alive`)).status, 200);
      assertSendNotificationResult(
        await send(callbackUrl, { method: 'POST', headers: xml, body: statusPing }),
        'OK',
        'after',
      );
    });

    test('a body of the wrong media type gets 415, JSON on the device API, a SOAP fault on the callback', async () => {
      const auth = { authorization: `Bearer ${token}` };
      const registrations = `${herald.url}/api/ens/v1/registrations`;
      for (const [type, body] of [
        ['text/plain', '{"device": {}}'],
        ['text/xml', '<a/>'],
        ['application/x-www-form-urlencoded', 'device=1'],
        ['multipart/form-data; boundary=x', '--x--'],
        ['application/octet-stream', 'x'],
      ] as const) {
        assertJsonError(
          await send(registrations, { method: 'POST', headers: { ...auth, 'content-type': type }, body }),
          415,
          'unsupported_media_type',
          `device API ${type}`,
        );
      }
      assertJsonError(
        await send(registrations, { method: 'POST', headers: auth, body: '{}' }),
        415,
        'unsupported_media_type',
        'device API without a content type',
      );
      for (const [type, body] of [
        ['application/json', '{"SendNotification": {}}'],
        ['text/plain', statusPing],
        ['application/x-www-form-urlencoded', 'a=1'],
        [undefined, statusPing],
      ] as const) {
        const answer = await send(callbackUrl, {
          method: 'POST',
          headers: type ? { 'content-type': type } : {},
          body,
        });
        assert.match(assertSoapClientFault(answer, 415, `callback ${type}`), /text\/xml/);
      }
    });

    test("a URL the router cannot read gets a JSON error, not fastify's own format", async () => {
      const auth = { authorization: `Bearer ${token}` };
      assertJsonError(
        await send(`${herald.url}/api/ens/v1/registrations/%E0%A4%A/checkin`, {
          method: 'POST',
          headers: auth,
        }),
        400,
        'invalid_request',
        'bad percent-encoding',
      );
      assertJsonError(
        await send(`${herald.url}/api/ens/v1/registrations/${'x'.repeat(200)}`, {
          method: 'DELETE',
          headers: auth,
        }),
        404,
        'not_found',
        'a parameter over the router limit',
      );
      assertJsonError(
        await send(`${herald.url}/api/ens/v1/ews/notify/${'x'.repeat(200)}`, {
          method: 'POST',
          headers: xml,
          body: statusPing,
        }),
        404,
        'not_found',
        'an overlong callback segment',
      );
    });

    test('concurrent identical registrations: all answered 201, one registration left', async () => {
      const auth = { authorization: `Bearer ${token}` };
      const key = JSON.parse((await send(`${herald.url}/api/ens/v1/publickey`, { headers: auth })).text);
      const body = JSON.stringify({
        device: { platform: 'ios', pushToken: apnsToken(77), appId: APP },
        account: {
          email: MAILBOX.email,
          ewsUrl: sim.ewsUrl,
          credentials: await encryptCredentials(key as PublicKeyAnswer, {
            type: 'basic',
            username: MAILBOX.email,
            password: MAILBOX.password,
          }),
        },
      });
      const answers = await Promise.all(
        Array.from({ length: 4 }, () =>
          send(`${herald.url}/api/ens/v1/registrations`, {
            method: 'POST',
            headers: { ...auth, ...json },
            body,
          }),
        ),
      );
      assert.deepEqual(
        answers.map((a) => a.status),
        [201, 201, 201, 201],
        answers.map((a) => `${a.status} ${a.text}`).join('\n'),
      );
      // The later ones replaced the earlier: one registration for the identity, no leftovers.
      const ids = answers.map((a) => (JSON.parse(a.text) as { registrationId: string }).registrationId);
      const kept = await Promise.all(ids.map((id) => herald.service.store.registrations.get(id)));
      assert.equal(kept.filter(Boolean).length, 1, 'one registration survives');
      assert.equal(kept.find(Boolean)?.state, 'active');
    });

    test('limits at 0 mean no limit: 1,300 device API requests from one address and one tenant', async () => {
      const auth = { authorization: `Bearer ${token}` };
      const statuses = new Map<number, number>();
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < 1300) {
            next += 1;
            const answer = await send(`${herald.url}/api/ens/v1/publickey`, { headers: auth });
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          }
        }),
      );
      assert.deepEqual([...statuses], [[200, 1300]]);
    });
  });
}

// ------------------------------------------------------------------------------- rate limits

describe('rate limits of the device API (in-memory, per node: one database suffices)', () => {
  const IP_LIMIT = 10;
  const TENANT_LIMIT = 15;
  const tokens = {
    alpha: 'alpha-rate-limit-token-0123456789',
    beta: 'beta-rate-limit-token-0123456789',
    gamma: 'gamma-rate-limit-token-0123456789',
  };
  let sim: ExchangeSimulator;
  let peers: PushPeers;
  let herald: RunningHerald;
  let callbackUrl: string;
  let statusPing: string;
  const api = (path: string) => `${herald.url}/api/ens${path}`;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-ratelimit-'));
    sim = await startExchangeSimulator({ clock: { mode: 'manual' }, mailboxes: [MAILBOX] });
    peers = await startPushPeers(dir);
    herald = await startHerald({
      dataDir: dir,
      config: {
        tenants: [
          // alpha and beta: the per-tenant test; gamma owns the registration of the callback test.
          { id: 'alpha', apiToken: tokens.alpha },
          { id: 'beta', apiToken: tokens.beta },
          { id: 'gamma', apiToken: tokens.gamma, apps: [peers.app(APP)] },
        ],
        trust: { caFiles: [peers.caFile] },
        limits: { ipRequestsPerMinute: IP_LIMIT, tenantRequestsPerMinute: TENANT_LIMIT },
      },
    });
    // Two of gamma's requests, from an address of their own.
    const from = '127.0.0.30';
    const key = JSON.parse((await send(api('/v1/publickey'), { headers: bearer(tokens.gamma), from })).text);
    const created = await send(api('/v1/registrations'), {
      method: 'POST',
      from,
      headers: { ...bearer(tokens.gamma), ...json },
      body: JSON.stringify({
        device: { platform: 'ios', pushToken: apnsToken(9), appId: APP },
        account: {
          email: MAILBOX.email,
          ewsUrl: sim.ewsUrl,
          credentials: await encryptCredentials(key as PublicKeyAnswer, {
            type: 'basic',
            username: MAILBOX.email,
            password: MAILBOX.password,
          }),
        },
      }),
    });
    assert.equal(created.status, 201, created.text);
    const [subscription] = sim.subscriptions(MAILBOX.email);
    callbackUrl = subscription!.callbackUrl;
    statusPing = sendNotificationStatusOtherPrefixes.replace(ids.subscription, subscription!.id);
  });

  after(async () => {
    await herald?.stop();
    await peers?.close();
    await sim?.close();
    for (const agent of agents.values()) await agent.close();
    agents.clear();
  });

  function assertRateLimited(answer: Answer, what: string): number {
    const error = assertJsonError(answer, 429, 'rate_limited', what);
    const retryAfter = header(answer, 'retry-after');
    assert.match(retryAfter ?? '', /^\d+$/, `${what}: Retry-After in whole seconds`);
    const seconds = Number(retryAfter);
    assert.ok(seconds >= 1 && seconds <= 60, `${what}: Retry-After ${seconds}`);
    assert.equal(error.retryAfterSeconds, seconds, what);
    return seconds;
  }

  test('per IP: counted before authentication; 429 with Retry-After; other addresses unaffected', async () => {
    const from = '127.0.0.2';
    // Token guessing: every wrong guess counts.
    for (let i = 0; i < IP_LIMIT; i += 1) {
      const guess = await send(api('/v1/publickey'), {
        headers: bearer(`guess-${i}-${'x'.repeat(30)}`),
        from,
      });
      assertJsonError(guess, 401, 'unauthorized', `guess ${i}`);
    }
    const limited = await send(api('/v1/publickey'), { headers: bearer(tokens.alpha), from });
    assertRateLimited(limited, 'the right token, from the limited address');
    assert.match(JSON.parse(limited.text).error.message, /address/);
    // A body is not read once the address is limited: no 413, no 400, just 429.
    assertRateLimited(
      await send(api('/v1/registrations'), {
        method: 'POST',
        from,
        headers: { ...bearer(tokens.alpha), ...json },
        body: '{"not": "even valid"',
      }),
      'POST from the limited address',
    );
    // X-Forwarded-For is not trusted: rotating it does not make a new client.
    for (let i = 0; i < 5; i += 1) {
      assertRateLimited(
        await send(api('/v1/publickey'), {
          headers: {
            ...bearer(tokens.alpha),
            'x-forwarded-for': `203.0.113.${i}`,
            'x-real-ip': `198.51.100.${i}`,
          },
          from,
        }),
        `forwarded-for ${i}`,
      );
    }
    // Another address is a fresh client (beta's token: alpha's budget is the next test's); alive
    // is never limited.
    assert.equal(
      (await send(api('/v1/publickey'), { headers: bearer(tokens.beta), from: '127.0.0.3' })).status,
      200,
    );
    for (let i = 0; i < 3 * IP_LIMIT; i += 1) {
      assert.equal((await send(api('/alive'), { from })).status, 200, `alive ${i}`);
    }
  });

  test('per tenant: counted after authentication, across addresses; another tenant is unaffected', async () => {
    // Spread over addresses so that no address reaches its own limit.
    const addresses = ['127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14'];
    for (let i = 0; i < TENANT_LIMIT; i += 1) {
      const from = addresses[i % addresses.length]!;
      const answer = await send(api('/v1/publickey'), { headers: bearer(tokens.alpha), from });
      assert.equal(answer.status, 200, `alpha request ${i}: ${answer.text}`);
      assert.equal(header(answer, 'retry-after'), undefined);
    }
    const limited = await send(api('/v1/publickey'), { headers: bearer(tokens.alpha), from: '127.0.0.15' });
    assertRateLimited(limited, 'alpha over its limit, from a fresh address');
    assert.match(JSON.parse(limited.text).error.message, /tenant/);
    // The same addresses still serve beta, and a wrong token is still 401, not 429.
    for (const from of addresses) {
      assert.equal((await send(api('/v1/publickey'), { headers: bearer(tokens.beta), from })).status, 200);
    }
    assertJsonError(
      await send(api('/v1/publickey'), {
        headers: bearer('not-a-token-of-anyone-0123456789'),
        from: '127.0.0.16',
      }),
      401,
      'unauthorized',
      'unknown token',
    );
  });

  test('the Exchange callback is never limited, whatever the address or the tenant has used', async () => {
    // gamma's callback from one address, far beyond both limits.
    const from = '127.0.0.20';
    for (let i = 0; i < 3 * TENANT_LIMIT; i += 1) {
      const answer = await send(callbackUrl, { method: 'POST', headers: xml, body: statusPing, from });
      assertSendNotificationResult(answer, 'OK', `callback ${i}`);
      assert.equal(header(answer, 'retry-after'), undefined);
    }
    // Even from an address the device API has limited (127.0.0.2 above), and for malformed bodies.
    assertSendNotificationResult(
      await send(callbackUrl, { method: 'POST', headers: xml, body: statusPing, from: '127.0.0.2' }),
      'OK',
      'from a limited address',
    );
    for (let i = 0; i < 2 * IP_LIMIT; i += 1) {
      assertSoapClientFault(
        await send(callbackUrl, { method: 'POST', headers: xml, body: '<oops>', from: '127.0.0.2' }),
        400,
        `malformed ${i}`,
      );
    }
    // Exchange's real delivery path is unaffected too.
    const mail = await sim.deliver(
      MAILBOX.email,
      { subject: 'still here', from: { address: 'x@contoso.example' } },
      { wait: true },
    );
    assert.deepEqual(
      mail.outcomes?.map((o) => o.subscriptionStatus),
      ['OK'],
    );
  });
});
