import { Command } from 'commander';
import { createNotificationService } from '../service/notification-service.ts';
import { configFrom, withConfigOption } from './common.ts';

/** Time allowed, after the grace period for pushes, to close connections and the database. */
const SHUTDOWN_SLACK_MS = 5000;

export function serveCommand(): Command {
  return withConfigOption(new Command('serve'))
    .description('run the notification service (migrates the database on start)')
    .action(async (options: { config?: string }) => {
      const config = configFrom(options);
      const service = await createNotificationService(config);
      const url = await service.listen();
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        const graceMs = config.shutdown.graceSeconds * 1000;
        service.logger.info({ signal, graceSeconds: config.shutdown.graceSeconds }, 'shutting down');
        // The bound: pushes in flight get graceSeconds, then go back to the outbox; closing the
        // connections and the database after that gets a few seconds more, then the process ends
        // regardless (anything not written is still leased in the outbox and retried).
        const deadline = setTimeout(() => {
          service.logger.error({ signal }, 'shutdown did not finish in time; exiting');
          process.exit(1);
        }, graceMs + SHUTDOWN_SLACK_MS);
        deadline.unref();
        service.close().then(
          () => {
            service.logger.info('stopped');
            process.exit(0);
          },
          (error: unknown) => {
            service.logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      const tenants = await service.tenants.list();
      // The command an operator runs creates the CA on its first start (in-process test servers
      // leave that to the first use, which keeps them fast).
      // Signals are handled from here on: making the CA's keys takes seconds, and a SIGTERM then
      // must still be a clean shutdown.
      let ca: Awaited<ReturnType<NonNullable<typeof service.ca>['get']>> | undefined;
      try {
        ca = service.ca ? await service.ca.get() : undefined;
      } catch (error) {
        if (stopping) return;
        throw error;
      }
      if (stopping) return;
      process.stderr.write(
        [
          `Herald notification service listening on ${url}`,
          `  public URL (callbacks): ${config.publicUrl}`,
          `  database: ${config.database.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:<hidden>@')}`,
          `  device API: ${config.publicUrl}/api/ens  (alive: ${config.publicUrl}/api/ens/alive)`,
          `  admin API: ${url}/api/admin/v1  (bearer token ${service.adminTokenFile ? `in ${service.adminTokenFile}` : 'from the configuration, admin.apiToken'})`,
          ca
            ? `  certificate authority: issuing CA ${ca.issuingId}; CRLs at ${config.publicUrl}/pki/crl/, SCEP at ${config.publicUrl}/pki/scep`
            : '  certificate authority: off (pki.enabled is false)',
          tenants.length === 0
            ? '  no tenants yet: create one with `npm run herald -- tenant add <name>` (or `herald tenant add <name>`)'
            : `  tenants: ${tenants.map((t) => t.tenantId).join(', ')}`,
          '',
        ].join('\n'),
      );
    });
}
