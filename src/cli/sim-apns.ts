import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { type ApnsKey, simApnsUsage, startApnsSimulator } from '../sim/apns/index.ts';
import { closeOnSignal, collect, port, positiveInteger } from './common.ts';

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

interface SimApnsOptions {
  host: string;
  port: number;
  cert?: string;
  key?: string;
  caOut?: string;
  keyId?: string;
  teamId?: string;
  authKey?: string;
  generateKey?: string;
  clientCa?: string;
  topic: string[];
  goawayAfter?: number;
}

export function simApnsCommand(): Command {
  return new Command('apns')
    .description(
      'an Apple Push Notification service (APNs) simulator: HTTP/2 over TLS, token or certificate auth',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free port)', port, 8443)
    .option('--cert <file>', 'TLS certificate (PEM); default: a fresh self-signed one')
    .option('--key <file>', 'TLS private key (PEM) for --cert')
    .option('--ca-out <file>', 'write the CA certificate clients must trust to this file')
    .option('--key-id <id>', 'key ID (kid) of --auth-key; with --generate-key, the id to give the new key')
    .option('--team-id <id>', 'team ID (iss) of --auth-key; with --generate-key, the new key’s team')
    .option(
      '--auth-key <file>',
      'accept provider tokens signed by this key (.p8 private key or public key PEM)',
    )
    .option('--generate-key <dir>', 'generate a signing key, write <dir>/AuthKey_<KEYID>.p8 and accept it')
    .option('--client-ca <file>', 'trust client certificates from this CA (certificate-based provider auth)')
    .option('--topic <topic>', 'allow only this topic (repeatable; default: any)', collect, [])
    .option('--goaway-after <n>', 'send GOAWAY on each connection after answering n pushes', positiveInteger)
    .addHelpText('after', `\n${simApnsUsage}`)
    .action(async (options: SimApnsOptions) => {
      if ((options.cert === undefined) !== (options.key === undefined)) {
        throw new InvalidArgumentError('--cert and --key go together');
      }
      const keys: ApnsKey[] = [];
      if (options.authKey !== undefined) {
        if (!options.keyId || !options.teamId) {
          throw new InvalidArgumentError('--auth-key needs --key-id and --team-id');
        }
        keys.push({
          keyId: options.keyId,
          teamId: options.teamId,
          publicKey: read(options.authKey, 'auth key'),
        });
      } else if ((options.keyId || options.teamId) && options.generateKey === undefined) {
        throw new InvalidArgumentError('--key-id and --team-id describe --auth-key or --generate-key');
      }
      const tls =
        options.cert !== undefined && options.key !== undefined
          ? { cert: read(options.cert, 'certificate'), key: read(options.key, 'key') }
          : undefined;
      const sim = await startApnsSimulator({
        host: options.host,
        port: options.port,
        ...(tls ? { tls } : {}),
        keys,
        ...(options.clientCa !== undefined ? { clientCa: read(options.clientCa, 'client CA') } : {}),
        topics: options.topic,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      try {
        if (options.goawayAfter !== undefined) sim.goawayAfter(options.goawayAfter);
        const out: string[] = [`herald sim apns listening on ${sim.url}`];
        for (const key of keys) {
          out.push(
            `accepting provider tokens of key ${key.keyId} (team ${key.teamId}) from ${options.authKey}`,
          );
        }
        if (options.generateKey !== undefined) {
          const generated = sim.generateKey(
            options.authKey === undefined ? options.teamId : undefined,
            options.authKey === undefined ? options.keyId : undefined,
          );
          mkdirSync(options.generateKey, { recursive: true });
          const file = join(options.generateKey, `AuthKey_${generated.keyId}.p8`);
          writeFileSync(file, generated.privateKey, { mode: 0o600 });
          out.push(
            `generated key: keyId ${generated.keyId}, teamId ${generated.teamId}, private key ${file}`,
          );
        }
        if (options.clientCa !== undefined) out.push(`trusting client certificates from ${options.clientCa}`);
        if (options.topic.length > 0) out.push(`topics allowed: ${options.topic.join(', ')}`);
        if (options.caOut !== undefined) {
          writeFileSync(options.caOut, sim.ca);
          out.push(`CA certificate: ${options.caOut}`);
        } else {
          out.push(`CA certificate: ${sim.url}/sim/ca.pem (or --ca-out FILE)`);
        }
        process.stdout.write(`${out.join('\n')}\n\n${simApnsUsage}`);
      } catch (error) {
        await sim.close();
        throw error;
      }
      closeOnSignal(sim);
    });
}
