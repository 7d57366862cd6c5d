// The [memory] section of /etc/aios/config.toml: how long memories are kept.
//
//   [memory]
//   operational_max_days = 30      # operational memories older than this become summaries
//   operational_max_rows = 100000  # and the oldest beyond this many
//   working_max_hours = 24         # working memories older than this are cleared
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import * as z from 'zod/mini';
import { ConfigError, DEFAULT_CONFIG_FILE } from '../policy/config.ts';
import type { RetentionPolicy } from './store.ts';

export const memoryConfigSchema = z.strictObject({
  operational_max_days: z._default(z.int().check(z.gte(1), z.lte(36_500)), 30),
  operational_max_rows: z._default(z.int().check(z.gte(1)), 100_000),
  working_max_hours: z._default(z.int().check(z.gte(1)), 24),
});

export type MemoryConfig = z.infer<typeof memoryConfigSchema>;

/** Reads [memory]; a missing default file gives the defaults, a bad value an error naming the key. */
export function loadMemoryConfig(file: string = DEFAULT_CONFIG_FILE, options: { missingOk?: boolean } = {}): RetentionPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && (options.missingOk ?? file === DEFAULT_CONFIG_FILE)) return parseMemoryConfig({}, file);
    throw new ConfigError(`Cannot read the configuration ${file}: ${(error as Error).message}`, { cause: error });
  }
  let toml: Record<string, unknown>;
  try {
    toml = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`${file} is not valid TOML: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  return parseMemoryConfig(toml.memory ?? {}, file);
}

export function parseMemoryConfig(value: unknown, where: string): RetentionPolicy {
  const parsed = memoryConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = ['memory', ...issue.path.map(String)].join('.');
    const got = issue.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k as string] : undefined), value);
    throw new ConfigError(`${where}: [${key}] ${issue.message}${got === undefined ? '' : `, got \`${JSON.stringify(got)}\``}`);
  }
  const c = parsed.data;
  return { operationalMaxDays: c.operational_max_days, operationalMaxRows: c.operational_max_rows, workingMaxHours: c.working_max_hours };
}
