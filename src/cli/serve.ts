import { Command } from 'commander';
import { createNotificationService } from '../service/notification-service.ts';
import { configFrom, withConfigOption } from './common.ts';

export function serveCommand(): Command {
  return withConfigOption(new Command('serve'))
    .description('run the notification service (migrates the database on start)')
    .action(async (options: { config?: string }) => {
      const config = configFrom(options);
      const service = await createNotificationService(config);
      const url = await service.listen();
      const tenants = await service.tenants.list();
      process.stderr.write(
        [
          `Herald notification service listening on ${url}`,
          `  public URL (callbacks): ${config.publicUrl}`,
          `  database: ${config.database.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:<hidden>@')}`,
          `  device API: ${config.publicUrl}/api/ens  (alive: ${config.publicUrl}/api/ens/alive)`,
          `  admin API: ${url}/api/admin/v1  (bearer token ${service.adminTokenFile ? `in ${service.adminTokenFile}` : 'from the configuration, admin.apiToken'})`,
          tenants.length === 0
            ? '  no tenants yet: create one with `npm run herald -- tenant add <name>` (or `herald tenant add <name>`)'
            : `  tenants: ${tenants.map((t) => t.tenantId).join(', ')}`,
          '',
        ].join('\n'),
      );
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        service.logger.info({ signal }, 'shutting down');
        service.close().then(
          () => process.exit(0),
          (error: unknown) => {
            service.logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
