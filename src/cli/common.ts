import type { Command } from 'commander';
import { type HeraldConfig, loadConfig } from '../config/index.ts';

export function withConfigOption(command: Command): Command {
  return command.option(
    '-c, --config <file>',
    'config file (YAML); default: $HERALD_CONFIG or embedded defaults',
  );
}

export function configFrom(options: { config?: string }): HeraldConfig {
  return loadConfig({ ...(options.config ? { file: options.config } : {}), env: process.env });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
