/**
 * Autodiscover v2 against the Exchange simulator (a real HTTP peer at the real paths), and
 * against small servers that redirect, stall or answer badly.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { type ExchangeSimulator, startExchangeSimulator } from '../../sim/exchange/index.ts';
import { selfSignedIdentity } from '../../sim/tls.ts';
import { AutodiscoverError, checkEndpoint, discoverEwsUrl } from './index.ts';

let sim: ExchangeSimulator;
const servers: Array<http.Server | https.Server> = [];

/** A server whose every request is answered by `handle`; its origin. */
async function serve(handle: http.RequestListener): Promise<string> {
  const server = http.createServer(handle);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const options = (endpoints: string[], timeoutMs = 5000) => ({
  endpoints,
  timeoutMs,
  userAgent: 'Herald/test',
});

before(async () => {
  sim = await startExchangeSimulator({
    mailboxes: [
      { email: 'ann@contoso.example' },
      {
        email: 'onprem@contoso.example',
        autodiscoverEwsUrl: 'https://mail.contoso.example/EWS/Exchange.asmx',
      },
      { email: 'lab@127.0.0.1' },
    ],
  });
});

after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  await sim.close();
});

describe('autodiscover', () => {
  test("a known mailbox: the simulator's EWS URL, or the server the mailbox lives on", async () => {
    assert.deepEqual(await discoverEwsUrl('Ann@contoso.example', options([sim.url])), {
      ewsUrl: sim.ewsUrl,
      endpoint: sim.url,
    });
    assert.equal(
      (await discoverEwsUrl('onprem@contoso.example', options([sim.url]))).ewsUrl,
      'https://mail.contoso.example/EWS/Exchange.asmx',
    );
    const asked = sim.log({ kind: 'autodiscover' }).map((e) => e.url);
    assert.ok(
      asked.includes('/autodiscover/autodiscover.json/v1.0/Ann%40contoso.example?Protocol=EWS'),
      asked.join('\n'),
    );
  });

  test('{domain} in an endpoint is the mailbox domain', async () => {
    const port = new URL(sim.url).port;
    const found = await discoverEwsUrl('lab@127.0.0.1', options([`http://{domain}:${port}`]));
    assert.equal(found.ewsUrl, sim.ewsUrl);
    assert.equal(found.endpoint, `http://{domain}:${port}`);
  });

  test('endpoints in order: an unreachable one and an unknown address fall through to the next', async () => {
    const closed = await serve(() => {});
    const dead = servers.pop()!;
    dead.close();
    await new Promise((resolve) => dead.once('close', resolve));
    const other = await startExchangeSimulator({ mailboxes: [] });
    try {
      const found = await discoverEwsUrl('ann@contoso.example', options([closed, other.url, sim.url]));
      assert.deepEqual(found, { ewsUrl: sim.ewsUrl, endpoint: sim.url });
    } finally {
      await other.close();
    }
  });

  test('redirects are followed (at most three); a loop ends with an error naming it', async () => {
    const hop = await serve((req, res) => {
      res.writeHead(302, { location: `${sim.url}${req.url}` }).end();
    });
    assert.equal((await discoverEwsUrl('ann@contoso.example', options([hop]))).ewsUrl, sim.ewsUrl);
    const loop = await serve((req, res) => {
      res.writeHead(307, { location: req.url }).end();
    });
    await assert.rejects(discoverEwsUrl('ann@contoso.example', options([loop])), (error: unknown) => {
      assert.ok(error instanceof AutodiscoverError);
      assert.deepEqual(error.attempts, [{ endpoint: loop, outcome: 'more than 3 redirects' }]);
      return true;
    });
  });

  test('bad answers: the error lists every endpoint with what it said, and never the address', async () => {
    const notJson = await serve((_req, res) => res.writeHead(200).end('<html>login</html>'));
    const noUrl = await serve((_req, res) => res.writeHead(200).end('{"Protocol":"EWS"}'));
    const script = await serve((_req, res) =>
      res.writeHead(200).end('{"Protocol":"EWS","Url":"javascript:alert(1)"}'),
    );
    const wrongProtocol = await serve((_req, res) =>
      res.writeHead(200).end('{"Protocol":"ActiveSync","Url":"https://eas.example/x"}'),
    );
    const endpoints = [notJson, noUrl, script, wrongProtocol, sim.url];
    await assert.rejects(discoverEwsUrl('nobody@contoso.example', options(endpoints)), (error: unknown) => {
      assert.ok(error instanceof AutodiscoverError);
      assert.deepEqual(
        error.attempts.map((a) => a.outcome),
        [
          'invalid_response',
          'answer without an acceptable EWS Url',
          'answer without an acceptable EWS Url',
          'answer without an acceptable EWS Url',
          'HTTP 404',
        ],
      );
      assert.doesNotMatch(error.message, /nobody/);
      return true;
    });
  });

  test('one deadline per endpoint, redirects included: a stalling server, and a slow redirect chain', async () => {
    const stall = await serve(() => {});
    // Each hop waits 150 ms before redirecting to the next: three hops outlast a 400 ms deadline,
    // which a fresh timeout per hop would never reach (the chain stops at the redirect limit).
    const slow = await serve((req, res) => {
      const hop = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('hop') ?? '0');
      setTimeout(() => res.writeHead(302, { location: `/next?hop=${hop + 1}` }).end(), 150);
    });
    await assert.rejects(
      discoverEwsUrl('ann@contoso.example', options([stall, slow], 400)),
      (error: unknown) => {
        assert.ok(error instanceof AutodiscoverError);
        assert.deepEqual(
          error.attempts.map((a) => a.outcome),
          ['timeout', 'timeout'],
        );
        return true;
      },
    );
  });

  test('an https endpoint may not send the lookup to http, by a redirect or by its answer', async () => {
    const identity = await selfSignedIdentity();
    const dispatcher = new Agent({ connect: { ca: identity.cert } });
    let answer: (res: http.ServerResponse) => void = () => {};
    const server = https.createServer(identity, (_req, res) => answer(res));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lookup = (email: string) => discoverEwsUrl(email, { ...options([origin]), dispatcher });
    const outcome = async () =>
      lookup('ann@contoso.example').then(
        () => assert.fail('found a URL'),
        (error: unknown) => (error as AutodiscoverError).attempts[0]!.outcome,
      );
    try {
      answer = (res) =>
        res.writeHead(200).end('{"Protocol":"EWS","Url":"https://mail.contoso.example/EWS/Exchange.asmx"}');
      assert.equal(
        (await lookup('ann@contoso.example')).ewsUrl,
        'https://mail.contoso.example/EWS/Exchange.asmx',
      );
      answer = (res) => res.writeHead(200).end(`{"Protocol":"EWS","Url":"${sim.ewsUrl}"}`);
      assert.equal(await outcome(), 'answer without an acceptable EWS Url');
      answer = (res) => res.writeHead(302, { location: `${sim.url}/autodiscover/autodiscover.json` }).end();
      assert.match(await outcome(), /^HTTP 302 to a location refused/);
      answer = (res) => res.writeHead(302, { location: 'ftp://files.example/x' }).end();
      assert.match(await outcome(), /^HTTP 302 to a location refused/);
    } finally {
      await dispatcher.close();
    }
  });

  test('endpoint templates are checked: origins only', () => {
    assert.equal(checkEndpoint('https://autodiscover.{domain}'), undefined);
    assert.equal(checkEndpoint('https://outlook.office365.com'), undefined);
    assert.equal(checkEndpoint('http://127.0.0.1:8090/'), undefined);
    assert.match(checkEndpoint('https://outlook.office365.com/autodiscover') ?? '', /origin only/);
    assert.match(checkEndpoint('ftp://x.example') ?? '', /http\(s\)/);
    assert.match(checkEndpoint('not a url') ?? '', /absolute URL/);
  });

  test('the simulator refuses other protocols and other methods, as Exchange does', async () => {
    const bad = await fetch(
      `${sim.url}/autodiscover/autodiscover.json/v1.0/ann@contoso.example?Protocol=Rest`,
    );
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { ErrorCode: string }).ErrorCode, 'InvalidProtocol');
    const eas = await fetch(
      `${sim.url}/autodiscover/autodiscover.json?Email=ann%40contoso.example&Protocol=ActiveSync`,
    );
    assert.deepEqual(await eas.json(), {
      Protocol: 'ActiveSync',
      Url: `${sim.url}/Microsoft-Server-ActiveSync`,
    });
    const post = await fetch(
      `${sim.url}/autodiscover/autodiscover.json/v1.0/ann@contoso.example?Protocol=EWS`,
      {
        method: 'POST',
      },
    );
    assert.equal(post.status, 405);
  });
});
