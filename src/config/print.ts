/**
 * `herald config print`: the effective configuration with secrets hidden (gorush's
 * `SanitizedCopy`, wildduck's `printconf`). What is secret is read from the schema's marks, so a
 * new secret key is hidden the moment it is declared with `secret()`.
 */
import { stringify } from 'yaml';
import { mapMarked } from './meta.ts';
import { configSchema, type HeraldConfig } from './schema.ts';

const hidden = '<hidden>';

/**
 * Hides a URL's credentials: the whole `user:password@` part, or (`password` mode, for database
 * URLs whose user name helps diagnose) only the password, also as a `?password=` parameter.
 */
function hideUrlCredentials(value: string, mode: 'userinfo' | 'password'): string {
  if (!URL.canParse(value)) return hidden; // cannot tell where the secret is: hide it all
  const url = new URL(value);
  const passwordParam = /[?&]password=/i.test(url.search);
  if (url.username === '' && url.password === '' && !passwordParam) return value;
  let userinfo = '';
  if (url.username !== '' || url.password !== '') {
    userinfo = mode === 'userinfo' || url.username === '' ? `${hidden}@` : `${url.username}:${hidden}@`;
    if (mode === 'password' && url.password === '') userinfo = `${url.username}@`;
  }
  // Rebuilt by hand: assigning `<hidden>` to url.password would percent-encode it.
  const search = url.search.replace(/([?&]password=)[^&]*/gi, `$1${hidden}`);
  const path = value.slice(url.protocol.length).startsWith('//') ? '//' : '';
  return `${url.protocol}${path}${userinfo}${url.host}${url.pathname}${search}${url.hash}`;
}

/** A copy of `config` with every secret replaced by `"<hidden>"`. */
export function printableConfig(config: HeraldConfig): Record<string, unknown> {
  return mapMarked(configSchema, config, (kind, value) => {
    if (typeof value !== 'string') return value;
    switch (kind) {
      case 'secret':
        return hidden;
      case 'url-userinfo':
        return hideUrlCredentials(value, 'userinfo');
      case 'database-url':
        return value.startsWith('sqlite:') ? value : hideUrlCredentials(value, 'password');
      default:
        return value;
    }
  }) as Record<string, unknown>;
}

/** The printable configuration as YAML (loadable again, secrets aside) or JSON. */
export function formatConfig(config: HeraldConfig, format: 'yaml' | 'json'): string {
  const printable = printableConfig(config);
  return format === 'json' ? `${JSON.stringify(printable, null, 2)}\n` : stringify(printable);
}
