import { Command } from 'commander';
import { formatConfig } from '../config/index.ts';
import { configFrom, withConfigOption } from './common.ts';

export function configCommand(): Command {
  const config = new Command('config').description('inspect the configuration');
  withConfigOption(config.command('print'))
    .description('print the effective configuration (file + HERALD_* environment), secrets hidden')
    .option('--format <format>', 'yaml or json', 'yaml')
    .action((options: { config?: string; format: string }) => {
      if (options.format !== 'yaml' && options.format !== 'json') {
        throw new Error(`--format must be yaml or json, not "${options.format}"`);
      }
      process.stdout.write(formatConfig(configFrom(options), options.format));
    });
  return config;
}
