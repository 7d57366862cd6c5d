// `aios snapshot [-d DESC]`, `aios snapshot show|diff|delete ID`, `aios snapshots`,
// `aios restore ID [--dry-run]`: snapshots in the state directory, worked on directly (the
// runtime need not be running; a restore asks it to reload services when it is).
import type { Diff } from '../../recovery/restore.ts';
import type { RecoveryContext } from '../../recovery/recovery.ts';
import type { SnapshotMetadata } from '../../recovery/snapshots.ts';
import { confirm, table, UsageError, type Command, type ParsedArgs } from './command.ts';

const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  state: { type: 'string' },
  config: { type: 'string' },
} as const;

const COMMON_HELP = `  --json         machine-readable output
  --state DIR    the state directory holding snapshots/ (default $AIOS_STATE_DIR or /var/lib/aios)
  --config FILE  the configuration with [snapshots] (default $AIOS_CONFIG or /etc/aios/config.toml)`;

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function context(args: ParsedArgs, options: { withMemory?: boolean; withAudit?: boolean } = {}): Promise<RecoveryContext & { close(): void }> {
  const { locations } = await import('../../policy/setup.ts');
  const where = locations({ state: args.values.state, config: args.values.config, run: args.values.run });
  const quiet = args.values.json === true;
  let memory: RecoveryContext['memory'] = null;
  let audit: RecoveryContext['audit'] = null;
  if (options.withMemory) {
    try {
      const { MemoryStore } = await import('../../memory/store.ts');
      memory = MemoryStore.open(MemoryStore.pathIn(where.stateDir));
    } catch (error) {
      process.stderr.write(`aios: the memory database cannot be opened (${(error as Error).message}); going on without recording this in memory\n`);
    }
  }
  if (options.withAudit) {
    const { openAudit } = await import('../../policy/setup.ts');
    const opened = openAudit(where);
    if (opened.warning) process.stderr.write(`aios: ${opened.warning}\n`);
    audit = opened.log;
  }
  return {
    ...where,
    actor: 'user:cli',
    memory,
    audit,
    onProgress: quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
    close: () => {
      memory?.close();
      audit?.close();
    },
  };
}

/** The metadata without the per-file entries, which `show --json` adds back. */
function summary(metadata: SnapshotMetadata): Record<string, unknown> {
  const { entries, ...rest } = metadata;
  return { ...rest, entries: entries.length, packages: metadata.packages?.length ?? null };
}

