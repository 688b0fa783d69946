#!/usr/bin/env node
/**
 * The `herald` command. The only file allowed to call process.exit: everything else returns or
 * throws, and this file turns that into an exit code and a readable message.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/index.ts';
import { HeraldError } from '../errors/index.ts';
import { GatewayConfigError } from '../gateway/index.ts';
import { isPkiError } from '../pki/index.ts';
import { PushCredentialError } from '../push/index.ts';
import { VERSION } from '../version.ts';
import { caCommand } from './ca.ts';
import { configCommand } from './config.ts';
import { gatewayCommand } from './gateway.ts';
import { registrationsCommand } from './registrations.ts';
import { serveCommand } from './serve.ts';
import { simCommand } from './sim.ts';
import { tenantCommand } from './tenant.ts';

const program = new Command('herald')
  .version(VERSION)
  .description('Herald: Exchange push notifications, secure email gateway and device CA')
  .showHelpAfterError()
  .exitOverride();

program.addCommand(serveCommand());
program.addCommand(configCommand());
program.addCommand(tenantCommand());
program.addCommand(registrationsCommand());
program.addCommand(gatewayCommand());
program.addCommand(caCommand());
program.addCommand(simCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode);
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`herald: ${error.toString()}\n`);
    process.exit(78); // EX_CONFIG
  }
  if (error instanceof GatewayConfigError) {
    // gateway.tls missing, no upstream, an unreadable CA file: what the gateway needs to start.
    process.stderr.write(`herald: ${error.message}\n`);
    process.exit(78);
  }
  if (error instanceof PushCredentialError) {
    // A key file named in the configuration is missing or unusable: a configuration problem too.
    process.stderr.write(`herald: ${error.message}\n`);
    process.exit(78);
  }
  if (error instanceof HeraldError) {
    process.stderr.write(`herald: ${error.message} (${error.code})\n`);
    process.exit(1);
  }
  if (isPkiError(error)) {
    // The CA's messages are written for operators: say it as is, with the stable code.
    process.stderr.write(`herald: ${error.message} (${error.code})\n`);
    process.exit(1);
  }
  process.stderr.write(
    `herald: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
}
