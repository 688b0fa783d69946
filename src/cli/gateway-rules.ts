/**
 * `herald gateway rule add|list|remove`: the gateway's compliance rules, straight in the
 * database named by the configuration (operator.md, Gateway section). No running server is
 * needed, and none is restarted: every gateway node reloads the rules within seconds. `--json`
 * prints what the admin API answers (docs/admin-api.md, "Gateway compliance rules").
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { HeraldError } from '../errors/index.ts';
import { gatewayRuleJson } from '../http/index.ts';
import {
  type GatewayRule,
  type NewGatewayRule,
  openStore,
  type Store,
  StoreInvalidError,
} from '../store/index.ts';
import { configFrom, printJson, table, withConfigOption } from './common.ts';

/**
 * Rules need the database only: no master key is read or created, so the command also runs
 * on a gateway host that holds none.
 */
async function withStore<T>(options: { config?: string }, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(configFrom(options).database);
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

function integer(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('must be an integer');
  return n;
}

/** One line per rule, in evaluation order; `-` for a matcher the rule does not set. */
export function formatRules(rules: readonly GatewayRule[]): string {
  if (rules.length === 0) return 'No gateway rules: gateway.policy.default decides every request.';
  const cell = (value: string | null) => value ?? '-';
  return table(
    ['PRIORITY', 'ACTION', 'DEVICE ID', 'DEVICE TYPE', 'USER', 'USER AGENT', 'ID', 'REASON'],
    rules.map((r) => [
      String(r.priority),
      r.action,
      cell(r.deviceId),
      cell(r.deviceType),
      cell(r.user),
      cell(r.userAgent),
      r.id,
      r.reason,
    ]),
  );
}

interface AddOptions {
  config?: string;
  block?: boolean;
  allow?: boolean;
  deviceId?: string;
  deviceType?: string;
  user?: string;
  userAgent?: string;
  priority?: number;
  reason: string;
}

/** Adds `rule add|list|remove` to the `gateway` command. */
export function addGatewayRuleCommand(gateway: Command): Command {
  const rule = gateway
    .command('rule')
    .description('compliance rules: allow or block devices; changes apply without a restart');

  withConfigOption(rule.command('add'))
    .description('add a rule; it is evaluated after the existing ones unless --priority says otherwise')
    .addOption(new Option('--block', 'refuse matching requests (403)').conflicts('allow'))
    .addOption(new Option('--allow', 'let matching requests through').conflicts('block'))
    .option('--device-id <id>', 'ActiveSync DeviceId (matched ignoring case)')
    .option('--device-type <type>', 'ActiveSync DeviceType, e.g. iPhone (matched ignoring case)')
    .option('--user <upn>', 'UPN or email address (matched ignoring case)')
    .option('--user-agent <regex>', 'JavaScript regular expression searched in the User-Agent header')
    .option('--priority <n>', 'lower is evaluated first (default: the highest in use + 10)', integer)
    .requiredOption('--reason <text>', 'why the rule exists')
    .action(async (options: AddOptions) => {
      if (!options.block && !options.allow) {
        throw new HeraldError('invalid_request', { message: 'a rule needs --block or --allow' });
      }
      const input: NewGatewayRule = {
        action: options.block ? 'block' : 'allow',
        reason: options.reason,
        ...(options.deviceId === undefined ? {} : { deviceId: options.deviceId }),
        ...(options.deviceType === undefined ? {} : { deviceType: options.deviceType }),
        ...(options.user === undefined ? {} : { user: options.user }),
        ...(options.userAgent === undefined ? {} : { userAgent: options.userAgent }),
        ...(options.priority === undefined ? {} : { priority: options.priority }),
      };
      if (!input.deviceId && !input.deviceType && !input.user && !input.userAgent) {
        throw new HeraldError('invalid_request', {
          message:
            'a rule needs at least one of --device-id, --device-type, --user or --user-agent (gateway.policy.default covers every request)',
        });
      }
      const added = await withStore(options, async (store) => {
        try {
          return await store.gatewayRules.add(input);
        } catch (error) {
          if (error instanceof StoreInvalidError)
            throw new HeraldError('invalid_request', { message: error.message });
          throw error;
        }
      });
      printJson(gatewayRuleJson(added));
    });

  withConfigOption(rule.command('list'))
    .description('list the rules in evaluation order')
    .option('--json', 'print JSON, as the admin API answers')
    .action(async (options: { config?: string; json?: boolean }) => {
      const rules = await withStore(options, (store) => store.gatewayRules.list());
      if (options.json) printJson({ rules: rules.map(gatewayRuleJson) });
      else process.stdout.write(`${formatRules(rules)}\n`);
    });

  withConfigOption(rule.command('remove <id>'))
    .description('remove a rule')
    .action(async (id: string, options: { config?: string }) => {
      const removed = await withStore(options, (store) => store.gatewayRules.remove(id));
      if (!removed) {
        throw new HeraldError('gateway_rule_not_found', { message: `gateway rule ${id} not found` });
      }
      process.stdout.write(`removed gateway rule ${id}\n`);
    });

  return rule;
}
