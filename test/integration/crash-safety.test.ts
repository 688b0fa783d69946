/**
 * Issue 4, part 4: crash safety (DESIGN decision 2, "Durable before acknowledged"), on SQLite and
 * on PostgreSQL. Herald runs as a real process; 100 iOS devices are registered against the
 * Exchange simulator; the simulator delivers 1,000 mails (10 per mailbox) while Herald is killed
 * with SIGKILL twice, each time in the middle of the flow, and mails keep arriving while it is
 * down (their callbacks fail and Exchange retries them). Counted on the APNs simulator:
 * every mail produced a push to its own device, no mail produced two different notifications
 * (one collapse id per mail, so a push repeated after a crash shows once), and how many pushes
 * were repeated. The test fails on any loss and prints one JSON line with the counts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { ApnsSimulator } from '../../src/sim/apns/index.ts';
import {
  type ExchangeSimulator,
  type SubscriptionInfo,
  startExchangeSimulator,
} from '../../src/sim/exchange/index.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { databases, type TestDatabase } from '../../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer, registerDevice } from '../support/device.ts';
import { deviceClient, type RunningHerald, startHerald } from '../support/herald.ts';
import { type HeraldProcess, startHeraldProcess } from '../support/herald-process.ts';
import { type CertificateApns, startCertificateApns, startPushPeers } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const APP = 'com.example.mail';
const TOKEN = 'crash-safety-tenant-token-0123456789';
const DEVICES = 100;
const MAILS_PER_MAILBOX = 10;
const MAILS = DEVICES * MAILS_PER_MAILBOX;
/** Kill Herald once the APNs simulator has accepted this many pushes. */
const KILL_AT = [250, 600] as const;
/** Exchange's first retry interval: the step in which virtual time is advanced. */
const RETRY_STEP_MS = 30_000;
const SENDER = { name: 'Crash Test', address: 'crash@contoso.example' };

interface Device {
  email: string;
  token: string;
  registrationId: string;
}

interface Mail {
  itemId: string;
  email: string;
  token: string;
  round: number;
}

interface HeraldPushData {
  type?: string;
  registrationId?: string;
  itemId?: string;
}

/** Runs `fn` over `items`, at most `width` at a time. */
async function inParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

function live(s: SubscriptionInfo): boolean {
  return s.state === 'active' || s.state === 'retrying';
}

async function crashRun(database: TestDatabase): Promise<void> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'herald-crash-'));
  const target = await database.forServer();
  let peers: CertificateApns | undefined;
  let exchange: ExchangeSimulator | undefined;
  let herald: HeraldProcess | undefined;
  let observer: Store | undefined;
  try {
    peers = await startCertificateApns(dir, APP);
    exchange = await startExchangeSimulator({ clock: { mode: 'manual' }, logLimit: 20_000 });
    herald = await startHeraldProcess({
      dataDir: dir,
      database: target.url,
      config: {
        tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [peers.app] }],
        trust: { caFiles: [peers.caFile] },
        // 15 minutes: Exchange gives up on a failing callback only after 30+60+120+240+480 s.
        exchange: { statusFrequencyMinutes: 15 },
        // leaseSeconds stays at its default (120 s): the restarted node takes back the events
        // its killed run held at once (same node id in the data dir), not after the lease.
        push: { pollMilliseconds: 50, retryBaseSeconds: 1 },
        limits: { tenantRequestsPerMinute: 0, ipRequestsPerMinute: 0 },
        log: { level: 'warn' },
      },
    });
    // The test reads Herald's outbox (never writes it) to know when Herald has nothing left to do.
    observer = await openStore(target.url ?? `sqlite:${join(dir, 'herald.db')}`, { poolSize: 2 });
    await runScenario(database.name, herald, exchange, peers.apns, observer, started);
  } catch (error) {
    if (herald && error instanceof Error) {
      error.message += `\n--- Herald's output (${herald.logFile}), last lines:\n${herald.tail(40)}`;
    }
    throw error;
  } finally {
    await herald?.close();
    await observer?.close();
    await exchange?.close();
    await peers?.apns.close();
    await target.drop();
  }
}

