/**
 * `obol token --sub cus_ada --role learner [--role …] [--ttl 3600]`: prints a development token
 * and nothing else on stdout, so `TOKEN=$(obol token …)` works. Every refusal is exit code 2
 * with one clear line on stderr.
 */
import { isObolError } from '../kernel/index.js';
import { ACCESS_ROLES, DEFAULT_DEVELOPMENT_TOKEN_TTL_SECONDS, MAX_DEVELOPMENT_TOKEN_TTL_SECONDS, isAccessRole, signDevelopmentToken, type AccessRole } from '../platform/auth/index.js';
import { ConfigError, type Config } from '../platform/config.js';

/** The lines of `obol --help` for this command; continuation lines align with the other commands' descriptions. */
export const TOKEN_USAGE = [
  'obol token --sub <subject> --role <role> [--role <role> …] [--ttl <seconds>]',
  `${' '.repeat(35)}print a development token (AUTH_MODE=development only) and exit;`,
  `${' '.repeat(35)}roles: ${ACCESS_ROLES.join(', ')}; a learner's subject is their customer id;`,
  `${' '.repeat(35)}--ttl defaults to ${DEFAULT_DEVELOPMENT_TOKEN_TTL_SECONDS}, at most ${MAX_DEVELOPMENT_TOKEN_TTL_SECONDS} seconds (30 days)`,
  `${' '.repeat(35)}e.g. TOKEN=$(obol token --sub cus_ada --role learner)`,
].join('\n  ');

export interface TokenOptions {
  readonly sub: string | undefined;
  /** As given; each may also be a comma-separated list. */
  readonly role: readonly string[] | undefined;
  readonly ttl: string | undefined;
}

export interface TokenCommandArgs {
  readonly config: Config;
  readonly options: TokenOptions;
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
}

export async function tokenCommand(args: TokenCommandArgs): Promise<number> {
  const stdout = args.stdout ?? ((text: string) => void process.stdout.write(text));
  const stderr = args.stderr ?? ((text: string) => void process.stderr.write(text));
  const refuse = (message: string): number => {
    stderr(`obol token: ${message}\n`);
    return 2;
  };
  const { config, options } = args;

  if (config.authMode !== 'development') {
    return refuse(`development tokens need AUTH_MODE=development (now ${config.authMode}); with AUTH_MODE=jwks, get tokens from your identity provider`);
  }
  if (options.sub === undefined || options.sub.trim() === '') return refuse('--sub is required (a learner’s subject is their customer id, such as cus_ada)');
  const roles = (options.role ?? []).flatMap((r) => r.split(',')).map((r) => r.trim()).filter((r) => r !== '');
  if (roles.length === 0) return refuse(`--role is required (one of ${ACCESS_ROLES.join(', ')})`);
  const unknown = roles.filter((r) => !isAccessRole(r));
  if (unknown.length > 0) return refuse(`unknown role ${unknown.map((r) => `"${r}"`).join(', ')} (roles: ${ACCESS_ROLES.join(', ')})`);
  let ttlSeconds: number | undefined;
  if (options.ttl !== undefined) {
    ttlSeconds = /^\d{1,10}$/.test(options.ttl) ? Number(options.ttl) : Number.NaN;
    if (!(ttlSeconds >= 1 && ttlSeconds <= MAX_DEVELOPMENT_TOKEN_TTL_SECONDS)) {
      return refuse(`--ttl must be a whole number of seconds from 1 to ${MAX_DEVELOPMENT_TOKEN_TTL_SECONDS} (got "${options.ttl}")`);
    }
  }

  try {
    const token = await signDevelopmentToken({ config, subject: options.sub, roles: [...new Set(roles as AccessRole[])], ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) });
    stdout(`${token}\n`);
    return 0;
  } catch (err) {
    if (isObolError(err)) return refuse(err.message);
    if (err instanceof ConfigError) return refuse(err.problems.join('; '));
    throw err;
  }
}
