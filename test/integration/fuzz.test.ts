/**
 * Fuzzing a real Herald over real HTTP (issue 4, part 6): at least 10,000 bodies from a seeded
 * PRNG (random bytes, random JSON, random XML-ish text, and mutations of valid bodies) thrown at
 * the callback URL of a real registration (SendNotification) and at the device API with a valid
 * token (create, check-in, delete). Asserted: no 5xx (a 502/503 with a documented `exchange_*`
 * code is Exchange refusing, the contract's answer, and is counted apart); every 4xx carries the
 * body format of its route (JSON error with a catalogued code on the device API, a soap:Client
 * fault on the callback); the server still answers `alive` and real notifications afterwards;
 * the heap, measured after forced GC, grows by less than 64 MB.
 *
 * The seed is printed; `HERALD_TEST_FUZZ_SEED=<seed>` replays a run, `HERALD_TEST_FUZZ_COUNT`
 * changes the number of bodies (default 10,000), `HERALD_TEST_FUZZ_DATABASE=postgres` runs it on
 * PostgreSQL, `HERALD_TEST_FUZZ_DEBUG=1` prints every error-level log line. A failure names the
 * case number and the mutations that made it.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
import type { RunningHerald } from '../support/herald.ts';
import { type PushPeers, startHeraldWithPush } from '../support/push.ts';

const SEED = process.env.HERALD_TEST_FUZZ_SEED
  ? Number(process.env.HERALD_TEST_FUZZ_SEED)
  : randomInt(2 ** 31);
const COUNT = Number(process.env.HERALD_TEST_FUZZ_COUNT ?? 10_000);
/** SQLite by default (the run is timed); `HERALD_TEST_FUZZ_DATABASE=postgres` for PostgreSQL. */
const DATABASE = databases().find((d) => d.name === (process.env.HERALD_TEST_FUZZ_DATABASE ?? 'sqlite'));
if (!DATABASE) throw new Error(`HERALD_TEST_FUZZ_DATABASE must be sqlite or postgres`);
const SKIP = await DATABASE.unavailable();
const CONCURRENCY = 16;
const HEAP_GROWTH_LIMIT = 64 * 1024 * 1024;
/** Bodies are capped a little above the 1 MB limits, so some 413s are exercised but not more. */
const MAX_BODY = 1_200_000;
const APP = 'com.example.mail';
const MAILBOX = { email: 'fuzz@contoso.example', password: 'fuzz-secret-password' };
const TOKEN = 'contoso-fuzz-token-0123456789abcdef';

console.log(
  `fuzz seed ${SEED} (replay with HERALD_TEST_FUZZ_SEED=${SEED}), ${COUNT} bodies, ${DATABASE.name}`,
);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// ------------------------------------------------------------------------------- PRNG

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** Mostly small, sometimes huge: log-uniform in [0, max]. */
  size(max: number): number {
    return Math.min(max, Math.floor((max + 1) ** this.next()) - 1);
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 1) out[i] = this.int(256);
    return out;
  }
}

// ------------------------------------------------------------------------------- generators

const SPECIAL_CHARS = [
  '\u0000',
  '\u0001',
  '\u0008',
  '\u000b',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u00ff',
  '\u2028',
  '\u2029',
  '\u202e',
  '\ufeff',
  '\ufffe',
  '\uffff',
  '\ud800',
  '\udfff',
  '\ud83d',
  '😀',
  '𝔘',
  '名',
  'ß',
  'İ',
  'ﬁ',
  '\u0301',
  '<',
  '>',
  '&',
  '"',
  "'",
  '\\',
  '/',
  '%',
  ']]>',
];

function randomString(rng: Rng, max = 64): string {
  const length = rng.size(max);
  let out = '';
  for (let i = 0; i < length; i += 1) {
    const kind = rng.int(5);
    if (kind === 0) out += rng.pick(SPECIAL_CHARS);
    else if (kind === 1) out += String.fromCharCode(rng.int(0x10000));
    else if (kind === 2) out += String.fromCodePoint(0x10000 + rng.int(0xfffff));
    else out += String.fromCharCode(0x20 + rng.int(0x5f));
  }
  return out;
}

const NUMBERS = [0, -1, 1, 1.5, -0.000001, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.MAX_VALUE];
const KEYS = [
  'device',
  'account',
  'notification',
  'platform',
  'pushToken',
  'appId',
  'environment',
  'email',
  'provider',
  'ewsUrl',
  'credentials',
  'content',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '',
  'error',
  'type',
];

