/**
 * Admin API v1: the secure email gateway's compliance rules (docs/admin-api.md, "Gateway
 * compliance rules"), mounted by admin-api.ts under `/api/admin/v1/gateway/rules` behind the
 * admin token. Rules go straight to the store; the gateway reloads them from the database, so
 * a change applies without a restart. What a rule means is documented on GatewayRule.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HeraldError } from '../errors/index.ts';
import {
  type GatewayRule,
  type GatewayRuleRepository,
  StoreInvalidError,
  USER_AGENT_PATTERN_MAX,
} from '../store/index.ts';
import { errorBody } from './schemas.ts';

export interface GatewayRulesApiDeps {
  gatewayRules: GatewayRuleRepository;
}

const isoTime = z.string().describe('ISO 8601');

const rule = z.object({
  id: z.string(),
  action: z.enum(['allow', 'block']),
  priority: z.number().int(),
  deviceId: z.string().nullable(),
  deviceType: z.string().nullable(),
  user: z.string().nullable(),
  userAgent: z.string().nullable(),
  reason: z.string(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

// Lengths: a DeviceId or DeviceType is a short token (MS-ASHTTP 2.2.1.1.1.2), a user a UPN or
// an address (RFC 5321 caps a path at 256 octets; 320 is the usual bound of an address).
// Whether a rule has a matcher and whether the pattern compiles is the store's check.
const newRule = z.strictObject({
  action: z.enum(['allow', 'block']),
  priority: z
    .number()
    .int()
    .min(-(2 ** 31))
    .max(2 ** 31 - 1)
    .optional()
    .describe('Lower first; default: the highest in use + 10'),
  deviceId: z.string().min(1).max(128).nullish(),
  deviceType: z.string().min(1).max(128).nullish(),
  user: z.string().min(1).max(320).nullish(),
  userAgent: z
    .string()
    .min(1)
    .max(USER_AGENT_PATTERN_MAX)
    .nullish()
    .describe('JavaScript regular expression'),
  reason: z.string().min(1).max(500),
});

// Rule ids are `rule_` + base64url; anything else names no rule.
const ruleParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, 'a gateway rule id is base64url'),
});

/** The rule as the API (and `herald gateway rule ... --json`) shows it: times in ISO 8601. */
export function gatewayRuleJson(r: GatewayRule): z.infer<typeof rule> {
  return {
    id: r.id,
    action: r.action,
    priority: r.priority,
    deviceId: r.deviceId,
    deviceType: r.deviceType,
    user: r.user,
    userAgent: r.userAgent,
    reason: r.reason,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

function notFound(id: string): HeraldError {
  return new HeraldError('gateway_rule_not_found', { message: `No gateway rule with id ${id}.` });
}

const errors = { 400: errorBody, 401: errorBody };

export function gatewayRulesApi(deps: GatewayRulesApiDeps): FastifyPluginAsync {
  return async (app) => {
    const api = app.withTypeProvider<ZodTypeProvider>();

    api.get(
      '/gateway/rules',
      {
        schema: {
          hide: true,
          summary: 'The gateway compliance rules in evaluation order',
          response: { 200: z.object({ rules: z.array(rule) }), 401: errorBody },
        },
      },
      async () => ({ rules: (await deps.gatewayRules.list()).map(gatewayRuleJson) }),
    );

    api.post(
      '/gateway/rules',
      {
        schema: {
          hide: true,
          summary: 'Add a gateway compliance rule',
          body: newRule,
          response: { 201: rule, ...errors },
        },
      },
      async (request, reply) => {
        try {
          const added = await deps.gatewayRules.add(request.body);
          return reply.status(201).send(gatewayRuleJson(added));
        } catch (error) {
          // No matcher, a pattern that does not compile: the store's message says which.
          if (error instanceof StoreInvalidError) {
            throw new HeraldError('invalid_request', { message: `${error.message}.` });
          }
          throw error;
        }
      },
    );

    api.get(
      '/gateway/rules/:id',
      {
        schema: {
          hide: true,
          summary: 'One gateway compliance rule',
          params: ruleParams,
          response: { 200: rule, ...errors, 404: errorBody },
        },
      },
      async (request) => {
        const found = await deps.gatewayRules.get(request.params.id);
        if (!found) throw notFound(request.params.id);
        return gatewayRuleJson(found);
      },
    );

    api.delete(
      '/gateway/rules/:id',
      {
        schema: {
          hide: true,
          summary: 'Remove a gateway compliance rule',
          params: ruleParams,
          response: { 204: z.undefined().describe('Removed'), ...errors, 404: errorBody },
        },
      },
      async (request, reply) => {
        if (!(await deps.gatewayRules.remove(request.params.id))) throw notFound(request.params.id);
        return reply.status(204).send(undefined);
      },
    );
  };
}
