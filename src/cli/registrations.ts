/**
 * `herald registrations list|show`: subscription health straight from the database (no running
 * server needed), through the same RegistrationInspector as the admin API, so both show the same
 * objects; `--json` prints exactly what the admin API answers.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { HeraldError } from '../errors/index.ts';
import { createLogger } from '../log/index.ts';
import {
  type InspectFilter,
  MAX_PAGE,
  PLATFORMS,
  REGISTRATION_STATES,
  type RegistrationDetail,
  RegistrationInspector,
  type RegistrationPage,
} from '../notify/index.ts';
import { openData } from '../service/notification-service.ts';
import { configFrom, positiveInteger, printJson, table, withConfigOption } from './common.ts';

async function withInspector<T>(
  options: { config?: string },
  fn: (inspector: RegistrationInspector) => Promise<T>,
): Promise<T> {
  const config = configFrom(options);
  const logger = createLogger({ level: 'warn', destination: process.stderr });
  const { store, master } = await openData(config, logger);
  try {
    return await fn(new RegistrationInspector({ store, master, watchdog: config.watchdog }));
  } finally {
    await store.close();
  }
}

function pageLimit(value: string): number {
  const n = positiveInteger(value);
  if (n > MAX_PAGE) throw new InvalidArgumentError(`must be at most ${MAX_PAGE}`);
  return n;
}

/** ISO 8601 to the second, `-` for none: short enough for a table. */
function when(iso: string | null): string {
  return iso === null ? '-' : iso.replace(/\.\d{3}Z$/, 'Z');
}

export function formatList(page: RegistrationPage): string {
  if (page.registrations.length === 0) return 'No registrations match.';
  return table(
    ['ID', 'TENANT', 'PLATFORM', 'STATE', 'PUSH TOKEN', 'LAST SEEN', 'SILENT SINCE', 'APP'],
    page.registrations.map((r) => [
      r.id,
      r.tenantId,
      r.platform,
      r.state,
      r.pushToken,
      when(r.lastSeenAt),
      when(r.silentSince),
      r.appId,
    ]),
  );
}

export function formatDetail(d: RegistrationDetail): string {
  const value = (v: string | number | null) => (v === null ? '-' : String(v));
  const fields: Array<[string, string]> = [
    ['id', d.id],
    ['tenantId', d.tenantId],
    ['state', d.state],
    ['health', d.health],
    ['platform', `${d.platform} (${d.environment})`],
    ['appId', d.appId],
    ['pushToken', d.pushToken],
    ['provider', d.provider],
    ['subscriptionId', value(d.subscriptionId)],
    ['statusFrequencyMinutes', String(d.statusFrequencyMinutes)],
    ['lastSeenAt', when(d.lastSeenAt)],
    ['silentSince', when(d.silentSince)],
    ['checkinSentAt', when(d.checkinSentAt)],
    ['deactivatedReason', value(d.deactivatedReason)],
    ['contentPolicy', d.contentPolicy ?? 'tenant default'],
    ['unreadCount', value(d.unreadCount)],
    ['badgeSent', value(d.badgeSent)],
    [
      'outbox',
      Object.entries(d.outbox)
        .map(([status, n]) => `${status} ${n}`)
        .join(', '),
    ],
    ['createdAt', when(d.createdAt)],
    ['updatedAt', when(d.updatedAt)],
    ...(d.graph
      ? ([
          [
            'graph',
            `${d.graph.auth}, subscription ${d.graph.state}${d.graph.includeResourceData ? ', rich' : ''}`,
          ],
          ['graphExpiresAt', when(d.graph.expiresAt)],
          ['graphRenewAt', when(d.graph.renewAt)],
          ['graphLastError', value(d.graph.lastError)],
          [
            'graphLifecycle',
            d.graph.lastLifecycleEvent
              ? `${d.graph.lastLifecycleEvent} at ${when(d.graph.lastLifecycleAt)}`
              : '-',
          ],
        ] as Array<[string, string]>)
      : []),
  ];
  const width = Math.max(...fields.map(([key]) => key.length)) + 1;
  const lines = fields.map(([key, v]) => `${`${key}:`.padEnd(width)} ${v}`);
  lines.push('');
  if (d.deliveries.length === 0) {
    lines.push('deliveries: none yet');
  } else {
    lines.push(`deliveries (last ${d.deliveries.length}, newest first):`);
    const rows = d.deliveries.map((x) => [
      when(x.at),
      x.status,
      x.provider,
      `${x.latencyMs} ms`,
      x.itemId ?? '-',
      x.error ?? '',
    ]);
    lines.push(
      table(['AT', 'STATUS', 'PROVIDER', 'LATENCY', 'ITEM', 'ERROR'], rows)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  return lines.join('\n');
}

interface ListOptions {
  config?: string;
  state?: (typeof REGISTRATION_STATES)[number];
  tenant?: string;
  email?: string;
  platform?: (typeof PLATFORMS)[number];
  limit: number;
  after?: string;
  json?: boolean;
}

export function registrationsCommand(): Command {
  const registrations = new Command('registrations').description(
    'subscription health of registered devices (read-only, straight from the database)',
  );

  withConfigOption(registrations.command('list'))
    .description('list registrations with their state, ordered by id, one page at a time')
    .addOption(
      new Option('--state <state>', 'only registrations in this state').choices([...REGISTRATION_STATES]),
    )
    .option('--tenant <id>', 'only registrations of this tenant')
    .option('--email <address>', 'only registrations of this mailbox (matched through its keyed hash)')
    .addOption(new Option('--platform <platform>', 'only iOS or Android devices').choices([...PLATFORMS]))
    .option('--limit <n>', `registrations per page, 1..${MAX_PAGE}`, pageLimit, 100)
    .option('--after <id>', 'the page after this id (as printed at the end of the previous page)')
    .option('--json', 'print JSON, as the admin API answers')
    .action(async (options: ListOptions) => {
      const filter: InspectFilter = {
        ...(options.state ? { state: options.state } : {}),
        ...(options.tenant ? { tenantId: options.tenant } : {}),
        ...(options.email ? { email: options.email } : {}),
        ...(options.platform ? { platform: options.platform } : {}),
      };
      const page = await withInspector(options, (inspector) =>
        inspector.list(filter, {
          limit: options.limit,
          ...(options.after ? { afterId: options.after } : {}),
        }),
      );
      if (options.json) {
        printJson(page);
        return;
      }
      process.stdout.write(`${formatList(page)}\n`);
      if (page.next !== null) {
        process.stderr.write(`more: add --after ${page.next} for the next page\n`);
      }
    });

  withConfigOption(registrations.command('show <id>'))
    .description('one registration: its health explained, outbox counts and its last deliveries')
    .option('--json', 'print JSON, as the admin API answers')
    .action(async (id: string, options: { config?: string; json?: boolean }) => {
      const detail = await withInspector(options, (inspector) => inspector.show(id));
      if (!detail) {
        throw new HeraldError('registration_not_found', { message: `registration ${id} not found` });
      }
      if (options.json) printJson(detail);
      else process.stdout.write(`${formatDetail(detail)}\n`);
    });

  return registrations;
}
