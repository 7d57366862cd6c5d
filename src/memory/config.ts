// The [memory] section of /etc/aios/config.toml: how long memories are kept.
//
//   [memory]
//   operational_max_days = 30      # operational memories older than this become summaries
//   operational_max_rows = 100000  # and the oldest beyond this many
//   working_max_hours = 24         # working memories older than this are cleared
import * as z from 'zod/mini';
import { DEFAULT_CONFIG_FILE, parseSection, readConfigFile } from '../policy/config.ts';
import type { RetentionPolicy } from './store.ts';

export const memoryConfigSchema = z.strictObject({
  operational_max_days: z._default(z.int().check(z.gte(1), z.lte(36_500)), 30),
  operational_max_rows: z._default(z.int().check(z.gte(1)), 100_000),
  working_max_hours: z._default(z.int().check(z.gte(1)), 24),
});

export type MemoryConfig = z.infer<typeof memoryConfigSchema>;

/** Reads [memory]; a missing default file gives the defaults, a bad value an error naming the key. */
export function loadMemoryConfig(file: string = DEFAULT_CONFIG_FILE, options: { missingOk?: boolean } = {}): RetentionPolicy {
  return parseMemoryConfig(readConfigFile(file, options).memory ?? {}, file);
}

export function parseMemoryConfig(value: unknown, where: string): RetentionPolicy {
  const c = parseSection(memoryConfigSchema, value, 'memory', where);
  return { operationalMaxDays: c.operational_max_days, operationalMaxRows: c.operational_max_rows, workingMaxHours: c.working_max_hours };
}
