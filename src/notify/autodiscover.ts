/**
 * Autodiscover for the registrations that come without an EWS URL (exchange.autodiscover): the
 * URL found, or a 422 autodiscover_failed; the log names each endpoint (as configured) and its
 * answer, never the mailbox address.
 */
import type { Dispatcher } from 'undici';
import { HeraldError } from '../errors/index.ts';
import { AutodiscoverError, discoverEwsUrl } from '../exchange/autodiscover/index.ts';
import type { Logger } from '../log/index.ts';

/** Autodiscover for registrations without an EWS URL: found, or a 422 naming what each endpoint said. */
export function ewsUrlDiscovery(
  settings: { endpoints: readonly string[]; timeoutSeconds: number },
  context: { userAgent: string; logger: Logger; dispatcher?: Dispatcher },
): (email: string) => Promise<string> {
  return async (email) => {
    try {
      const found = await discoverEwsUrl(email, {
        endpoints: settings.endpoints,
        timeoutMs: settings.timeoutSeconds * 1000,
        userAgent: context.userAgent,
        ...(context.dispatcher ? { dispatcher: context.dispatcher } : {}),
      });
      context.logger.debug({ endpoint: found.endpoint }, 'autodiscover found the EWS URL');
      return found.ewsUrl;
    } catch (error) {
      if (!(error instanceof AutodiscoverError)) throw error;
      // What each endpoint answered goes to the log, not to the device: the answer would tell
      // a caller which hosts behind Herald answer (the domain, and so the endpoint, is theirs).
      context.logger.info({ attempts: error.attempts }, 'autodiscover found no EWS URL');
      throw new HeraldError('autodiscover_failed');
    }
  };
}
