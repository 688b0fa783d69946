/**
 * The gateway's compliance rules (types.ts explains how they are evaluated). The repository
 * refuses a rule the gateway could not apply (no matcher, a user agent that is not a regular
 * expression), so neither the admin API nor the CLI can store one.
 */
import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import { StoreInvalidError } from '../errors.ts';
import type { GatewayRulesTable } from '../schema.ts';
import type { GatewayRule, GatewayRuleRepository, NewGatewayRule } from '../types.ts';
import type { RepositoryContext } from './context.ts';

/** Longest user-agent pattern accepted: the gateway tests it against every request. */
export const USER_AGENT_PATTERN_MAX = 500;
/** Gap left between rules added without a priority, so one can be put between them later. */
export const PRIORITY_STEP = 10;
// `integer` is 32-bit on PostgreSQL.
const INT4_MIN = -(2 ** 31);
const INT4_MAX = 2 ** 31 - 1;

/**
 * Random like the other ids of the store, with a prefix: a bare base64url id may start with
 * `-`, which a command line (`herald gateway rule remove ID`) would take for an option.
 */
function newId(): string {
  return `rule_${randomBytes(16).toString('base64url')}`;
}

function toRule(row: Selectable<GatewayRulesTable>): GatewayRule {
  return {
    id: row.id,
    action: row.action,
    priority: row.priority,
    deviceId: row.device_id,
    deviceType: row.device_type,
    user: row.user_name,
    userAgent: row.user_agent,
    reason: row.reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** undefined/null: not set; otherwise trimmed and non-empty. */
function matcher(name: string, value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const trimmed = value.trim();
  if (trimmed === '') throw new StoreInvalidError(`Gateway rule ${name} is empty: leave it out instead`);
  return trimmed;
}

function userAgentPattern(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  // Not trimmed: a space can be part of the pattern.
  if (value === '') throw new StoreInvalidError('Gateway rule userAgent is empty: leave it out instead');
  if (value.length > USER_AGENT_PATTERN_MAX) {
    throw new StoreInvalidError(
      `Gateway rule userAgent is ${value.length} characters long; at most ${USER_AGENT_PATTERN_MAX} are allowed`,
    );
  }
  try {
    new RegExp(value);
  } catch (error) {
    throw new StoreInvalidError(
      `Gateway rule userAgent is not a valid regular expression: ${(error as Error).message}`,
    );
  }
  return value;
}

function checkPriority(priority: number): number {
  if (!Number.isInteger(priority) || priority < INT4_MIN || priority > INT4_MAX) {
    throw new StoreInvalidError(`Gateway rule priority must be an integer from ${INT4_MIN} to ${INT4_MAX}`);
  }
  return priority;
}

export function gatewayRuleRepository({ db, now }: RepositoryContext) {
  return {
    async add(input: NewGatewayRule): Promise<GatewayRule> {
      if (input.action !== 'allow' && input.action !== 'block') {
        throw new StoreInvalidError(
          `Gateway rule action must be allow or block, not ${JSON.stringify(input.action)}`,
        );
      }
      const deviceId = matcher('deviceId', input.deviceId);
      const deviceType = matcher('deviceType', input.deviceType);
      const user = matcher('user', input.user)?.toLowerCase() ?? null;
      const userAgent = userAgentPattern(input.userAgent);
      if (deviceId === null && deviceType === null && user === null && userAgent === null) {
        throw new StoreInvalidError(
          'A gateway rule needs at least one of deviceId, deviceType, user or userAgent',
        );
      }
      const reason = input.reason.trim();
      if (reason === '') throw new StoreInvalidError('A gateway rule needs a reason');

      let priority: number;
      if (input.priority === undefined) {
        // Two adds at once may both get max + 10; equal priorities are allowed (then the older
        // rule comes first), so no lock is needed.
        const row = await db
          .selectFrom('gateway_rules')
          .select((eb) => eb.fn.max('priority').as('max'))
          .executeTakeFirst();
        const max = row?.max ?? null;
        priority = checkPriority(max === null ? PRIORITY_STEP : Number(max) + PRIORITY_STEP);
      } else {
        priority = checkPriority(input.priority);
      }

      const at = now();
      const inserted = await db
        .insertInto('gateway_rules')
        .values({
          id: newId(),
          action: input.action,
          priority,
          device_id: deviceId,
          device_type: deviceType,
          user_name: user,
          user_agent: userAgent,
          reason,
          created_at: at,
          updated_at: at,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRule(inserted);
    },

    async list(): Promise<GatewayRule[]> {
      const rows = await db
        .selectFrom('gateway_rules')
        .selectAll()
        .orderBy('priority')
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toRule);
    },

    async get(id: string): Promise<GatewayRule | undefined> {
      const row = await db.selectFrom('gateway_rules').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toRule(row);
    },

    async remove(id: string): Promise<boolean> {
      const result = await db.deleteFrom('gateway_rules').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  } satisfies GatewayRuleRepository;
}
