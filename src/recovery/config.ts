// The [snapshots] section of /etc/aios/config.toml: what a snapshot covers, how many automatic
// ones are kept, and how often one is taken.
import * as z from 'zod/mini';
import { parseSection, readConfigFile } from '../policy/config.ts';

const absolute = z.string().check(z.startsWith('/', 'must be an absolute path'));

export const snapshotsSchema = z.strictObject({
  /** Default: /etc, the state directory, /usr/local. */
  paths: z.optional(z.array(absolute).check(z.minLength(1, 'name at least one path'))),
  /** Left out of every snapshot (the snapshots themselves and aiOS's live databases always are). */
  exclude: z._default(z.array(absolute), []),
  keep_automatic: z._default(z.int().check(z.gte(1), z.lte(10_000)), 24),
  /** Minutes between periodic snapshots; 0 turns them off. */
  interval_minutes: z._default(z.int().check(z.gte(0), z.lte(7 * 24 * 60)), 60),
});

export type SnapshotSettings = Omit<z.infer<typeof snapshotsSchema>, 'paths'> & { paths: string[] };

export function defaultSnapshotPaths(stateDir: string): string[] {
  return ['/etc', stateDir, '/usr/local'];
}

/** The settings from the file (missing file or section: the defaults); errors name the key. */
export function loadSnapshotSettings(file: string, stateDir: string): SnapshotSettings {
  const settings = parseSection(snapshotsSchema, readConfigFile(file).snapshots ?? {}, 'snapshots', file);
  return { ...settings, paths: settings.paths ?? defaultSnapshotPaths(stateDir) };
}
