import { Command } from 'commander';
import { createLogger } from '../log/index.ts';
import { openData } from '../service/notification-service.ts';
import { TenantService } from '../tenants/index.ts';
import { configFrom, printJson, withConfigOption } from './common.ts';

async function withTenants<T>(
  options: { config?: string },
  fn: (tenants: TenantService) => Promise<T>,
): Promise<T> {
  const config = configFrom(options);
  const logger = createLogger({ level: 'warn', destination: process.stderr });
  const { store, master } = await openData(config, logger);
  try {
    return await fn(new TenantService(store, master));
  } finally {
    await store.close();
  }
}

export function tenantCommand(): Command {
  const tenant = new Command('tenant').description('manage tenants (API tokens and key pairs)');
  withConfigOption(tenant.command('add <name>'))
    .description('create a tenant; prints its API token once (only a hash is stored)')
    .option('--content <policy>', 'notification content: full, badge or silent', 'full')
    .action(async (name: string, options: { config?: string; content: string }) => {
      if (!['full', 'badge', 'silent'].includes(options.content)) {
        throw new Error(`--content must be full, badge or silent, not "${options.content}"`);
      }
      printJson(
        await withTenants(options, (t) => t.add(name, options.content as 'full' | 'badge' | 'silent')),
      );
    });
  withConfigOption(tenant.command('list'))
    .description('list tenants')
    .action(async (options: { config?: string }) => printJson(await withTenants(options, (t) => t.list())));
  withConfigOption(tenant.command('rotate-token <name>'))
    .description('issue a new API token; the old one stops working at once')
    .action(async (name: string, options: { config?: string }) =>
      printJson(await withTenants(options, (t) => t.rotateToken(name))),
    );
  withConfigOption(tenant.command('rotate-key <name>'))
    .description('create a new tenant key pair; older keys keep decrypting')
    .action(async (name: string, options: { config?: string }) =>
      printJson(await withTenants(options, (t) => t.rotateKey(name))),
    );
  return tenant;
}
