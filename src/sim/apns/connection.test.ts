import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import tls from 'node:tls';
import { type ApnsSimulator, startApnsSimulator } from './index.ts';
import { closeSession, connect, deviceToken, type GeneratedKey, providerToken, push } from './testkit.ts';

let sim: ApnsSimulator;
let key: GeneratedKey;
let jwt: string;

before(async () => {
  sim = await startApnsSimulator();
  key = sim.generateKey();
  jwt = await providerToken(key);
});
after(() => sim.close());
beforeEach(() => {
  sim.clear();
  sim.goawayAfter(undefined);
});

/** A provider that resends what a GOAWAY or a refused stream left unanswered, on a new connection. */
async function sendAll(target: ApnsSimulator, ids: string[], token: string) {
  let session: http2.ClientHttp2Session | undefined;
  let goaways = 0;
  let refused = 0;
  let connections = 0;
  let pending = ids;
  for (let round = 0; pending.length > 0; round++) {
    assert.ok(round < 50, 'no progress');
    if (!session || session.closed || session.destroyed || (session as { goneAway?: boolean }).goneAway) {
      session = connect(target);
      connections++;
      const current = session;
      current.on('goaway', (code: number) => {
        assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
        // A graceful shutdown may repeat the GOAWAY (same last-stream-id): count sessions.
        if (!(current as { goneAway?: boolean }).goneAway) goaways++;
        (current as { goneAway?: boolean }).goneAway = true;
      });
    }
    const s = session;
    const results = await Promise.allSettled(
      pending.map((id) => push(s, { jwt, token, headers: { 'apns-id': id } })),
    );
    const next: string[] = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') {
        assert.equal(result.value.status, 200, result.value.text);
      } else {
        const error = result.reason as NodeJS.ErrnoException;
        if (error.code === 'ERR_HTTP2_STREAM_ERROR') refused++;
        next.push(pending[i]!);
      }
    });
    pending = next;
  }
  if (session) await closeSession(session);
  return { goaways, refused, connections };
}

describe('GOAWAY', () => {
  test('goawayAfter(n): the client sees GOAWAY, reconnects, and every push arrives exactly once', async () => {
    sim.goawayAfter(3);
    const before = sim.stats();
    const token = deviceToken();
    const ids = Array.from({ length: 20 }, () => randomUUID());
    const { goaways, connections } = await sendAll(sim, ids, token);
    const received = sim.received({ token }).map((r) => r.apnsId);
    assert.deepEqual([...received].sort(), [...ids].sort(), 'each push exactly once');
    assert.ok(goaways >= 1);
    assert.ok(connections >= 2);
    const after = sim.stats();
    assert.ok(after.goaways - before.goaways >= Math.ceil(20 / 3) - 1, `goaways ${after.goaways}`);
    assert.equal(after.goaways - before.goaways, goaways);
    // Refused streams were never recorded: every request the simulator recorded was accepted.
    assert.equal(sim.requests({ token }).length, 20);
  });

  test('streams beyond the GOAWAY last-stream-id are refused, the ones below are answered', async () => {
    const slow = await startApnsSimulator({ responseDelayMs: 20 });
    const slowKey = slow.generateKey();
    const slowJwt = await providerToken(slowKey);
    slow.goawayAfter(1);
    const session = connect(slow);
    try {
      await once(session, 'remoteSettings');
      const lastIds: number[] = [];
      session.on('goaway', (_code: number, last: number) => lastIds.push(last));
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => push(session, { jwt: slowJwt })),
      );
      const answered = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.filter(
        (r) => r.status === 'rejected' && /REFUSED_STREAM/.test(String((r.reason as Error).message)),
      ).length;
      assert.ok(lastIds.length >= 1);
      assert.equal(new Set(lastIds).size, 1, 'a repeated GOAWAY keeps its last-stream-id');
      assert.equal(answered + refused, 5);
      assert.ok(refused >= 1, 'some streams were refused');
      assert.equal(slow.received().length, answered);
      assert.ok(slow.received().every((r) => r.status === 200));
      assert.equal(slow.stats().goaways, 1);
    } finally {
      await closeSession(session);
      await slow.close();
    }
  });
});

