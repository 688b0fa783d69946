import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Agent, type Dispatcher } from 'undici';
import { HeraldError } from '../../errors/index.ts';
import { transportError } from './client.ts';
import { createEwsClient } from './index.ts';
import { M_NS, readSoapBody, SOAP_NS, T_NS } from './soap.ts';
import * as fx from './test-fixtures.ts';
import type { EwsClientHandle, EwsTarget } from './types.ts';
import { attr, child, childText, parseXml } from './xml.ts';

interface Seen {
  headers: IncomingHttpHeaders;
  body: string;
}
interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (to exercise the timeout). */
  hang?: boolean;
}

let server: Server;
let baseUrl: string;
let seen: Seen[] = [];
let reply: (seen: Seen) => Reply = () => ({ body: '' });

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(request);
      const r = reply(request);
      if (r.hang) return;
      res.writeHead(r.status ?? 200, { 'content-type': 'text/xml; charset=utf-8', ...r.headers });
      res.end(r.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/EWS/Exchange.asmx`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen = [];
});

const userAgent = 'Herald/0.1.0 (+https://herald.contoso.com)';
const basic = (): EwsTarget => ({
  url: baseUrl,
  auth: { type: 'basic', username: 'CONTOSO\\adele', password: 'pässwörd:with colon' },
});
const bearer = (): EwsTarget => ({
  url: baseUrl,
  auth: { type: 'oauth', accessToken: 'eyJ0eXAiOiJKV1QifQ.e30.sig' },
});

async function withClient(
  fn: (client: EwsClientHandle) => Promise<void>,
  options: Partial<Parameters<typeof createEwsClient>[0]> = {},
) {
  const client = createEwsClient({ userAgent, ...options });
  try {
    await fn(client);
  } finally {
    await client.close();
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string, details?: Record<string, unknown>) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HeraldError, String(err));
    assert.equal(err.code, code);
    if (details) assert.deepEqual(err.details, details);
    // Neither the password, the token nor the mailbox may leak into what a client can see.
    const visible = JSON.stringify(err.toBody());
    for (const secret of ['pässwörd', 'eyJ0eXAi', 'adele', 'AdeleV@contoso.com']) {
      assert.ok(!visible.includes(secret), `${secret} leaked: ${visible}`);
    }
    return true;
  });
}

describe('requests', () => {
  test('subscribe sends Basic auth, User-Agent, SOAP content type and a Subscribe envelope', async () => {
    reply = () => ({ body: fx.subscribeSuccess });
    await withClient(async (client) => {
      const result = await client.subscribe(basic(), {
        callbackUrl: 'https://herald.contoso.com/api/ens/v1/ews/notify/r1.key',
        statusFrequencyMinutes: 15,
      });
      assert.deepEqual(result, { subscriptionId: fx.ids.subscription, watermark: fx.ids.watermark });
    });
    assert.equal(seen.length, 1);
    const { headers, body } = seen[0]!;
    const expected = Buffer.from('CONTOSO\\adele:pässwörd:with colon', 'utf8').toString('base64');
    assert.equal(headers.authorization, `Basic ${expected}`);
    assert.equal(headers['user-agent'], userAgent);
    assert.equal(headers['content-type'], 'text/xml; charset=utf-8');
    const request = readSoapBody(body);
    assert.equal(request.ns, M_NS);
    assert.equal(request.local, 'Subscribe');
    assert.equal(
      childText(child(request, M_NS, 'PushSubscriptionRequest'), T_NS, 'URL'),
      'https://herald.contoso.com/api/ens/v1/ews/notify/r1.key',
    );
  });

  test('getItem sends the OAuth bearer token and the configured RequestServerVersion', async () => {
    reply = () => ({ body: fx.getItemSuccess });
    await withClient(
      async (client) => {
        const item = await client.getItem(bearer(), fx.ids.item);
        assert.equal(item.subject, 'Q3 numbers & forecast');
        assert.deepEqual(item.from, { name: 'Adele Vance', address: 'AdeleV@contoso.com' });
      },
      { requestServerVersion: 'Exchange2016' },
    );
    const { headers, body } = seen[0]!;
    assert.equal(headers.authorization, 'Bearer eyJ0eXAiOiJKV1QifQ.e30.sig');
    assert.equal(headers['user-agent'], userAgent);
    const header = child(parseXml(body), SOAP_NS, 'Header');
    assert.equal(attr(child(header, T_NS, 'RequestServerVersion'), 'Version'), 'Exchange2016');
  });

  test('getInboxUnreadCount and unsubscribe', async () => {
    await withClient(async (client) => {
      reply = () => ({ body: fx.getFolderSuccess(42) });
      assert.equal(await client.getInboxUnreadCount(basic()), 42);
      reply = () => ({ body: fx.unsubscribeSuccess });
      assert.equal(await client.unsubscribe(basic(), fx.ids.subscription), undefined);
    });
    assert.equal(readSoapBody(seen[0]!.body).local, 'GetFolder');
    assert.equal(childText(readSoapBody(seen[1]!.body), M_NS, 'SubscriptionId'), fx.ids.subscription);
  });

  test('an injected dispatcher carries the requests', async () => {
    let dispatched = 0;
    const agent = new Agent();
    const counting: Dispatcher = agent.compose((dispatch) => (opts, handler) => {
      dispatched += 1;
      return dispatch(opts, handler);
    });
    reply = () => ({ body: fx.getFolderSuccess(1) });
    try {
      await withClient(async (client) => assert.equal(await client.getInboxUnreadCount(bearer()), 1), {
        dispatcher: counting,
      });
      assert.equal(dispatched, 1);
    } finally {
      await agent.close();
    }
  });

  test('bad arguments reject (not throw) and send nothing', async () => {
    await withClient(async (client) => {
      const pending = client.subscribe(basic(), { callbackUrl: 'https://x/', statusFrequencyMinutes: 0 });
      await assert.rejects(pending, RangeError);
      await rejectsWith(
        client.getItem({ url: baseUrl, auth: { type: 'oauth', accessToken: 'tok\r\nX-Injected: 1' } }, 'id'),
        'exchange_auth_failed',
        { reason: 'credentials_unusable' },
      );
    });
    assert.equal(seen.length, 0);
  });

  test('options are validated when the client is created', () => {
    assert.throws(() => createEwsClient({ userAgent, requestServerVersion: 'Exchange2099' }), TypeError);
    assert.throws(() => createEwsClient({ userAgent: 'bad\nagent' }), TypeError);
    assert.throws(() => createEwsClient({ userAgent, timeoutMs: -1 }), TypeError);
    assert.throws(() => createEwsClient({ userAgent, ca: ['not a pem'] }), TypeError);
  });
});

describe('error mapping', () => {
  test('ErrorServerBusy → exchange_busy with BackOffMilliseconds', async () => {
    reply = () => ({ body: fx.serverBusy('GetItem', 297749) });
    await withClient((client) =>
      rejectsWith(client.getItem(basic(), fx.ids.item), 'exchange_busy', {
        responseCode: 'ErrorServerBusy',
        responseClass: 'Error',
        backOffMs: 297749,
      }),
    );
  });

  test('throttling fault with HTTP 500 → exchange_busy', async () => {
    reply = () => ({ status: 500, body: fx.serverBusyFault(3000) });
    await withClient((client) =>
      rejectsWith(client.getInboxUnreadCount(basic()), 'exchange_busy', {
        responseCode: 'ErrorServerBusy',
        soapFault: 'ErrorServerBusy',
        backOffMs: 3000,
      }),
    );
  });

  for (const status of [401, 403]) {
    test(`HTTP ${status} → exchange_auth_failed`, async () => {
      reply = () => ({ status, headers: { 'www-authenticate': 'Basic realm="mail"' }, body: 'denied' });
      await withClient((client) =>
        rejectsWith(client.getItem(basic(), fx.ids.item), 'exchange_auth_failed', { httpStatus: status }),
      );
    });
  }

  test('SOAP fault (HTTP 500) → exchange_error with the ResponseCode', async () => {
    reply = () => ({ status: 500, body: fx.schemaValidationFault });
    await withClient((client) =>
      rejectsWith(
        client.subscribe(basic(), { callbackUrl: 'https://h/', statusFrequencyMinutes: 1 }),
        'exchange_error',
        {
          responseCode: 'ErrorSchemaValidation',
          soapFault: 'ErrorSchemaValidation',
        },
      ),
    );
  });

  test('an error ResponseMessage → exchange_error with the ResponseCode', async () => {
    reply = () => ({ body: fx.itemNotFound });
    await withClient((client) =>
      rejectsWith(client.getItem(basic(), fx.ids.item), 'exchange_error', {
        responseCode: 'ErrorItemNotFound',
        responseClass: 'Error',
      }),
    );
  });

  test('HTTP 500 without SOAP, 302 to a login page, 503 with Retry-After', async () => {
    await withClient(async (client) => {
      reply = () => ({
        status: 500,
        headers: { 'content-type': 'text/html' },
        body: '<html>Server Error</html>',
      });
      await rejectsWith(client.getInboxUnreadCount(basic()), 'exchange_error', { httpStatus: 500 });
      reply = () => ({ status: 302, headers: { location: '/owa/auth/logon.aspx' } });
      await rejectsWith(client.getInboxUnreadCount(basic()), 'exchange_error', { httpStatus: 302 });
      reply = () => ({ status: 503, headers: { 'retry-after': '120' }, body: 'busy' });
      await rejectsWith(client.getInboxUnreadCount(basic()), 'exchange_busy', {
        httpStatus: 503,
        backOffMs: 120_000,
      });
    });
  });

  test('HTTP 200 that is not an EWS answer → exchange_error invalid_response', async () => {
    reply = () => ({ body: '<html><body>Sign in</body></html>' });
    await withClient((client) =>
      rejectsWith(client.getInboxUnreadCount(basic()), 'exchange_error', { reason: 'invalid_response' }),
    );
  });

  test('a response larger than maxResponseBytes is cut off, declared or streamed', async () => {
    const big = fx.getFolderSuccess(1).replace('<t:Folder>', `<t:Folder><!--${'x'.repeat(4096)}-->`);
    await withClient(
      async (client) => {
        reply = () => ({ body: big, headers: { 'content-length': String(Buffer.byteLength(big)) } });
        await rejectsWith(client.getInboxUnreadCount(basic()), 'exchange_error', {
          reason: 'response_too_large',
        });
        reply = () => ({ body: big, headers: { 'transfer-encoding': 'chunked' } });
        await rejectsWith(client.getInboxUnreadCount(basic()), 'exchange_error', {
          reason: 'response_too_large',
        });
        reply = () => ({ body: fx.getFolderSuccess(3) });
        assert.equal(await client.getInboxUnreadCount(basic()), 3);
      },
      { maxResponseBytes: 2048 },
    );
  });

  test('connection refused → exchange_unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await withClient((client) =>
      rejectsWith(
        client.getItem({ ...basic(), url: `http://127.0.0.1:${port}/EWS/Exchange.asmx` }, fx.ids.item),
        'exchange_unreachable',
        { reason: 'connection_refused' },
      ),
    );
  });

  test('no answer within timeoutMs → exchange_unreachable (timeout)', async () => {
    reply = () => ({ hang: true });
    await withClient(
      (client) =>
        rejectsWith(client.getItem(basic(), fx.ids.item), 'exchange_unreachable', { reason: 'timeout' }),
      { timeoutMs: 200 },
    );
    assert.equal(seen.length, 1);
  });

  const transportCases: [string, Record<string, unknown>, string, string | undefined][] = [
    ['refused', { code: 'ECONNREFUSED' }, 'exchange_unreachable', 'connection_refused'],
    ['dns', { code: 'ENOTFOUND' }, 'exchange_unreachable', 'dns'],
    ['dns retry', { code: 'EAI_AGAIN' }, 'exchange_unreachable', 'dns'],
    ['connect timeout', { code: 'UND_ERR_CONNECT_TIMEOUT' }, 'exchange_unreachable', 'timeout'],
    ['abort signal timeout', { name: 'TimeoutError' }, 'exchange_unreachable', 'timeout'],
    ['untrusted server', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'exchange_unreachable', 'tls'],
    ['wrong host name', { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'exchange_unreachable', 'tls'],
    ['socket closed', { code: 'UND_ERR_SOCKET' }, 'exchange_unreachable', 'network'],
    // A server refusing our client certificate with a TLS alert (OpenSSL-style servers, proxies).
    [
      'alert unknown ca',
      { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
      'exchange_auth_failed',
      'client_certificate_refused',
    ],
    [
      'alert cert required',
      { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
      'exchange_auth_failed',
      'client_certificate_refused',
    ],
  ];
  for (const [name, fields, code, reason] of transportCases) {
    test(`transport/${name}`, () => {
      const err = transportError(Object.assign(new Error('x'), fields));
      assert.equal(err.code, code);
      assert.deepEqual(err.details, { reason });
    });
  }

  test('a closed client refuses further calls', async () => {
    const client = createEwsClient({ userAgent });
    await client.close();
    await rejectsWith(client.getInboxUnreadCount(basic()), 'unavailable');
  });
});