function when(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

async function sizeText(bytes: number): Promise<string> {
  const { formatBytes } = await import('../../tools/sys-tools.ts');
  return formatBytes(bytes);
}

const MARK: Record<string, string> = { recreate: '+', remove: '-', content: '~', attributes: '*', type: '!' };

function printDiff(diff: Diff, lead: string): void {
  if (diff.changes.length === 0) process.stdout.write(`${lead}: no file differs.\n`);
  else {
    process.stdout.write(`${lead}: ${diff.changes.length} change${diff.changes.length === 1 ? '' : 's'}\n`);
    for (const change of diff.changes) process.stdout.write(`  ${MARK[change.kind]} ${change.path}  (${change.detail})\n`);
    process.stdout.write('  + recreated, - removed, ~ content put back, * owner/mode put back, ! type changed\n');
  }
  if (diff.packages) {
    const p = diff.packages;
    if (p.install.length + p.remove.length + p.missing.length === 0) process.stdout.write('packages: the same set\n');
    for (const pkg of p.install) process.stdout.write(`  package ${pkg.name} ${pkg.version}: reinstalled from ${pkg.file}\n`);
    for (const name of p.remove) process.stdout.write(`  package ${name}: removed (installed since)\n`);
    for (const pkg of p.missing) process.stdout.write(`  package ${pkg.name} ${pkg.version}: cannot be put back (not in the pacman cache)\n`);
  } else if (diff.packagesNote) {
    process.stdout.write(`packages: not compared: ${diff.packagesNote}\n`);
  }
}

/** Errors of the recovery code come back as one line naming what to do, and status 1. */
async function reporting(name: string, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const { SnapshotError } = await import('../../recovery/snapshots.ts');
    const { ConfigError } = await import('../../policy/config.ts');
    if (error instanceof SnapshotError || error instanceof ConfigError) {
      process.stderr.write(`aios ${name}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

export const snapshotCommand: Command = {
  name: 'snapshot',
  summary: 'Take a snapshot now, or show, compare or delete one.',
  usage: 'aios snapshot [-d DESC] | show ID | diff ID | delete ID [--yes]  [--json] [--state DIR] [--config FILE]',
  help: `With no subcommand, takes a manual snapshot of the configured paths ([snapshots] paths:
/etc, the state directory and /usr/local by default) and prints its id. Manual snapshots are
kept until deleted; automatic ones (hourly, and before risky tool calls) are pruned.

Subcommands:
  show ID        what the snapshot holds: when, why, paths, sizes, packages (--json: all of it,
                 with every entry's owner, mode and checksum)
  diff ID        what restoring it would change now (the same as aios restore ID --dry-run)
  delete ID      remove a snapshot (asks on a terminal, else needs --yes)
Options:
  -d, --description DESC   why this snapshot was taken
  --path PATH              snapshot this path instead of the configured ones (repeatable)
  --yes                    do not ask (delete)
${COMMON_HELP}
Examples:
  aios snapshot -d "before upgrading nginx"
  aios snapshot diff 01JD3Q6M8W5N2X4YB7C9E0FGHK`,
  options: { ...COMMON_OPTIONS, description: { type: 'string', short: 'd' }, path: { type: 'string', multiple: true }, yes: { type: 'boolean' } },
  run: (args) =>
    reporting('snapshot', async () => {
      const [sub, id, ...extra] = args.positionals;
      if (extra.length) throw new UsageError(`Unexpected ${extra.map((e) => `\`${e}\``).join(' ')}.\nUsage: ${snapshotCommand.usage}`);
      if (sub === undefined) {
        const ctx = await context(args, { withMemory: true });
        try {
          const { takeSnapshot } = await import('../../recovery/recovery.ts');
          const paths = args.values.path as string[] | undefined;
          if (paths?.some((p) => !p.startsWith('/'))) throw new UsageError(`Expected --path to be absolute, got \`${paths.find((p) => !p.startsWith('/'))}\`.`);
          const metadata = await takeSnapshot(ctx, { trigger: 'manual', description: args.values.description as string | undefined, paths });
          if (args.values.json) print(summary(metadata));
          else process.stdout.write(`${metadata.id}\n`);
          return 0;
        } finally {
          ctx.close();
        }
      }
      if (!['show', 'diff', 'delete'].includes(sub)) throw new UsageError(`Unknown subcommand \`${sub}\` (show, diff or delete; no subcommand takes a snapshot).\nUsage: ${snapshotCommand.usage}`);
      if (!id) throw new UsageError(`aios snapshot ${sub} needs a snapshot id; see \`aios snapshots\`.`);
      const ctx = await context(args);
      try {
        const { loadSnapshot, deleteSnapshot } = await import('../../recovery/snapshots.ts');
        const metadata = loadSnapshot(ctx.stateDir, id);
        if (sub === 'show') {
          if (args.values.json) {
            print(metadata);
            return 0;
          }
          const lines = [
            `id           ${metadata.id}`,
            `created      ${when(metadata.created_at)}`,
            `trigger      ${metadata.trigger}${metadata.tool ? ` (before ${metadata.tool.name} by ${metadata.tool.actor}: ${JSON.stringify(metadata.tool.args).slice(0, 200)})` : ''}`,
            `description  ${metadata.description || '-'}`,
            `paths        ${metadata.paths.join(', ')}`,
            `excluded     ${metadata.excluded.join(', ')}`,
            `files        ${metadata.sizes.files} (${await sizeText(metadata.sizes.bytes)}), ${metadata.entries.length} entries in all`,
            `stored       ${metadata.data.method === 'archive' ? `${metadata.data.file}, ${await sizeText(metadata.data.bytes)}, sha256 ${metadata.data.sha256}` : 'reflinked copies (copy-on-write)'}`,
            `packages     ${metadata.packages ? `${metadata.packages.length} installed` : 'not recorded (no pacman)'}`,
            `host         ${metadata.host}`,
          ];
          if (metadata.skipped.length) lines.push(`not kept     ${metadata.skipped.map((s) => `${s.path} (${s.why})`).join('; ')}`);
          process.stdout.write(`${lines.join('\n')}\n`);
          return 0;
        }
        if (sub === 'diff') {
          const { diffSnapshot } = await import('../../recovery/restore.ts');
          const diff = await diffSnapshot(metadata);
          if (args.values.json) print(diff);
          else printDiff(diff, `restoring ${id} would change`);
          return 0;
        }
        if (!args.values.yes) {
          if (!process.stdin.isTTY) throw new UsageError('Deleting a snapshot needs --yes when there is no terminal to ask on.');
          if (!(await confirm(`Delete snapshot ${id} (${metadata.trigger}, ${when(metadata.created_at)})?`))) {
            process.stderr.write('Nothing deleted.\n');
            return 1;
          }
        }
        deleteSnapshot(ctx.stateDir, id);
        if (args.values.json) print({ deleted: id });
        else process.stdout.write(`deleted ${id}\n`);
        return 0;
      } finally {
        ctx.close();
      }
    }),
};

