/**
 * Migrations live in code (not discovered on disk) so they ship inside the package and run
 * the same on both dialects; names sort in the order they apply.
 */
import type { Migration, MigrationProvider } from 'kysely/migration';
import { initial } from './0001_initial.ts';
import { subscriptionHealth } from './0002_subscription_health.ts';
import { providerTokens } from './0003_provider_tokens.ts';
import { gatewayRules } from './0004_gateway_rules.ts';
import { pki } from './0005_pki.ts';
import { graph } from './0006_graph.ts';
import { graphDeletions } from './0007_graph_deletions.ts';
import type { DialectName } from './columns.ts';

export function migrationProvider(dialect: DialectName): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '0001_initial': initial(dialect),
    '0002_subscription_health': subscriptionHealth(dialect),
    '0003_provider_tokens': providerTokens(dialect),
    '0004_gateway_rules': gatewayRules(dialect),
    '0005_pki': pki(dialect),
    '0006_graph': graph(dialect),
    '0007_graph_deletions': graphDeletions(dialect),
  };
  return { getMigrations: async () => migrations };
}