describe('concurrency', () => {
  test('maxConcurrentStreamsSeen counts the push streams open at once on one connection', async () => {
    const slow = await startApnsSimulator({ responseDelayMs: 30, maxConcurrentStreams: 4 });
    const slowKey = slow.generateKey();
    const slowJwt = await providerToken(slowKey);
    const session = connect(slow);
    try {
      const settings = (await once(session, 'remoteSettings'))[0] as http2.Settings;
      assert.equal(settings.maxConcurrentStreams, 4);
      const results = await Promise.all(Array.from({ length: 12 }, () => push(session, { jwt: slowJwt })));
      assert.ok(results.every((r) => r.status === 200));
      assert.equal(slow.stats().maxConcurrentStreamsSeen, 4, 'the client respected the bound');
    } finally {
      await closeSession(session);
      await slow.close();
    }

    const wide = await startApnsSimulator({ responseDelayMs: 30 });
    const wideKey = wide.generateKey();
    const wideJwt = await providerToken(wideKey);
    const wideSession = connect(wide);
    try {
      await once(wideSession, 'remoteSettings');
      await Promise.all(Array.from({ length: 12 }, () => push(wideSession, { jwt: wideJwt })));
      assert.equal(wide.stats().maxConcurrentStreamsSeen, 12);
    } finally {
      await closeSession(wideSession);
      await wide.close();
    }
  });

  test('stats count connections and open connections', async () => {
    const before = sim.stats();
    const a = connect(sim);
    const b = connect(sim);
    await push(a, { jwt });
    await push(b, { jwt });
    assert.equal(sim.stats().connections, before.connections + 2);
    assert.equal(sim.stats().openConnections, before.openConnections + 2);
    const ids = new Set(sim.received().map((r) => r.connectionId));
    assert.equal(ids.size, 2);
    await closeSession(a);
    await closeSession(b);
  });
});

describe('hostile input', () => {
  test('garbage after the TLS handshake closes that connection only', async () => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: Number(new URL(sim.url).port),
      ca: sim.ca,
      ALPNProtocols: ['h2'],
    });
    await once(socket, 'secureConnect');
    socket.on('error', () => {});
    socket.resume();
    socket.write(Buffer.from('this is not an HTTP/2 connection preface at all\r\n\r\n'.repeat(10)));
    await once(socket, 'close');
    const session = connect(sim);
    assert.equal((await push(session, { jwt })).status, 200);
    await closeSession(session);
  });

  test('garbage instead of TLS, and a connection dropped mid-handshake', async () => {
    const port = Number(new URL(sim.url).port);
    const raw = net.connect(port, '127.0.0.1');
    raw.on('error', () => {});
    raw.resume();
    await once(raw, 'connect');
    raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(raw, 'close');
    const dropped = net.connect(port, '127.0.0.1');
    dropped.on('error', () => {});
    await once(dropped, 'connect');
    dropped.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    dropped.destroy();
    const session = connect(sim);
    assert.equal((await push(session, { jwt })).status, 200);
    await closeSession(session);
  });

  test('a stream reset mid-body is dropped without an answer or a record', async () => {
    const session = connect(sim);
    const token = deviceToken();
    const stream = session.request({
      ':method': 'POST',
      ':path': `/3/device/${token}`,
      authorization: `bearer ${jwt}`,
      'apns-topic': 'com.example.app',
    });
    stream.on('error', () => {});
    stream.write('{"aps":');
    await new Promise((resolve) => setImmediate(resolve));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await once(stream, 'close');
    const other = deviceToken();
    assert.equal((await push(session, { jwt, token: other })).status, 200);
    assert.deepEqual(sim.requests({ token }), []);
    assert.equal(sim.received({ token: other }).length, 1);
    await closeSession(session);
  });

  test('oversized headers are refused without harm', async () => {
    const session = connect(sim);
    const outcome = await push(session, { jwt, headers: { 'x-junk': 'j'.repeat(200_000) } }).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    assert.notEqual(outcome, 200);
    const fresh = connect(sim);
    assert.equal((await push(fresh, { jwt })).status, 200);
    await closeSession(fresh);
    session.destroy();
  });

  test('pushes over HTTP/1.1 are refused with 505 and not recorded', async () => {
    const token = deviceToken();
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(
        `${sim.url}/3/device/${token}`,
        {
          method: 'POST',
          ca: sim.ca,
          agent: false,
          headers: { authorization: `bearer ${jwt}`, 'apns-topic': 'com.example.app' },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end('{"aps":{"alert":"hi"}}');
    });
    assert.equal(status, 505);
    assert.match(JSON.parse(body).error, /HTTP\/2/);
    assert.deepEqual(sim.requests({ token }), []);
  });
});

describe('lifecycle', () => {
  test('close() ends open sessions and pending pushes and frees the port', async () => {
    const other = await startApnsSimulator({ responseDelayMs: 10_000 });
    const otherKey = other.generateKey();
    const otherJwt = await providerToken(otherKey);
    const session = connect(other);
    await once(session, 'remoteSettings');
    const pending = push(session, { jwt: otherJwt }).catch((e: Error) => e);
    // the push is in the simulator's hands (waiting out responseDelayMs) once its stream is open
    await new Promise<void>((resolve) => {
      const check = () => (other.stats().maxConcurrentStreamsSeen > 0 ? resolve() : setImmediate(check));
      check();
    });
    const port = Number(new URL(other.url).port);
    const started = performance.now();
    await other.close();
    assert.ok(performance.now() - started < 2000);
    assert.ok((await pending) instanceof Error);
    assert.equal(other.received().length, 0);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((resolve) => server.close(resolve));
  });
});