async function runScenario(
  databaseName: string,
  herald: HeraldProcess,
  exchange: ExchangeSimulator,
  apns: ApnsSimulator,
  observer: Store,
  started: number,
): Promise<void> {
  const api = deviceClient(herald.url, TOKEN);
  const publicKey = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;

  // ---- 100 devices, each registered for its own mailbox through the device API.
  const devices: Device[] = [];
  await inParallel(
    Array.from({ length: DEVICES }, (_, i) => i),
    10,
    async (i) => {
      const { email, token, registrationId } = await registerDevice(api, exchange, {
        email: `crash${i}@contoso.example`,
        password: `pw-${i}-secret`,
        token: apnsToken(0x10000 + i),
        appId: APP,
        publicKey,
      });
      devices[i] = { email, token, registrationId };
    },
  );
  assert.equal(exchange.subscriptions().filter(live).length, DEVICES, 'one Exchange subscription per device');

  // ---- The mails: round r delivers mail r to every mailbox, without waiting for Herald.
  const mails = new Map<string, Mail>();
  const deliverRounds = async (from: number, to: number) => {
    for (let round = from; round <= to; round++) {
      for (const device of devices) {
        const { itemId } = await exchange.deliver(device.email, {
          subject: `Mail ${round + 1} of ${MAILS_PER_MAILBOX} for ${device.email}`,
          from: SENDER,
        });
        mails.set(itemId, { itemId, email: device.email, token: device.token, round });
      }
    }
  };
  /** The APNs simulator has accepted `count` pushes; polled tightly so the kill lands mid-flow. */
  const accepted = (count: number) =>
    waitFor(
      // waitFor's pause grows to 100 ms, in which Herald sends dozens of pushes: look every
      // millisecond inside each probe so the kill lands close to `count`.
      async () => {
        const until = Date.now() + 50;
        while (apns.stats().accepted < count && Date.now() < until) await delay(1);
        return apns.stats().accepted >= count;
      },
      `${count} pushes on the APNs simulator`,
      60_000,
    );
  /** Herald is down: every live subscription has a failed callback and waits for its retry. */
  const allRetrying = () =>
    waitFor(() => {
      const subs = exchange.subscriptions().filter(live);
      return subs.length === DEVICES && subs.every((s) => s.state === 'retrying' && s.retry !== undefined);
    }, 'every Exchange subscription to be retrying a failed callback');

  const kills: Array<{ atPushes: number; mailsDeliveredSoFar: number; outbox: Record<string, number> }> = [];
  const kill = async () => {
    const atPushes = apns.stats().accepted;
    const exit = await herald.kill('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    // What the dead process left: events in hand (leased) and events not yet taken.
    const outbox = await observer.outbox.countByStatus();
    kills.push({ atPushes, mailsDeliveredSoFar: mails.size, outbox });
  };

  // Phase 1: Herald under load, killed after ~250 pushes; 200 mails arrive while it is down.
  await deliverRounds(0, 3);
  await accepted(KILL_AT[0]);
  await kill();
  await deliverRounds(4, 5);
  await allRetrying();

  // Phase 2: back on the same port; Exchange's retries come; 200 more mails; killed after ~600
  // pushes; the last 200 mails arrive while it is down.
  await herald.start();
  await exchange.advance(RETRY_STEP_MS);
  await deliverRounds(6, 7);
  await accepted(KILL_AT[1]);
  await kill();
  await deliverRounds(8, 9);
  await allRetrying();
  assert.equal(mails.size, MAILS);

  // Phase 3: back again; advance Exchange's clock in retry steps until nothing is queued at
  // Exchange, Herald's outbox has nothing pending or in hand, and APNs stopped receiving.
  await herald.start();
  let lastAccepted = -1;
  const outbox = await waitFor(
    async () => {
      const subs = exchange.subscriptions();
      if (subs.some((s) => s.state === 'retrying' || s.queuedEvents > 0)) {
        await exchange.advance(RETRY_STEP_MS);
        return false;
      }
      const counts = await observer.outbox.countByStatus();
      const now = apns.stats().accepted;
      const quiet = counts.pending === 0 && counts.processing === 0 && now === lastAccepted;
      lastAccepted = now;
      return quiet ? counts : false;
    },
    'Exchange queues empty, the outbox drained and the APNs simulator quiet',
    60_000,
  );

  // ---- Count on the APNs simulator.
  const byToken = new Map(devices.map((d) => [d.token, d]));
  const pushes = apns.received();
  const collapseIdsByMail = new Map<string, Set<string>>();
  const pushesByMail = new Map<string, number>();
  const wrongDevice: string[] = [];
  const notAMail: string[] = [];
  let otherPushes = 0;
  for (const push of pushes) {
    const data = (push.payload as { herald?: HeraldPushData } | undefined)?.herald;
    if (data?.type !== 'new_mail') {
      otherPushes++;
      continue;
    }
    const mail = data.itemId === undefined ? undefined : mails.get(data.itemId);
    if (!mail) {
      notAMail.push(JSON.stringify(push.payload));
      continue;
    }
    const device = byToken.get(push.token);
    if (push.token !== mail.token || data.registrationId !== device?.registrationId) {
      wrongDevice.push(`${mail.itemId} (for ${mail.email}) went to ${push.token}`);
    }
    assert.ok(push.collapseId, `push for ${mail.itemId} has an apns-collapse-id`);
    const ids = collapseIdsByMail.get(mail.itemId) ?? new Set<string>();
    ids.add(push.collapseId);
    collapseIdsByMail.set(mail.itemId, ids);
    pushesByMail.set(mail.itemId, (pushesByMail.get(mail.itemId) ?? 0) + 1);
  }
  const mailPushes = [...pushesByMail.values()].reduce((a, b) => a + b, 0);
  const lost = [...mails.values()].filter((m) => !pushesByMail.has(m.itemId));
  const twoNotifications = [...collapseIdsByMail].filter(([, ids]) => ids.size > 1);
  const distinct = new Set(
    pushes
      .filter((p) => (p.payload as { herald?: HeraldPushData } | undefined)?.herald?.type === 'new_mail')
      .map((p) => `${p.token} ${p.collapseId}`),
  ).size;
  const duplicates = mailPushes - distinct;
  const callbacks = exchange.log({ kind: 'callback', limit: 20_000 });
  const failedCallbacks = callbacks.filter((c) => c.status !== 200 || c.error !== undefined).length;
  const subs = exchange.subscriptions();
  const { n: mailEvents } = await observer.db
    .selectFrom('outbox')
    .where('kind', '=', 'new_mail')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  // A retried notification (stored, but its answer lost in the kill) is not a watermark gap.
  const { n: gapRefreshes } = await observer.db
    .selectFrom('outbox')
    .where('dedupe_key', 'like', 'gap:%')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();

  const result = {
    database: databaseName,
    mails: mails.size,
    pushes: mailPushes,
    distinct,
    duplicates,
    lost: lost.length,
    kills: kills.length,
    durationMs: Math.round(performance.now() - started),
    killedAtPushes: kills.map((k) => k.atPushes),
    leftAtKills: kills.map(({ outbox: { pending, processing } }) => ({ pending, processing })),
    otherPushes,
    failedCallbacks,
    outbox,
  };
  console.log(JSON.stringify(result));

  assert.equal(kills.length, 2, 'Herald was killed twice');
  assert.equal(herald.starts, 3, 'Herald was started three times');
  for (const [i, k] of kills.entries()) {
    assert.ok(
      k.atPushes < k.mailsDeliveredSoFar,
      `kill ${i + 1} came mid-flow (${k.atPushes} pushes for ${k.mailsDeliveredSoFar} mails delivered)`,
    );
  }
  assert.ok(failedCallbacks > 0, "Exchange's callbacks failed while Herald was down");
  assert.deepEqual(
    subs.filter((s) => !live(s)).map((s) => `${s.mailbox}: ${s.state}`),
    [],
    'Exchange gave up on no subscription',
  );
  assert.deepEqual(
    lost.slice(0, 10).map((m) => `${m.email} mail ${m.round + 1} (${m.itemId})`),
    [],
    `${lost.length} mails produced no push`,
  );
  assert.deepEqual(wrongDevice.slice(0, 10), [], 'every push went to the device of its mailbox');
  assert.deepEqual(notAMail.slice(0, 10), [], 'every new-mail push names one of the delivered mails');
  assert.deepEqual(
    twoNotifications.slice(0, 10).map(([itemId, ids]) => `${itemId}: ${[...ids].join(', ')}`),
    [],
    'no mail produced pushes with two different collapse ids',
  );
  assert.equal(distinct, MAILS, 'distinct (device, collapse id) pairs == mails');
  assert.equal(outbox.failed, 0, 'no outbox event was given up');
  assert.equal(
    Number(gapRefreshes),
    0,
    "Exchange's retries after the kills were not taken for watermark gaps",
  );
  assert.equal(
    Number(mailEvents),
    MAILS,
    "one outbox event per mail: Exchange's retried notifications added none",
  );
  // A push is repeated only when its event was in the dead process's hands (pushed, not yet
  // recorded): never more repeats than events in hand at the kills.
  const inHand = kills.reduce((n, k) => n + (k.outbox.processing ?? 0), 0);
  assert.ok(duplicates <= inHand, `${duplicates} repeated pushes, ${inHand} events in hand at the kills`);
  if (duplicates > 0) {
    const repeated = [...pushesByMail].filter(([, n]) => n > 1).map(([itemId]) => itemId);
    console.log(
      `[${databaseName}] ${duplicates} pushes repeated after a crash, each with its mail's collapse id (shown once): ${repeated.slice(0, 5).join(', ')}`,
    );
  }
}

for (const database of databases()) {
  const skip = await database.unavailable();
  test(
    `crash safety [${database.name}]: ${MAILS} mails to ${DEVICES} devices, Herald SIGKILLed twice: every mail pushed, none shown twice`,
    { skip: skip ?? false, timeout: 240_000 },
    () => crashRun(database),
  );
}

/**
 * The same restart with APNs token authentication (.p8), the default way of configuring an app.
 * APNs answers 429 TooManyProviderTokenUpdates to a token issued within 20 minutes of the team's
 * previous one (the simulator follows Apple's rule, which src/push/apns/token.ts quotes too), so a
 * restarted process that signed a token of its own had every push refused until it replaced it
 * 50 minutes later: each push retried `push.maxAttempts` times and given up, lost. Herald keeps
 * the token in the database (sealed under the master key): the restarted process uses the same
 * one. A regression test: the push after the restart is accepted at the first try.
 */
async function tokenRestartRun(database: TestDatabase): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-token-restart-'));
  const target = await database.forServer();
  const peers = await startPushPeers(dir);
  const exchange = await startExchangeSimulator({ clock: { mode: 'manual' } });
  let herald: HeraldProcess | undefined;
  let observer: Store | undefined;
  try {
    herald = await startHeraldProcess({
      dataDir: dir,
      database: target.url,
      config: {
        tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [peers.app(APP)] }],
        trust: { caFiles: [peers.caFile] },
        push: { leaseSeconds: 2, pollMilliseconds: 50, retryBaseSeconds: 0, maxAttempts: 3 },
        log: { level: 'warn' },
      },
    });
    observer = await openStore(target.url ?? `sqlite:${join(dir, 'herald.db')}`, { poolSize: 2 });
    const api = deviceClient(herald.url, TOKEN);
    const { email, token } = await registerDevice(api, exchange, {
      email: 'token@contoso.example',
      password: 'pw-token',
      token: apnsToken(0x20000),
      appId: APP,
    });
    const drained = (what: string) =>
      waitFor(async () => {
        const counts = await observer!.outbox.countByStatus();
        return counts.pending === 0 && counts.processing === 0 ? counts : false;
      }, what);

    await exchange.deliver(email, { subject: 'Before the restart', from: SENDER }, { wait: true });
    await drained('the first push');
    assert.equal(peers.apns.received({ token }).length, 1);

    await herald.kill('SIGKILL');
    await herald.start();
    await exchange.deliver(email, { subject: 'After the restart', from: SENDER }, { wait: true });
    const counts = await drained('the second push to be sent or given up');
    const requests = peers.apns.requests({ token });
    const refused = requests.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.reason}`);
    assert.equal(
      peers.apns.received({ token }).length,
      2,
      `the mail after the restart was not pushed: APNs answered ${refused.join(', ')}; outbox ${JSON.stringify(counts)}`,
    );
    assert.deepEqual(refused, [], 'every push accepted at the first try');
    const issued = new Set(requests.map((r) => (r.auth.kind === 'token' ? r.auth.issuedAt : undefined)));
    assert.equal(issued.size, 1, 'the restarted process used the provider token of the first one');
  } catch (error) {
    if (herald && error instanceof Error) {
      error.message += `\n--- Herald's output (${herald.logFile}), last lines:\n${herald.tail(40)}`;
    }
    throw error;
  } finally {
    await herald?.close();
    await observer?.close();
    await exchange.close();
    await peers.close();
    await target.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Two nodes on one PostgreSQL database (DESIGN decision 4) with the same .p8 key, one APNs: each
 * node used to sign its own provider token, and APNs refused the second one for 20 minutes. Both
 * in this process (two services, one master key, a data directory each), devices registered through
 * both, so both take callbacks and push: one token, no 429, every mail pushed.
 */
async function twoNodesRun(database: TestDatabase): Promise<void> {
  const NODE_DEVICES = 10;
  const dir = mkdtempSync(join(tmpdir(), 'herald-two-nodes-'));
  const target = await database.forServer();
  const peers = await startPushPeers(dir);
  const exchange = await startExchangeSimulator();
  const nodes: RunningHerald[] = [];
  try {
    const config = {
      // One master key for both, as nodes must share it; a data directory each (its node id).
      masterKeyFile: join(dir, 'master.key'),
      tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [peers.app(APP)] }],
      trust: { caFiles: [peers.caFile] },
      push: { leaseSeconds: 2, pollMilliseconds: 50, retryBaseSeconds: 0, maxAttempts: 3 },
      log: { level: 'warn' },
    };
    for (let i = 0; i < 2; i++) {
      const dataDir = join(dir, `node-${i}`);
      mkdirSync(dataDir);
      nodes.push(await startHerald({ database: target.url!, dataDir, config }));
    }
    const devices: Array<{ email: string; token: string }> = [];
    await inParallel(
      Array.from({ length: NODE_DEVICES }, (_, i) => i),
      NODE_DEVICES,
      async (i) => {
        const api = deviceClient(nodes[i % 2]!.url, TOKEN);
        const publicKey = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
        const email = `node${i}@contoso.example`;
        exchange.createMailbox({ email, password: `pw-${i}` });
        const token = apnsToken(0x30000 + i);
        const created = await api('POST', '/v1/registrations', {
          device: { platform: 'ios', pushToken: token, appId: APP },
          account: {
            email,
            ewsUrl: exchange.ewsUrl,
            credentials: await encryptCredentials(publicKey, {
              type: 'basic',
              username: email,
              password: `pw-${i}`,
            }),
          },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        devices[i] = { email, token };
      },
    );
    const pushed = (d: { token: string }) =>
      peers.apns
        .received({ token: d.token })
        .filter((p) => (p.payload as { herald?: HeraldPushData } | undefined)?.herald?.type === 'new_mail');
    const allPushed = (some: readonly { token: string }[]) =>
      waitFor(() => some.every((d) => pushed(d).length > 0), 'the mails pushed', 20_000).catch(() => {});
    // One node pushes first and signs the token; then, in a later second (the simulator tells
    // tokens apart by kid and iat), both push at once.
    await exchange.deliver(devices[0]!.email, { subject: 'First', from: SENDER }, { wait: true });
    await allPushed(devices.slice(0, 1));
    await delay(1050 - (Date.now() % 1000));
    await Promise.all(
      devices.map((d) => exchange.deliver(d.email, { subject: 'Two nodes', from: SENDER }, { wait: true })),
    );
    await waitFor(
      () => devices.every((d) => pushed(d).length >= (d === devices[0] ? 2 : 1)),
      'every mail pushed',
      20_000,
    ).catch(() => {});
    const requests = peers.apns.requests();
    const refused = requests.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.reason}`);
    assert.deepEqual(refused, [], 'no push refused (no TooManyProviderTokenUpdates)');
    assert.deepEqual(
      devices.filter((d) => pushed(d).length < (d === devices[0] ? 2 : 1)).map((d) => d.email),
      [],
      'every mail pushed',
    );
    const issued = new Set(requests.map((r) => (r.auth.kind === 'token' ? r.auth.issuedAt : undefined)));
    assert.equal(issued.size, 1, 'one provider token for both nodes');
    assert.ok(new Set(requests.map((r) => r.connectionId)).size >= 2, 'both nodes pushed');
  } finally {
    for (const node of nodes) await node.stop();
    await exchange.close();
    await peers.close();
    await target.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const database of databases()) {
  const skip = await database.unavailable();
  test(
    `after a restart, pushes with APNs token authentication still reach APNs [${database.name}]`,
    { skip: skip ?? false, timeout: 60_000 },
    () => tokenRestartRun(database),
  );
  if (database.name === 'postgres') {
    test(
      `two nodes on one database push with one APNs provider token [${database.name}]`,
      { skip: skip ?? false, timeout: 60_000 },
      () => twoNodesRun(database),
    );
  }
}
