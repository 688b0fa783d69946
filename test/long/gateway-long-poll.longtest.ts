/**
 * A long poll held open for five minutes, in real time, is not cut by the gateway. ActiveSync
 * Ping and Sync hang up to 59 minutes (MS-ASCMD); Node's and undici's own defaults would end such
 * a request after 300 s (http.Server requestTimeout, undici headersTimeout), so the hold is a
 * little longer than that. Run by .ci/run beside the main suite (`npm run test:long`), because it
 * takes five minutes of wall-clock time by design.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { databases } from '../../src/store/testing.ts';
import { adminGet, startTestGateway } from '../support/gateway.ts';
import { issueClientCertificate } from '../support/pki.ts';

const HOLD_MS = 310_000;

test('an ActiveSync Ping held 310 s by Exchange reaches the device intact', {
  timeout: HOLD_MS + 60_000,
}, async () => {
  const store = await databases()[0]!.open();
  const gw = await startTestGateway({ store, gateway: { crl: { onUnavailable: 'fail-open' } } });
  try {
    const device = await issueClientCertificate(gw.ca, { cn: 'pinger', upn: 'pat@corp.example' });
    const started = Date.now();
    const pending = gw.request({
      method: 'POST',
      path: '/Microsoft-Server-ActiveSync?Cmd=Ping&User=pat&DeviceId=PING01&DeviceType=iPhone',
      cert: device,
      headers: { 'x-test-hold': String(HOLD_MS), 'content-type': 'application/vnd.ms-sync.wbxml' },
      body: Buffer.from([0x03, 0x01, 0x6a, 0x00]),
    });
    // While it hangs, the gateway reports it as an open long poll.
    let open = '';
    for (let i = 0; i < 50 && !/herald_gateway_long_polls_open\{command="Ping"\} 1/.test(open); i++) {
      open = (await adminGet(gw, '/metrics')).text;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(open, /herald_gateway_long_polls_open\{command="Ping"\} 1/);
    const response = await pending;
    const elapsed = Date.now() - started;
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body.toString()).bytes, 4);
    assert.ok(elapsed >= HOLD_MS, `answered after ${elapsed} ms, not before Exchange answered`);
    assert.match((await adminGet(gw, '/metrics')).text, /herald_gateway_long_polls_open\{command="Ping"\} 0/);
  } finally {
    await gw.close();
    await store.close();
  }
});
