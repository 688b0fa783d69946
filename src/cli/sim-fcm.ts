import { chmod, readFile, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { simFcmUsage, startFcmSimulator } from '../sim/fcm/index.ts';
import { closeOnSignal, port } from './common.ts';

/** `herald sim fcm`: the FCM HTTP v1 simulator with Google's OAuth 2.0 token endpoint. */
export function simFcmCommand(): Command {
  return new Command('fcm')
    .description("a Firebase Cloud Messaging HTTP v1 simulator, with Google's OAuth 2.0 token endpoint")
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free port)', port, 8091)
    .option('--project <id>', 'project of the service account written by --service-account-out', 'herald-sim')
    .option(
      '--service-account-out <file>',
      'create a service account and write its JSON key file here (mode 0600)',
    )
    .option('--cert <file>', 'PEM certificate: serve HTTPS (with --key)')
    .option('--key <file>', 'PEM private key for --cert')
    .addHelpText('after', `\n${simFcmUsage}`)
    .action(
      async (options: {
        host: string;
        port: number;
        project: string;
        serviceAccountOut?: string;
        cert?: string;
        key?: string;
      }) => {
        if ((options.cert === undefined) !== (options.key === undefined)) {
          throw new InvalidArgumentError('--cert and --key go together');
        }
        const tls =
          options.cert !== undefined && options.key !== undefined
            ? { cert: await readFile(options.cert, 'utf8'), key: await readFile(options.key, 'utf8') }
            : undefined;
        const sim = await startFcmSimulator({
          host: options.host,
          port: options.port,
          tls,
          log: (line) => process.stderr.write(`${line}\n`),
        });
        closeOnSignal(sim);

        // The service account is written before the listening line, so a script that waits for
        // that line finds the file ready.
        if (options.serviceAccountOut !== undefined) {
          try {
            const account = sim.createServiceAccount({ projectId: options.project });
            await writeFile(options.serviceAccountOut, `${JSON.stringify(account, null, 2)}\n`, {
              mode: 0o600,
            });
            await chmod(options.serviceAccountOut, 0o600);
            process.stdout.write(
              `service account ${account.client_email} (project ${account.project_id}) written to ${options.serviceAccountOut}\n`,
            );
          } catch (error) {
            await sim.close();
            throw error;
          }
        }
        process.stdout.write(`herald sim fcm listening on ${sim.url}\n`);
        process.stdout.write(`\n${simFcmUsage}`);
      },
    );
}
