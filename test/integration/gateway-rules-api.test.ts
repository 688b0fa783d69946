/**
 * The admin API's gateway compliance rules (docs/admin-api.md, "Gateway compliance rules") over
 * real HTTP against a real Herald, on both databases: add, list in evaluation order, get,
 * delete, the 400s an operator can cause, 404s, and the admin token on every route.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { databases } from '../../src/store/testing.ts';
import { type RunningHerald, startHerald } from '../support/herald.ts';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

interface RuleJson {
  id: string;
  action: string;
  priority: number;
  deviceId: string | null;
  deviceType: string | null;
  user: string | null;
  userAgent: string | null;
  reason: string;
  createdAt: string;
  updatedAt: string;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const code = (answer: Answer) => (answer.json.error as { code?: string } | undefined)?.code;
const message = (answer: Answer) => String((answer.json.error as { message?: string } | undefined)?.message);

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`admin API gateway rules [${database.name}]`, { skip: skip ?? false }, () => {
    let herald: RunningHerald;
    let drop: () => Promise<void> = async () => {};
    let token: string;

    const call = async (
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> | undefined = { authorization: `Bearer ${token}` },
    ): Promise<Answer> => {
      const response = await fetch(`${herald.url}/api/admin/v1${path}`, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        text,
        json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      };
    };
    const listed = async () => ((await call('GET', '/gateway/rules')).json.rules as RuleJson[]) ?? [];

    before(async () => {
      const target = await database.forServer();
      drop = target.drop;
      herald = await startHerald(target.url ? { database: target.url } : {});
      token = readFileSync(join(herald.dataDir, 'admin.token'), 'utf8').trim();
    });

    after(async () => {
      await herald?.stop();
      await drop();
    });

    test('add, list in evaluation order, get, delete', async () => {
      assert.deepEqual(await call('GET', '/gateway/rules').then((a) => [a.status, a.json]), [
        200,
        { rules: [] },
      ]);

      const stolen = await call('POST', '/gateway/rules', {
        action: 'block',
        deviceId: 'ApplF17XQ0AAAAA',
        reason: 'reported stolen (ticket 4711)',
      });
      assert.equal(stolen.status, 201, stolen.text);
      const rule = stolen.json as unknown as RuleJson;
      assert.match(rule.id, /^rule_[A-Za-z0-9_-]{22}$/);
      assert.match(rule.createdAt, ISO);
      assert.deepEqual(rule, {
        id: rule.id,
        action: 'block',
        priority: 10,
        deviceId: 'ApplF17XQ0AAAAA',
        deviceType: null,
        user: null,
        userAgent: null,
        reason: 'reported stolen (ticket 4711)',
        createdAt: rule.createdAt,
        updatedAt: rule.createdAt,
      });

      const cfo = await call('POST', '/gateway/rules', {
        action: 'allow',
        priority: 5,
        user: 'CFO@Contoso.Example',
        userAgent: '^Outlook-iOS/',
        deviceType: null,
        reason: 'the CFO keeps Outlook',
      });
      assert.equal(cfo.status, 201, cfo.text);
      assert.equal(cfo.json.user, 'cfo@contoso.example', 'users are stored lower-cased');
      assert.equal(cfo.json.priority, 5);
      const windows = await call('POST', '/gateway/rules', {
        action: 'block',
        deviceType: 'WindowsMail',
        reason: 'unmanaged',
      });
      assert.equal(windows.json.priority, 20, 'the default priority comes after the highest');

      const rules = await listed();
      assert.deepEqual(
        rules.map((r) => r.id),
        [cfo.json.id, rule.id, windows.json.id],
      );
      // What the API answers is what the gateway reads from the store.
      assert.deepEqual(
        (await herald.service.store.gatewayRules.list()).map((r) => r.id),
        rules.map((r) => r.id),
      );

      const got = await call('GET', `/gateway/rules/${rule.id}`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.json, rule);

      const removed = await call('DELETE', `/gateway/rules/${rule.id}`);
      assert.equal(removed.status, 204);
      assert.equal(removed.text, '');
      assert.deepEqual(
        (await listed()).map((r) => r.id),
        [cfo.json.id, windows.json.id],
      );
      assert.equal(await herald.service.store.gatewayRules.get(rule.id), undefined);

      for (const method of ['GET', 'DELETE']) {
        const gone = await call(method, `/gateway/rules/${rule.id}`);
        assert.equal(gone.status, 404, method);
        assert.equal(code(gone), 'gateway_rule_not_found', method);
      }
    });

    test('error/400 invalid_request with a clear message; nothing is stored', async () => {
      const before = (await listed()).length;
      const cases: Array<[string, unknown, RegExp]> = [
        [
          'no matcher',
          { action: 'block', reason: 'all' },
          /at least one of deviceId, deviceType, user or userAgent/,
        ],
        ['only null matchers', { action: 'block', user: null, reason: 'all' }, /at least one of/],
        [
          'a user agent that is not a regular expression',
          { action: 'block', userAgent: 'Outlook(', reason: 'r' },
          /userAgent is not a valid regular expression: .*Unterminated group/,
        ],
        ['a blank matcher', { action: 'block', deviceId: '   ', reason: 'r' }, /deviceId is empty/],
        [
          'an unknown field',
          { action: 'block', deviceType: 'iPhone', reason: 'r', deviceModel: 'X' },
          /deviceModel/,
        ],
        ['an unknown action', { action: 'deny', deviceType: 'iPhone', reason: 'r' }, /action/],
        ['no reason', { action: 'block', deviceType: 'iPhone' }, /reason/],
        ['a blank reason', { action: 'block', deviceType: 'iPhone', reason: '  ' }, /needs a reason/],
        ['no action', { deviceType: 'iPhone', reason: 'r' }, /action/],
        [
          'a 501-character user agent',
          { action: 'block', userAgent: 'a'.repeat(501), reason: 'r' },
          /userAgent/,
        ],
        [
          'a fractional priority',
          { action: 'block', deviceType: 'iPhone', priority: 1.5, reason: 'r' },
          /priority/,
        ],
        [
          'a priority as text',
          { action: 'block', deviceType: 'iPhone', priority: '3', reason: 'r' },
          /priority/,
        ],
        [
          'a priority beyond int4',
          { action: 'block', deviceType: 'iPhone', priority: 2 ** 31, reason: 'r' },
          /priority/,
        ],
        ['a number as device id', { action: 'block', deviceId: 42, reason: 'r' }, /deviceId/],
        ['an array body', [{ action: 'block', deviceType: 'iPhone', reason: 'r' }], /body/i],
        ['not JSON', '{"action": "block",', /not valid JSON/],
      ];
      for (const [name, body, pattern] of cases) {
        const answer = await call('POST', '/gateway/rules', body);
        assert.equal(answer.status, 400, `${name}: ${answer.text}`);
        assert.equal(code(answer), 'invalid_request', name);
        assert.match(message(answer), pattern, name);
      }
      assert.equal((await listed()).length, before);
    });

    test('error/ids: malformed is 400, unknown is 404 gateway_rule_not_found', async () => {
      for (const method of ['GET', 'DELETE']) {
        const unknown = await call(method, '/gateway/rules/rule_doesNotExist0000000000');
        assert.equal(unknown.status, 404, method);
        assert.equal(code(unknown), 'gateway_rule_not_found');
        assert.match(message(unknown), /No gateway rule with id rule_doesNotExist/);
        const malformed = await call(method, `/gateway/rules/${encodeURIComponent('rule x;drop')}`);
        assert.equal(malformed.status, 400, method);
        assert.equal(code(malformed), 'invalid_request');
      }
    });

    test('error/every route needs the admin token: 401 admin_unauthorized', async () => {
      const [existing] = await listed();
      assert.ok(existing);
      const requests: Array<[string, string, unknown]> = [
        ['GET', '/gateway/rules', undefined],
        ['POST', '/gateway/rules', { action: 'block', deviceType: 'Sneaky', reason: 'r' }],
        ['GET', `/gateway/rules/${existing.id}`, undefined],
        ['DELETE', `/gateway/rules/${existing.id}`, undefined],
      ];
      for (const [method, path, body] of requests) {
        for (const headers of [{}, { authorization: `Bearer ${token}x` }] as Array<Record<string, string>>) {
          const answer = await call(method, path, body, headers);
          assert.equal(answer.status, 401, `${method} ${path}`);
          assert.equal(code(answer), 'admin_unauthorized');
          assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer/);
        }
      }
      // Nothing changed without the token.
      assert.equal(await herald.service.store.gatewayRules.get(existing.id).then((r) => r?.id), existing.id);
      assert.equal(
        (await listed()).some((r) => r.deviceType === 'Sneaky'),
        false,
      );
    });

    test('the user identities in rules do not reach the logs', () => {
      const logs = herald.logs.text().toLowerCase();
      assert.ok(logs.includes('/api/admin/v1/gateway/rules'), 'requests were logged');
      assert.equal(logs.includes('cfo@contoso.example'), false);
      assert.equal(logs.includes('applf17xq0aaaaa'), false);
    });
  });
}
