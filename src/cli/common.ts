import { type Command, InvalidArgumentError } from 'commander';
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

/** Option parsers shared by the subcommands. */
export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is 0..65535');
  return n;
}

export function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Columns padded to their widest cell, two spaces apart (the last column is not padded). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** For repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Keep a server up until SIGINT or SIGTERM, then close it and exit (0 when it closed cleanly).
 * Used by the simulators; main.ts is the only other place that ends the process.
 */
export function closeOnSignal(server: { close(): Promise<void> }): void {
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
