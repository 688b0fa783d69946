import { Command, InvalidArgumentError } from 'commander';
import { simExchangeUsage, startExchangeSimulator } from '../sim/exchange/index.ts';
import { closeOnSignal, collect, port, positive } from './common.ts';
import { simApnsCommand } from './sim-apns.ts';
import { simFcmCommand } from './sim-fcm.ts';

interface MailboxSpec {
  email: string;
  password?: string;
  tokens?: string[];
}

/** `alice@contoso.com:secret` (password) — repeated `--token alice@contoso.com:TOKEN` adds bearer tokens. */
function mailboxes(passwords: string[], tokens: string[]): MailboxSpec[] {
  const byEmail = new Map<string, MailboxSpec>();
  const entry = (email: string) => {
    let spec = byEmail.get(email);
    if (!spec) {
      spec = { email };
      byEmail.set(email, spec);
    }
    return spec;
  };
  for (const value of passwords) {
    const at = value.indexOf(':');
    if (at === 0) throw new InvalidArgumentError(`--mailbox takes EMAIL or EMAIL:PASSWORD, not "${value}"`);
    if (at < 0) entry(value);
    else entry(value.slice(0, at)).password = value.slice(at + 1);
  }
  for (const value of tokens) {
    const at = value.indexOf(':');
    if (at <= 0) throw new InvalidArgumentError(`--token takes EMAIL:TOKEN, not "${value}"`);
    const spec = entry(value.slice(0, at));
    spec.tokens = [...(spec.tokens ?? []), value.slice(at + 1)];
  }
  return [...byEmail.values()];
}

/** `NAME:VALUE` (the value may contain colons). */
function pair(value: string, flag: string): [string, string] {
  const at = value.indexOf(':');
  if (at <= 0 || at === value.length - 1)
    throw new InvalidArgumentError(`${flag} takes NAME:VALUE, not "${value}"`);
  return [value.slice(0, at), value.slice(at + 1)];
}

export function simCommand(): Command {
  const sim = new Command('sim').description(
    'simulators of Exchange, APNs and FCM for app developers and tests',
  );
  sim
    .command('exchange')
    .description(
      'an Exchange Web Services push-notification and Microsoft Graph change-notification simulator',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free port)', port, 8090)
    .option(
      '--clock-speed <factor>',
      'run the simulated clock this many times faster than real time (default 1)',
      positive,
    )
    .option('--manual-clock', 'time moves only through POST /sim/clock/advance')
    .option('--mailbox <email[:password]>', 'create a mailbox (repeatable)', collect, [])
    .option('--token <email:token>', 'accept a bearer token for a mailbox (repeatable)', collect, [])
    .option('--graph-tenant <guid>', 'the simulated Entra tenant id (default: random)')
    .option(
      '--graph-app <clientId:secret>',
      'register a Graph app (client credentials, Mail.Read on every mailbox; repeatable)',
      collect,
      [],
    )
    .option(
      '--graph-token <email:token>',
      'accept a delegated Graph bearer token (Mail.Read) for a mailbox (repeatable)',
      collect,
      [],
    )
    .option('--graph-https-only', 'refuse http notification URLs, loopback ones included (as Graph does)')
    .addHelpText('after', `\n${simExchangeUsage}`)
    .action(
      async (options: {
        host: string;
        port: number;
        clockSpeed?: number;
        manualClock?: boolean;
        mailbox: string[];
        token: string[];
        graphTenant?: string;
        graphApp: string[];
        graphToken: string[];
        graphHttpsOnly?: boolean;
      }) => {
        if (options.manualClock && options.clockSpeed) {
          throw new InvalidArgumentError('--manual-clock and --clock-speed exclude each other');
        }
        // The simulator prints where it listens through `log`.
        const sim = await startExchangeSimulator({
          host: options.host,
          port: options.port,
          clock: options.manualClock
            ? { mode: 'manual' }
            : { mode: 'speed', factor: options.clockSpeed ?? 1 },
          mailboxes: mailboxes(
            [...options.mailbox, ...options.graphToken.map((t) => pair(t, '--graph-token')[0])],
            options.token,
          ),
          graph: {
            tenantId: options.graphTenant,
            apps: options.graphApp.map((value) => {
              const [clientId, secret] = pair(value, '--graph-app');
              return { clientId, secret };
            }),
            tokens: options.graphToken.map((value) => {
              const [email, token] = pair(value, '--graph-token');
              return { email, token };
            }),
            allowHttpLoopback: !options.graphHttpsOnly,
          },
          log: (line) => process.stderr.write(`${line}\n`),
        });
        closeOnSignal(sim);
      },
    );
  sim.addCommand(simApnsCommand());
  sim.addCommand(simFcmCommand());
  return sim;
}
