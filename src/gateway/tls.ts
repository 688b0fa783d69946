/**
 * The gateway's TLS listener options: TLS 1.2 and 1.3, ECDHE suites only (forward secrecy), client
 * certificates requested but checked by the gateway itself (certificates/), so that every refusal
 * is an HTTP 403 with a logged reason instead of a bare handshake failure the device cannot explain.
 */
import { readFileSync } from 'node:fs';
import type { ServerOptions } from 'node:https';
import type { HeraldConfig } from '../config/index.ts';

/**
 * The default suites: the ECDHE-GCM and ECDHE-CBC suites of the notification server's TLS table
 * (ENS2), for RSA and ECDSA server keys, then the TLS 1.3 suites. Node negotiates TLS 1.3 only
 * when the list names TLS 1.3 suites, so they are listed explicitly.
 */
export const DEFAULT_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_AES_128_GCM_SHA256',
  'TLS_CHACHA20_POLY1305_SHA256',
].join(':');

export type GatewayConfig = HeraldConfig['gateway'];

export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError';
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new GatewayConfigError(`gateway.${what}: cannot read ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** The PEM CAs in the listed files (each file may hold several). */
export function readCaFiles(files: readonly string[], what: string): string[] {
  return files.map((file) => readPem(file, what));
}

export function tlsServerOptions(config: GatewayConfig): ServerOptions {
  if (!config.tls) {
    throw new GatewayConfigError(
      'gateway.tls.certFile and gateway.tls.keyFile are required: the gateway only speaks HTTPS',
    );
  }
  const trusted = readCaFiles(config.trustedCaFiles, 'trustedCaFiles');
  if (config.clientCertificates !== 'off' && trusted.length === 0) {
    throw new GatewayConfigError(
      `gateway.clientCertificates is ${config.clientCertificates} but gateway.trustedCaFiles lists no CA: no device certificate could be accepted`,
    );
  }
  const options: ServerOptions = {
    cert: readPem(config.tls.certFile, 'tls.certFile'),
    key: readPem(config.tls.keyFile, 'tls.keyFile'),
    minVersion: config.tls.minVersion,
    ciphers: config.tls.ciphers ?? DEFAULT_CIPHERS,
    honorCipherOrder: true,
    // ActiveSync and OAuth tokens make large headers; Kerberos tickets in Authorization too.
    maxHeaderSize: 65_536,
  };
  if (config.clientCertificates !== 'off') {
    options.requestCert = true;
    // Checked per request by the gateway (reason, 403, log), not by the handshake.
    options.rejectUnauthorized = false;
    options.ca = trusted;
  }
  return options;
}
