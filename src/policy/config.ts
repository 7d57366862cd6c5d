// The [permissions] section of /etc/aios/config.toml: the security mode and the rules.
//
// A rule is a glob pattern. Unprefixed (or `cmd:`) it matches a command as the policy sees it
// after quote removal, with the program's base name first (`rm -rf /tmp/*`); `tool:` matches
// tool names (`tool:fs.*`); `path:` matches every path a call touches, after
// canonicalisation (`path:/etc/shadow`, `path:/srv/**`).
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import * as z from 'zod/mini';

export const MODES = ['safe', 'normal', 'paranoid', 'trusted'] as const;
export type Mode = (typeof MODES)[number];

const rule = z.string().check(z.minLength(1, 'a rule cannot be empty'));
const rules = z._default(z.array(rule), []);

export const permissionsSchema = z.strictObject({
  mode: z._default(z.enum(MODES), 'normal'),
  auto_allow: rules,
  notify: rules,
  require_approval: rules,
  deny: rules,
  /** Paths whose change needs approval in every mode (added to the built-in ones). */
  protected_paths: rules,
  /** How long an approval request waits for an answer before it counts as denied. */
  approval_timeout_seconds: z._default(z.int().check(z.gte(5), z.lte(86_400)), 300),
});

export type Permissions = z.infer<typeof permissionsSchema>;

export const DEFAULT_CONFIG_FILE = '/etc/aios/config.toml';

/**
 * The rules every installation starts with (config rules come first and can tighten them;
 * `trusted` mode still applies the deny list).
 */
export const DEFAULT_DENY = [
  'mkfs*',
  'mke2fs *',
  'wipefs *',
  'mkswap /dev/*',
  'fdisk /dev/*',
  'sfdisk *',
  'parted /dev/*',
  'sgdisk *',
  'dd * of=/dev/*',
  'shred /dev/*',
  'insmod *',
  'rmmod *',
  'modprobe -r *',
  'kexec *',
  'path:/dev/mem',
  'path:/dev/kmem',
  'path:/dev/port',
  'path:/proc/sysrq-trigger',
  'path:/sys/firmware/**',
];

export class ConfigError extends Error {}

/**
 * The tables of a configuration file. A missing file is empty when `missingOk` (by default only
 * for the installed file: a file named on purpose must exist); unreadable or bad TOML is an error.
 */
export function readConfigFile(file: string, options: { missingOk?: boolean } = {}): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && (options.missingOk ?? file === DEFAULT_CONFIG_FILE)) return {};
    throw new ConfigError(`Cannot read the configuration ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`${file} is not valid TOML: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
}

/** One [section] checked by its schema; an error names the file, the key and what was there. */
export function parseSection<T>(schema: z.ZodMiniType<T>, value: unknown, section: string, where: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = [section, ...issue.path.map(String)].join('.');
  const got = issue.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k as string] : undefined), value);
  throw new ConfigError(`${where}: [${key}] ${issue.message}${got === undefined ? '' : `, got \`${JSON.stringify(got)}\``}`);
}

/** Reads the [permissions] section; a missing file gives the defaults, a bad one an error naming the key. */
export function loadPermissions(file: string = DEFAULT_CONFIG_FILE, options: { missingOk?: boolean } = {}): Permissions {
  return parsePermissions(readConfigFile(file, options).permissions ?? {}, file);
}

export function parsePermissions(value: unknown, where: string): Permissions {
  const permissions = parseSection(permissionsSchema, value, 'permissions', where);
  for (const list of ['auto_allow', 'notify', 'require_approval', 'deny', 'protected_paths'] as const) {
    for (const [i, r] of permissions[list].entries()) {
      const prefix = /^([a-z]+):/.exec(r)?.[1];
      if (prefix && !['cmd', 'tool', 'path'].includes(prefix)) {
        throw new ConfigError(`${where}: [permissions.${list}.${i}] unknown rule kind \`${prefix}:\` in \`${r}\` (use cmd:, tool: or path:, or no prefix for a command)`);
      }
    }
  }
  return permissions;
}