function randomJson(rng: Rng, depth = 0): unknown {
  const kind = rng.int(depth > 6 ? 5 : 8);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(NUMBERS) : (rng.next() - 0.5) * 10 ** rng.int(20);
    case 3:
    case 4:
      return randomString(rng, rng.chance(0.05) ? 100_000 : 40);
    case 5:
      return Array.from({ length: rng.size(8) }, () => randomJson(rng, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = rng.size(8); i > 0; i -= 1) {
        const key = rng.chance(0.6) ? rng.pick(KEYS) : randomString(rng, 12);
        // defineProperty: a literal "__proto__" key, as JSON.parse would make it.
        Object.defineProperty(object, key, {
          value: randomJson(rng, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
  }
}

/** JSON text JSON.stringify never writes: duplicate keys, 1e999, deep nesting, raw garbage. */
function oddJsonText(rng: Rng): string {
  const n = rng.size(200_000);
  switch (rng.int(8)) {
    case 0:
      return `${'['.repeat(n)}${']'.repeat(n)}`;
    case 1:
      return `${'{"a":'.repeat(Math.min(n, 100_000))}1${'}'.repeat(Math.min(n, 100_000))}`;
    case 2:
      return '{"device": 1, "device": {"platform": "ios"}, "device": 1e999}';
    case 3:
      return `{"account": {"email": "a@b.c", "credentials": ${'-0'.padEnd(rng.size(400), '0')}}}`;
    case 4:
      return `"${'\\u'.repeat(rng.size(50))}${'\\ud800'.repeat(rng.size(50))}"`;
    case 5:
      return `{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}`;
    case 6:
      return `[${'1e999,'.repeat(rng.size(1000))}1]`;
    default:
      return `${'\ufeff'}{"device": {"platform": "ios"}} trailing`;
  }
}

/** Paths to every leaf of a JSON value. */
function leafPaths(value: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  if (value !== null && typeof value === 'object') {
    // Not value.map: a mutation may have set an array's own `constructor` key, which map() consults.
    const entries: Array<readonly [string | number, unknown]> = Array.isArray(value)
      ? Array.from({ length: value.length }, (_, i) => [i, value[i]] as const)
      : Object.entries(value);
    const paths = entries.flatMap(([k, v]) => leafPaths(v, [...path, k]));
    return paths.length > 0 ? paths : [path];
  }
  return [path];
}

function containerAt(
  root: unknown,
  path: Array<string | number>,
): Record<string | number, unknown> | undefined {
  let node = root;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>) : undefined;
}

/** Structural mutations of a valid JSON body; `log` records what was done. */
function mutateJson(rng: Rng, valid: unknown, log: string[]): unknown {
  const body = structuredClone(valid);
  for (let round = 1 + rng.int(3); round > 0; round -= 1) {
    const path = rng.pick(leafPaths(body));
    const parent = containerAt(body, path);
    const key = path.at(-1);
    if (!parent || key === undefined) continue;
    switch (rng.int(8)) {
      case 0:
        log.push(`json:set ${path.join('.')} to random JSON`);
        parent[key] = randomJson(rng);
        break;
      case 1:
        log.push(`json:delete ${path.join('.')}`);
        delete parent[key];
        break;
      case 2:
        log.push(`json:number at ${path.join('.')}`);
        parent[key] = rng.pick(NUMBERS);
        break;
      case 3: {
        const size = rng.size(900_000);
        log.push(`json:huge string (${size}) at ${path.join('.')}`);
        parent[key] = 'A'.repeat(size);
        break;
      }
      case 4:
        log.push(`json:unicode at ${path.join('.')}`);
        parent[key] = randomString(rng, 300);
        break;
      case 5: {
        const extra = rng.pick(KEYS);
        log.push(`json:add key ${JSON.stringify(extra)} next to ${path.join('.')}`);
        Object.defineProperty(parent, extra, {
          value: randomJson(rng),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        break;
      }
      case 6:
        log.push(`json:wrap ${path.join('.')} in an array`);
        parent[key] = [parent[key]];
        break;
      default:
        log.push(`json:tweak string at ${path.join('.')}`);
        if (typeof parent[key] === 'string') {
          const s = parent[key] as string;
          const at = rng.int(s.length + 1);
          parent[key] = s.slice(0, at) + randomString(rng, 4) + s.slice(at + rng.int(3));
        }
    }
  }
  return body;
}

/** Byte-level mutations: flips, truncation, duplication, insertion of random bytes or unicode. */
function mutateBytes(rng: Rng, input: Buffer, log: string[]): Buffer {
  let buf = Buffer.from(input);
  for (let round = 1 + rng.int(4); round > 0; round -= 1) {
    const at = rng.int(buf.length + 1);
    switch (rng.int(7)) {
      case 0:
        if (buf.length > 0) {
          const i = Math.min(at, buf.length - 1);
          log.push(`bytes:flip bit at ${i}`);
          buf[i] = buf[i]! ^ (1 << rng.int(8));
        }
        break;
      case 1:
        if (buf.length > 0) {
          const i = Math.min(at, buf.length - 1);
          log.push(`bytes:set ${i}`);
          buf[i] = rng.int(256);
        }
        break;
      case 2:
        log.push(`bytes:truncate at ${at}`);
        buf = buf.subarray(0, at);
        break;
      case 3: {
        const length = rng.size(Math.max(0, buf.length - at));
        const times = 1 + rng.size(200);
        log.push(`bytes:duplicate ${length} bytes at ${at} x${times}`);
        const slice = buf.subarray(at, at + length);
        buf = Buffer.concat([buf.subarray(0, at), ...Array<Buffer>(times).fill(slice), buf.subarray(at)]);
        break;
      }
      case 4: {
        const length = rng.size(64);
        log.push(`bytes:delete ${length} at ${at}`);
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + length)]);
        break;
      }
      case 5:
        log.push(`bytes:insert random bytes at ${at}`);
        buf = Buffer.concat([buf.subarray(0, at), rng.bytes(rng.size(64)), buf.subarray(at)]);
        break;
      default:
        log.push(`bytes:insert unicode at ${at}`);
        buf = Buffer.concat([buf.subarray(0, at), Buffer.from(randomString(rng, 16)), buf.subarray(at)]);
    }
    if (buf.length > MAX_BODY) buf = buf.subarray(0, MAX_BODY);
  }
  return buf;
}

/** Re-encodings: UTF-16 with and without BOM, Latin-1, a UTF-8 BOM, an encoding declaration. */
function reencode(rng: Rng, text: string, log: string[]): Buffer {
  switch (rng.int(5)) {
    case 0:
      log.push('encoding:utf16le with BOM');
      return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    case 1:
      log.push('encoding:utf16le without BOM');
      return Buffer.from(text, 'utf16le');
    case 2:
      log.push('encoding:latin1');
      return Buffer.from(text, 'latin1');
    case 3:
      log.push('encoding:utf8 BOM');
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    default: {
      const encoding = rng.pick(['utf-16', 'ISO-8859-1', 'EBCDIC-US', 'x-unknown', 'UTF-32', '']);
      log.push(`encoding:declared ${encoding}`);
      return Buffer.from(text.replace(/encoding="[^"]*"/, `encoding="${encoding}"`));
    }
  }
}

const ELEMENT = /<((?:\w+:)?\w+)\b[^>]*?(?:\/>|>[\s\S]*?<\/\1>)/g;

function matches(text: string, pattern: RegExp): RegExpExecArray[] {
  return [
    ...text.matchAll(
      new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`),
    ),
  ];
}

/** XML-aware mutations of a valid SendNotification. */
function mutateXml(rng: Rng, valid: string, log: string[]): string {
  let xml = valid;
  for (let round = 1 + rng.int(3); round > 0; round -= 1) {
    switch (rng.int(11)) {
      case 0: {
        // (Only on documents of template size: the element pattern is quadratic on broken input.)
        const elements = xml.length < 20_000 ? matches(xml, ELEMENT) : [];
        if (elements.length === 0) break;
        const element = rng.pick(elements);
        const times = 1 + rng.size(3000);
        log.push(`xml:duplicate <${element[1]}> x${times}`);
        const at = element.index + element[0].length;
        xml = xml.slice(0, at) + element[0].repeat(times).slice(0, MAX_BODY) + xml.slice(at);
        break;
      }
      case 1: {
        const closing = matches(xml, /<\/[^>]+>/g);
        if (closing.length === 0) break;
        const tag = rng.pick(closing);
        log.push(`xml:delete closing ${tag[0]}`);
        xml = xml.slice(0, tag.index) + xml.slice(tag.index + tag[0].length);
        break;
      }
      case 2: {
        const opening = matches(xml, /<[A-Za-z][^>]*>/g);
        if (opening.length === 0) break;
        const tag = rng.pick(opening);
        log.push(`xml:delete opening ${tag[0].slice(0, 40)}`);
        xml = xml.slice(0, tag.index) + xml.slice(tag.index + tag[0].length);
        break;
      }
      case 3: {
        const opening = matches(xml, /<[A-Za-z][\w:]*/g);
        if (opening.length === 0) break;
        const tag = rng.pick(opening);
        const size = rng.size(600_000);
        log.push(`xml:huge attribute (${size}) on ${tag[0]}`);
        const at = tag.index + tag[0].length;
        xml = `${xml.slice(0, at)} x${rng.int(9)}="${'A'.repeat(size)}"${xml.slice(at)}`;
        break;
      }
      case 4: {
        const values = matches(xml, /(Id=")([^"]*)"/g);
        if (values.length === 0) break;
        const value = rng.pick(values);
        const replacement = rng.chance(0.5) ? 'I'.repeat(rng.size(5000)) : escapeAttr(randomString(rng, 100));
        log.push(`xml:Id value of ${replacement.length} chars`);
        const at = value.index + value[1]!.length;
        xml = xml.slice(0, at) + replacement + xml.slice(at + value[2]!.length);
        break;
      }
      case 5: {
        const texts = matches(xml, />([^<]+)</g);
        if (texts.length === 0) break;
        const text = rng.pick(texts);
        const replacement = rng.pick([
          () => String(rng.pick(NUMBERS)),
          () => rng.pick(['-1', '1e999', 'NaN', '99999999999999999999', '+7', '0x10', '  7  ', '']),
          () => escapeText(randomString(rng, 200)),
          () => rng.pick(['&amp;', '&lt;', '&#0;', '&#xD800;', '&#1114112;', '&undefined;', '&#x41;', '&']),
          () => `<![CDATA[${randomString(rng, 50).replaceAll(']]>', '')}]]>`,
        ])();
        log.push(
          `xml:text ${JSON.stringify(text[1]!.slice(0, 20))} -> ${JSON.stringify(replacement.slice(0, 40))}`,
        );
        const at = text.index + 1;
        xml = xml.slice(0, at) + replacement + xml.slice(at + text[1]!.length);
        break;
      }
      case 6: {
        const markup = rng.pick([
          '<!DOCTYPE x [<!ENTITY e "e">]>',
          '<!-- comment -->',
          '<?pi data?>',
          '<![CDATA[x]]>',
          '&e;',
          '<x:y xmlns:x=""/>',
          '<undeclared:x/>',
          '</unexpected>',
          '<t:NewMailEvent/>',
          '<t:ModifiedEvent><t:FolderId Id="f"/><t:UnreadCount>2147483648</t:UnreadCount></t:ModifiedEvent>',
        ]);
        const at = rng.int(xml.length + 1);
        log.push(`xml:insert ${markup.slice(0, 30)} at ${at}`);
        xml = xml.slice(0, at) + markup + xml.slice(at);
        break;
      }
      case 7: {
        const namespaces = matches(xml, /xmlns(?::\w+)?="([^"]*)"/g);
        if (namespaces.length === 0) break;
        const ns = rng.pick(namespaces);
        const uri = rng.pick([
          '',
          'urn:x',
          'http://schemas.microsoft.com/exchange/services/2006/types',
          randomString(rng, 10),
        ]);
        log.push(`xml:namespace ${ns[0].slice(0, 20)} -> ${JSON.stringify(uri)}`);
        xml =
          xml.slice(0, ns.index) +
          ns[0].replace(ns[1]!, escapeAttr(uri)) +
          xml.slice(ns.index + ns[0].length);
        break;
      }
      case 8: {
        const depth = rng.size(5000);
        const at = rng.int(xml.length + 1);
        log.push(`xml:nest ${depth} deep at ${at}`);
        xml = xml.slice(0, at) + '<d>'.repeat(depth) + '</d>'.repeat(depth) + xml.slice(at);
        break;
      }
      case 9: {
        const at = rng.int(xml.length + 1);
        log.push(`xml:unicode at ${at}`);
        xml = xml.slice(0, at) + randomString(rng, 20) + xml.slice(at);
        break;
      }
      default: {
        const prefixes = matches(xml, /<(\/?)(\w+):/g);
        if (prefixes.length === 0) break;
        const prefix = rng.pick(prefixes);
        log.push(`xml:rename prefix ${prefix[2]}`);
        xml = `${xml.slice(0, prefix.index)}<${prefix[1]}zz:${xml.slice(prefix.index + prefix[0].length)}`;
      }
    }
    if (xml.length > MAX_BODY) xml = xml.slice(0, MAX_BODY);
  }
  return xml;
}

function escapeAttr(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('"', '&quot;');
}
function escapeText(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;');
}

// ------------------------------------------------------------------------------- cases

type Route = 'callback' | 'create' | 'checkin' | 'delete';

interface FuzzCase {
  index: number;
  route: Route;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  log: string[];
}

interface Templates {
  base: string;
  callbackUrl: string;
  /** Real SendNotification bodies for the callback registration. */
  notifications: string[];
  createBody: unknown;
  checkinBody: unknown;
  checkinId: string;
  /** Registrations made for the fuzz to delete (never the callback or check-in one). */
  deletable: string[];
}

const XML_TYPES = ['text/xml; charset=utf-8', 'text/xml', 'application/soap+xml', 'application/xml'];
const ODD_TYPES = [
  'text/xml; charset=utf-16',
  'TEXT/XML',
  'text/xml;;;charset',
  'text/plain',
  'application/json',
  'application/json; charset=utf-16',
  'Application/JSON',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '*/*',
  '',
];

function deviceBody(rng: Rng, valid: unknown, log: string[]): Buffer | undefined {
  const kind = rng.int(10);
  if (kind === 0) {
    log.push('random bytes');
    return rng.bytes(rng.size(4096));
  }
  if (kind === 1) {
    log.push('random JSON');
    return Buffer.from(JSON.stringify(randomJson(rng)) ?? 'null');
  }
  if (kind === 2) {
    log.push('odd JSON text');
    return Buffer.from(oddJsonText(rng));
  }
  if (kind === 3) {
    log.push('valid body');
    return Buffer.from(JSON.stringify(valid));
  }
  const mutated = rng.chance(0.7) ? mutateJson(rng, valid, log) : valid;
  let text = JSON.stringify(mutated) ?? 'null';
  if (text.length > MAX_BODY) text = text.slice(0, MAX_BODY);
  if (rng.chance(0.1)) return reencode(rng, text, log);
  return rng.chance(0.4) ? mutateBytes(rng, Buffer.from(text), log) : Buffer.from(text);
}

function oddSegment(rng: Rng, log: string[]): string {
  const segment = rng.pick([
    () => randomString(rng, 30),
    () => 'x'.repeat(rng.size(300)),
    () => '%E0%A4%A',
    () => '%00',
    () => '..%2F..%2Falive',
    () => '%F0%9F%98%80',
    () => `${'a'.repeat(22)}.${'B'.repeat(43)}`,
    () => '',
    () => '%',
    () => '?x=1',
  ])();
  log.push(`path segment ${JSON.stringify(segment.slice(0, 40))}`);
  return /^[\x21-\x7e]*$/.test(segment) ? segment : encodeURIComponent(segment.toWellFormed());
}

function makeCase(rng: Rng, index: number, t: Templates): FuzzCase {
  const log: string[] = [];
  const auth = { authorization: `Bearer ${TOKEN}` };
  const roll = rng.next();
  if (roll < 0.55) {
    // The Exchange callback.
    let url = t.callbackUrl;
    if (rng.chance(0.04)) url = `${t.base}/api/ens/v1/ews/notify/${oddSegment(rng, log)}`;
    else if (rng.chance(0.03)) {
      log.push('wrong key');
      url = t.callbackUrl.replace(/\.[^.]+$/, `.${'A'.repeat(43)}`);
    }
    let body: Buffer;
    const kind = rng.int(10);
    if (kind === 0) {
      log.push('random bytes');
      body = rng.bytes(rng.size(4096));
    } else if (kind === 1) {
      log.push('random XML-ish text');
      body = Buffer.from(
        Array.from({ length: rng.size(400) }, () =>
          rng.pick([
            '<',
            '>',
            '</',
            '/>',
            '="',
            '"',
            'a',
            'soap:',
            'xmlns',
            '&',
            ';',
            '?',
            '!',
            ' ',
            randomString(rng, 4),
          ]),
        ).join(''),
      );
    } else {
      const template = rng.pick(t.notifications);
      const xml = rng.chance(0.85) ? mutateXml(rng, template, log) : template;
      if (rng.chance(0.08)) body = reencode(rng, xml, log);
      else body = rng.chance(0.35) ? mutateBytes(rng, Buffer.from(xml), log) : Buffer.from(xml);
    }
    const type = rng.chance(0.9) ? rng.pick(XML_TYPES) : rng.pick(ODD_TYPES);
    log.push(`content-type ${JSON.stringify(type)}`);
    return {
      index,
      route: 'callback',
      method: 'POST',
      url,
      headers: type ? { 'content-type': type } : {},
      body,
      log,
    };
  }
  const type = rng.chance(0.93) ? 'application/json' : rng.pick(ODD_TYPES);
  const headers: Record<string, string> = { ...auth, ...(type ? { 'content-type': type } : {}) };
  if (roll < 0.8) {
    // A push token of its own per case: concurrent creates of one identity race in
    // src/notify/registrations.ts (a 500, reported; hostile-input.test.ts has it as a todo).
    const valid = structuredClone(t.createBody) as { device: { pushToken: string } };
    valid.device.pushToken = apnsToken(1000 + index);
    const body = deviceBody(rng, valid, log);
    log.push(`content-type ${JSON.stringify(type)}`);
    return {
      index,
      route: 'create',
      method: 'POST',
      url: `${t.base}/api/ens/v1/registrations`,
      headers,
      body,
      log,
    };
  }
  if (roll < 0.92) {
    const id = rng.chance(0.9) ? t.checkinId : oddSegment(rng, log);
    const body = rng.chance(0.1) ? undefined : deviceBody(rng, t.checkinBody, log);
    if (body === undefined) delete headers['content-type'];
    log.push(`content-type ${JSON.stringify(headers['content-type'])}`);
    return {
      index,
      route: 'checkin',
      method: 'POST',
      url: `${t.base}/api/ens/v1/registrations/${id}/checkin`,
      headers,
      body,
      log,
    };
  }
  const id = rng.chance(0.3) ? rng.pick(t.deletable) : oddSegment(rng, log);
  const body = rng.chance(0.6) ? undefined : deviceBody(rng, {}, log);
  if (body === undefined) delete headers['content-type'];
  return {
    index,
    route: 'delete',
    method: 'DELETE',
    url: `${t.base}/api/ens/v1/registrations/${id}`,
    headers,
    body,
    log,
  };
}

// ------------------------------------------------------------------------------- the oracle

const UPSTREAM = new Set(['exchange_auth_failed', 'exchange_unreachable', 'exchange_error', 'exchange_busy']);

interface Verdict {
  ok: boolean;
  why?: string;
  upstream?: boolean;
}

function judge(c: FuzzCase, status: number, contentType: string, text: string): Verdict {
  const soapFault =
    /<soap:Fault><faultcode>soap:Client<\/faultcode><faultstring>[^<]*<\/faultstring><\/soap:Fault>/;
  const jsonError = (): { code?: string; message?: string } | undefined => {
    if (!contentType.startsWith('application/json')) return undefined;
    try {
      return (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    } catch {
      return undefined;
    }
  };
  const catalogued = (error: { code?: string; message?: string } | undefined) =>
    error !== undefined &&
    typeof error.message === 'string' &&
    errorCatalogue[error.code as keyof typeof errorCatalogue]?.status === status;

  if (c.route === 'callback') {
    // A URL the router cannot read or match (odd segments) gets the JSON error of any route.
    if (status === 404 || (status === 400 && contentType.startsWith('application/json'))) {
      return catalogued(jsonError()) ? { ok: true } : { ok: false, why: `${status} without a JSON error` };
    }
    if (status >= 500) return { ok: false, why: `callback answered ${status}` };
    if (status === 200) {
      return /<m:SubscriptionStatus>(OK|Unsubscribe)<\/m:SubscriptionStatus>/.test(text) &&
        contentType.startsWith('text/xml')
        ? { ok: true }
        : { ok: false, why: '200 without a SendNotificationResult' };
    }
    if (status >= 400) {
      return contentType.startsWith('text/xml') && soapFault.test(text)
        ? { ok: true }
        : { ok: false, why: `${status} without a soap:Client fault` };
    }
    return { ok: false, why: `unexpected status ${status}` };
  }
  if (status >= 500) {
    const error = jsonError();
    if ((status === 502 || status === 503) && catalogued(error) && UPSTREAM.has(error!.code!)) {
      return { ok: true, upstream: true };
    }
    return { ok: false, why: `device API answered ${status}` };
  }
  if (status >= 400)
    return catalogued(jsonError())
      ? { ok: true }
      : { ok: false, why: `${status} without a catalogued JSON error` };
  const expected = { create: [201], checkin: [200], delete: [204] }[c.route];
  return expected.includes(status) ? { ok: true } : { ok: false, why: `unexpected status ${status}` };
}

// ------------------------------------------------------------------------------- the run

describe(`fuzz: random and mutated bodies against a real Herald [${DATABASE.name}]`, {
  skip: SKIP ?? false,
}, () => {
  let sim: ExchangeSimulator;
  let herald: RunningHerald;
  let peers: PushPeers;
  let templates: Templates;
  let drop: () => Promise<void> = async () => {};
  const agent = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 30_000 });

  before(async () => {
    sim = await startExchangeSimulator({ clock: { mode: 'manual' }, mailboxes: [MAILBOX] });
    const target = await DATABASE.forServer();
    drop = target.drop;
    ({ herald, peers } = await startHeraldWithPush({
      ...(target.url ? { database: target.url } : {}),
      tenantId: 'contoso',
      apiToken: TOKEN,
      appId: APP,
      config: {
        limits: { ipRequestsPerMinute: 0, tenantRequestsPerMinute: 0 },
        // Give up a push quickly: most fuzzed notifications name items that do not exist.
        push: { maxAttempts: 1, retryBaseSeconds: 0, pollMilliseconds: 50 },
      },
    }));
    const base = herald.url;
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const key = (await (
      await fetch(`${base}/api/ens/v1/publickey`, { headers: auth })
    ).json()) as PublicKeyAnswer;
    const credentials = await encryptCredentials(key, {
      type: 'basic',
      username: MAILBOX.email,
      password: MAILBOX.password,
    });
    const createBody = (n: number) => ({
      device: { platform: 'ios', pushToken: apnsToken(n), appId: APP },
      account: { email: MAILBOX.email, ewsUrl: sim.ewsUrl, credentials },
    });
    const register = async (n: number): Promise<string> => {
      const response = await fetch(`${base}/api/ens/v1/registrations`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify(createBody(n)),
      });
      const json = (await response.json()) as { registrationId: string };
      assert.equal(response.status, 201, JSON.stringify(json));
      return json.registrationId;
    };
    const callbackId = await register(1);
    const checkinId = await register(2);
    const deletable = await Promise.all([3, 4, 5, 6, 7].map(register));
    const subscription = sim.subscriptions(MAILBOX.email).find((s) => s.callbackUrl.includes(callbackId))!;
    await sim.deliver(
      MAILBOX.email,
      { subject: 'template', from: { address: 'x@contoso.example' } },
      { wait: true },
    );
    const real = sim
      .log({ kind: 'callback' })
      .filter((e) => e.url.includes(callbackId))
      .at(-1)!.requestBody!;
    templates = {
      base,
      callbackUrl: subscription.callbackUrl,
      notifications: [
        real,
        sendNotificationAllEvents.replace(ids.subscription, subscription.id),
        sendNotificationStatusOtherPrefixes.replace(ids.subscription, subscription.id),
      ],
      createBody: createBody(100),
      checkinBody: { account: { credentials } },
      checkinId,
      deletable,
    };
  });

  after(async () => {
    await agent.close();
    await herald?.stop();
    await peers?.close();
    await sim?.close();
    await drop();
  });

  test(`${COUNT} bodies: no 5xx, every 4xx in its route's format, bounded memory`, async (t) => {
    t.diagnostic(`seed ${SEED} (replay with HERALD_TEST_FUZZ_SEED=${SEED})`);
    const rng = new Rng(SEED);
    const failures: string[] = [];
    const statuses = new Map<string, number>();
    const perRoute = new Map<Route, number>();
    let upstream = 0;
    const upstreamSamples: string[] = [];
    let transportErrors = 0;
    let errorLogLines = 0;
    const errorLogMessages = new Set<string>();

    const scanLogs = () => {
      for (const line of herald.logs.lines) {
        if (/"level":(50|60)/.test(line)) {
          errorLogLines += 1;
          const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
          errorLogMessages.add(`${entry.msg}: ${entry.err?.message?.slice(0, 200) ?? ''}`);
          if (process.env.HERALD_TEST_FUZZ_DEBUG) console.log(line);
        }
      }
      herald.logs.lines.length = 0;
    };

    const run = async (from: number, to: number) => {
      let next = from;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < to) {
            // Cases are made in index order whatever the timing: the seed alone decides them.
            const c = makeCase(rng, next, templates);
            next += 1;
            perRoute.set(c.route, (perRoute.get(c.route) ?? 0) + 1);
            try {
              const response = await request(c.url, {
                method: c.method as 'POST',
                headers: c.headers,
                ...(c.body === undefined ? {} : { body: c.body }),
                dispatcher: agent,
              });
              const text = await response.body.text();
              const contentType = String(response.headers['content-type'] ?? '');
              const verdict = judge(c, response.statusCode, contentType, text);
              const key = `${c.route} ${response.statusCode}`;
              statuses.set(key, (statuses.get(key) ?? 0) + 1);
              if (verdict.upstream) {
                upstream += 1;
                if (upstreamSamples.length < 5)
                  upstreamSamples.push(`#${c.index} ${text} (${c.log.join('; ')})`);
              }
              if (!verdict.ok) {
                failures.push(
                  `#${c.index} ${c.method} ${c.url.replace(templates.base, '')} → ${response.statusCode}: ${verdict.why}\n` +
                    `  mutations: ${c.log.join('; ')}\n` +
                    `  body (${c.body?.length ?? 0} bytes): ${JSON.stringify(c.body?.subarray(0, 200).toString('latin1'))}\n` +
                    `  answer: ${text.slice(0, 300)}`,
                );
              }
            } catch (error) {
              // The server may close a connection on a body it refuses; that is not a crash.
              transportErrors += 1;
              if (transportErrors > COUNT / 100) {
                failures.push(`#${c.index}: too many transport errors, last: ${(error as Error).message}`);
              }
            }
          }
        }),
      );
      scanLogs();
    };

    const heapAfterGc = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };

    const started = performance.now();
    // Warm-up (JIT, caches, connection pool), then the baseline.
    const WARMUP = Math.min(500, Math.floor(COUNT / 10));
    await run(0, WARMUP);
    const heapBefore = heapAfterGc();
    for (let from = WARMUP; from < COUNT; from += 1000) {
      await run(from, Math.min(COUNT, from + 1000));
      if (failures.length > 20) break;
    }
    const seconds = (performance.now() - started) / 1000;
    // Let the delivery workers finish what the accepted notifications queued before measuring.
    await new Promise((resolve) => setTimeout(resolve, 500));
    scanLogs();
    const heapAfter = heapAfterGc();
    const growth = heapAfter - heapBefore;

    const summary = {
      seed: SEED,
      bodies: COUNT,
      seconds: Number(seconds.toFixed(1)),
      perRoute: Object.fromEntries(perRoute),
      statuses: Object.fromEntries([...statuses].sort()),
      upstreamExchangeErrors: upstream,
      upstreamSamples,
      transportErrors,
      errorLogLines,
      errorLogMessages: [...errorLogMessages],
      heapBeforeMB: Number((heapBefore / 2 ** 20).toFixed(1)),
      heapAfterMB: Number((heapAfter / 2 ** 20).toFixed(1)),
      heapGrowthMB: Number((growth / 2 ** 20).toFixed(1)),
    };
    console.log(`fuzz summary ${JSON.stringify(summary)}`);
    t.diagnostic(`fuzz summary ${JSON.stringify(summary)}`);

    assert.deepEqual(failures, [], `seed ${SEED}: ${failures.length} failing cases:\n${failures.join('\n')}`);
    assert.ok(growth < HEAP_GROWTH_LIMIT, `heap grew by ${summary.heapGrowthMB} MB`);

    // Still alive, and still taking Exchange's real notifications.
    const alive = await fetch(`${herald.url}/api/ens/alive`);
    assert.equal(alive.status, 200);
    const mail = await sim.deliver(
      MAILBOX.email,
      { subject: 'after the fuzz', from: { address: 'x@contoso.example' } },
      { wait: true },
    );
    const callbackSubscription = sim
      .subscriptions(MAILBOX.email)
      .find((s) => s.callbackUrl === templates.callbackUrl)!;
    assert.equal(
      mail.outcomes?.find((o) => o.subscriptionId === callbackSubscription.id)?.subscriptionStatus,
      'OK',
    );
  });
});
