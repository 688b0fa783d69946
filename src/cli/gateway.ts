/**
 * `herald gateway [--config FILE]`: runs the secure email gateway (docs/gateway.md) until SIGTERM
 * or SIGINT; `herald gateway rule add|list|remove` manages its compliance rules (gateway-rules.ts).
 */
import { Command } from 'commander';
import { createGatewayService } from '../service/gateway-service.ts';
import { configFrom, withConfigOption } from './common.ts';
import { addGatewayRuleCommand } from './gateway-rules.ts';

/** After SIGTERM: long polls are cut (devices reconnect), so closing takes a moment only. */
const SHUTDOWN_DEADLINE_MS = 10_000;

export function gatewayCommand(): Command {
  const gateway = withConfigOption(new Command('gateway'))
    .description('run the secure email gateway for ActiveSync and EWS (or manage its compliance rules)')
    .action(async (options: { config?: string }) => {
      const config = configFrom(options);
      const service = await createGatewayService(config);
      if (!process.execArgv.some((flag) => flag.startsWith('--max-semi-space-size'))) {
        service.logger.warn(
          'started without --max-semi-space-size (bin/herald sets it): large transfers will make memory peak higher',
        );
      }
      const { url, adminUrl } = await service.listen();
      const { upstreams, clientCertificates } = config.gateway;
      process.stderr.write(
        [
          `Herald gateway listening on ${url}`,
          `  ActiveSync → ${upstreams.activesync ?? '(not configured)'}`,
          `  EWS        → ${upstreams.ews ?? '(not configured)'}`,
          ...(upstreams.autodiscover ? [`  Autodiscover → ${upstreams.autodiscover}`] : []),
          `  client certificates: ${clientCertificates}`,
          `  metrics and health: ${adminUrl}/metrics, ${adminUrl}/health (bearer token ${service.adminTokenFile ? `in ${service.adminTokenFile}` : 'from admin.apiToken'})`,
          '',
        ].join('\n'),
      );
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        service.logger.info({ signal }, 'gateway shutting down');
        setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
        service.close().then(
          () => process.exit(0),
          (error: unknown) => {
            service.logger.error({ err: error }, 'gateway shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  addGatewayRuleCommand(gateway);
  return gateway;
}
