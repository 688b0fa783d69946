/**
 * Bodies stream through the gateway: a 50 MB upload and a 50 MB download pass through a real
 * `herald gateway` process while its resident memory grows by less than 20 MB (peak RSS, read
 * from /proc, against the RSS before the transfer).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { deviceRequest } from '../support/gateway.ts';
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstream.ts';

const MB = 1024 * 1024;
const SIZE = 50 * MB;
const LIMIT = 20 * MB;

/** SIZE bytes of a repeating, position-dependent pattern, produced on demand (never held whole). */
function generated(size: number): { stream: Readable; sha256: Promise<string> } {
  const hash = createHash('sha256');
  let sent = 0;
  let finish: (hex: string) => void;
  const sha256 = new Promise<string>((r) => {
    finish = r;
  });
  const stream = new Readable({
    read() {
      if (sent >= size) {
        finish(hash.digest('hex'));
        this.push(null);
        return;
      }
      const chunk = Buffer.alloc(Math.min(64 * 1024, size - sent), sent % 251);
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256 };
}

let upstream: RecordingUpstream;
let gateway: GatewayProcess;

before(async () => {
  upstream = await startRecordingUpstream();
  gateway = await startGatewayProcess({ upstreamUrl: upstream.url, upstreamCa: upstream.ca });
  // Warm up: TLS, pools, JIT, a first body each way.
  for (let i = 0; i < 3; i++) {
    await deviceRequest(gateway.url, gateway.ca.certPem, {
      method: 'POST',
      path: '/Microsoft-Server-ActiveSync?Cmd=SendMail&User=alice&DeviceId=D1&DeviceType=iPhone',
      cert: gateway.device,
      headers: { 'x-test-download-bytes': String(MB) },
      body: Buffer.alloc(MB),
    });
  }
});

after(async () => {
  await gateway?.close();
  await upstream?.close();
});

test('a 50 MB upload streams through with the gateway RSS growing by less than 20 MB', async () => {
  const baseline = gateway.rss();
  gateway.resetPeak();
  const body = generated(SIZE);
  const response = await deviceRequest(gateway.url, gateway.ca.certPem, {
    method: 'POST',
    path: '/Microsoft-Server-ActiveSync?Cmd=SendMail&User=alice&DeviceId=D1&DeviceType=iPhone',
    cert: gateway.device,
    headers: { 'content-type': 'message/rfc822', 'content-length': String(SIZE) },
    body: body.stream,
  });
  assert.equal(response.status, 200);
  const seen = JSON.parse(response.body.toString()) as { bytes: number; sha256: string };
  assert.equal(seen.bytes, SIZE);
  assert.equal(seen.sha256, await body.sha256, 'Exchange received exactly what the device sent');
  const growth = gateway.peakRss() - baseline;
  assert.ok(growth < LIMIT, `peak RSS grew by ${(growth / MB).toFixed(1)} MB (limit 20 MB)`);
});

test('a 50 MB download streams through with the gateway RSS growing by less than 20 MB', async () => {
  const baseline = gateway.rss();
  gateway.resetPeak();
  const response = await deviceRequest(gateway.url, gateway.ca.certPem, {
    path: '/Microsoft-Server-ActiveSync?Cmd=GetAttachment&User=alice&DeviceId=D1&DeviceType=iPhone',
    cert: gateway.device,
    headers: { 'x-test-download-bytes': String(SIZE) },
    streamBody: true,
  });
  assert.equal(response.status, 200);
  let received = 0;
  for await (const chunk of response.stream!) received += (chunk as Buffer).length;
  assert.equal(received, SIZE);
  const growth = gateway.peakRss() - baseline;
  assert.ok(growth < LIMIT, `peak RSS grew by ${(growth / MB).toFixed(1)} MB (limit 20 MB)`);
});