export const snapshotsCommand: Command = {
  name: 'snapshots',
  summary: 'List the snapshots, oldest first.',
  usage: 'aios snapshots [--json] [--state DIR]',
  help: `Options:
  --json         an array of { id, created_at, trigger, description, paths, files, bytes, stored,
                 method, tool }; a snapshot whose metadata is unreadable appears as { id, error }
  --state DIR    the state directory holding snapshots/ (default $AIOS_STATE_DIR or /var/lib/aios)`,
  options: { json: { type: 'boolean' }, state: { type: 'string' } },
  run: (args) =>
    reporting('snapshots', async () => {
      if (args.positionals.length) throw new UsageError(`Unexpected \`${args.positionals[0]}\`. To see one snapshot: aios snapshot show ID.`);
      const { listSnapshots } = await import('../../recovery/snapshots.ts');
      const stateDir = (args.values.state as string | undefined) ?? process.env.AIOS_STATE_DIR ?? '/var/lib/aios';
      const listed = listSnapshots(stateDir);
      if (args.values.json) {
        print(
          listed.map((s) =>
            s.ok
              ? {
                  id: s.id,
                  created_at: s.metadata.created_at,
                  trigger: s.metadata.trigger,
                  description: s.metadata.description,
                  paths: s.metadata.paths,
                  files: s.metadata.sizes.files,
                  bytes: s.metadata.sizes.bytes,
                  stored: s.metadata.sizes.stored,
                  method: s.metadata.data.method,
                  tool: s.metadata.tool?.name ?? null,
                }
              : { id: s.id, error: s.error },
          ),
        );
        return 0;
      }
      if (listed.length === 0) {
        process.stdout.write('No snapshots yet. Take one with `aios snapshot -d "why"`.\n');
        return 0;
      }
      const rows = [['ID', 'CREATED', 'TRIGGER', 'FILES', 'SIZE', 'DESCRIPTION']];
      for (const s of listed) {
        if (!s.ok) rows.push([s.id, '?', '?', '?', '?', `unreadable: ${s.error}`]);
        else rows.push([s.id, when(s.metadata.created_at), s.metadata.trigger, String(s.metadata.sizes.files), await sizeText(s.metadata.sizes.bytes), s.metadata.description || (s.metadata.tool ? `before ${s.metadata.tool.name}` : '')]);
      }
      process.stdout.write(`${table(rows)}\n`);
      return 0;
    }),
};

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'Put a snapshot back (checksums verified, changes shown, the current state kept first).',
  usage: 'aios restore ID [--dry-run] [--yes] [--json] [--state DIR] [--config FILE] [--run DIR]',
  help: `Checks every checksum of the snapshot (a corrupt one is refused with nothing changed),
shows what will change, takes a safety snapshot of how things are now, then puts back the
package set (from the pacman cache, where there is pacman), the files with their owners, modes
and links, and databases through SQLite; finally asks PID 1 to reload services whose
definitions changed. To undo a restore, restore the safety snapshot it names.

Options:
  --dry-run      only show what would change
  --yes          do not ask (needed without a terminal)
  --run DIR      PID 1's run directory, for reloading services (default $AIOS_RUN_DIR or /run/aios)
${COMMON_HELP}`,
  options: { ...COMMON_OPTIONS, 'dry-run': { type: 'boolean' }, yes: { type: 'boolean' }, run: { type: 'string' } },
  run: (args) =>
    reporting('restore', async () => {
      const [id, ...extra] = args.positionals;
      if (!id || extra.length) throw new UsageError(`Name one snapshot to restore; see \`aios snapshots\`.\nUsage: ${restoreCommand.usage}`);
      const dryRun = args.values['dry-run'] === true;
      const { restore } = await import('../../recovery/recovery.ts');
      if (!dryRun && !args.values.yes) {
        if (!process.stdin.isTTY) throw new UsageError('Restoring needs --yes when there is no terminal to ask on (see what would change with --dry-run).');
        const preview = await context(args);
        try {
          const result = await restore(preview, id, { dryRun: true });
          printDiff(result.diff, `restoring ${id} will change`);
        } finally {
          preview.close();
        }
        if (!(await confirm(`Restore snapshot ${id}? (A safety snapshot of the current state is taken first.)`))) {
          process.stderr.write('Nothing restored.\n');
          return 1;
        }
      }
      const ctx = await context(args, { withMemory: !dryRun, withAudit: !dryRun });
      try {
        const result = await restore(ctx, id, { dryRun });
        if (args.values.json) {
          print(result);
          return 0;
        }
        if (dryRun) {
          printDiff(result.diff, `restoring ${id} would change`);
          return 0;
        }
        if (result.safety === null) process.stdout.write(`Nothing to restore: this machine already matches snapshot ${id}.\n`);
        else {
          printDiff(result.diff, `restored ${id}`);
          process.stdout.write(`The state before the restore is snapshot ${result.safety} (aios restore ${result.safety} undoes this).\n`);
        }
        if (result.services.length) process.stdout.write(`Restarted services whose definitions changed: ${result.services.join(', ')}\n`);
        for (const problem of result.problems) process.stdout.write(`warning: ${problem}\n`);
        return result.problems.length ? 1 : 0;
      } finally {
        ctx.close();
      }
    }),
};
