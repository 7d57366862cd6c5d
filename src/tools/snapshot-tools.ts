// snapshot.*: the recovery subsystem as tools, so that a model or an agent can keep and put back
// the machine's state through the pipeline (restore needs approval: it changes files anywhere
// the snapshot reaches, and takes its own safety snapshot first).
import * as z from 'zod/mini';
import { locations } from '../policy/setup.ts';
import type { RecoveryContext } from '../recovery/recovery.ts';
import { absolutePath } from './fs-tools.ts';
import { defineTool, ToolError, type ToolContext } from './tool.ts';

const snapshotId = z.string().check(z.regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'a snapshot id is 26 characters (0-9 and capitals), as snapshot.list shows'));

function recoveryContext(context: ToolContext): RecoveryContext {
  return { stateDir: context.stateDir, runDir: context.runDir, configFile: locations().configFile, actor: 'tool', memory: null, audit: null };
}

/** The recovery code's errors as tool errors a model can act on. */
async function recovering<T>(tool: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new ToolError(typeof code === 'string' ? code : 'EFAILED', `${tool}: ${(error as Error).message}`);
  }
}

const summarySchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  trigger: z.string(),
  description: z.string(),
  paths: z.array(z.string()),
  files: z.number(),
  bytes: z.number(),
  tool: z.nullable(z.string()),
});

export const snapshotListTool = defineTool({
  name: 'snapshot.list',
  description: 'The snapshots kept on this machine, oldest first: id, time, trigger (manual, automatic, before-tool), description, paths, size, and the tool call a before-tool snapshot was taken for.',
  input: z.strictObject({ limit: z._default(z.int().check(z.gte(1), z.lte(500)), 50) }),
  output: z.object({ snapshots: z.array(summarySchema), unreadable: z.array(z.object({ id: z.string(), error: z.string() })) }),
  capability: 'snapshot.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 30_000,
  undo: 'none',
  async run(input, context) {
    const { listSnapshots } = await import('../recovery/snapshots.ts');
    const listed = listSnapshots(context.stateDir).slice(-input.limit);
    return {
      snapshots: listed.flatMap((s) =>
        s.ok
          ? [{ id: s.id, createdAt: s.metadata.created_at, trigger: s.metadata.trigger, description: s.metadata.description, paths: s.metadata.paths, files: s.metadata.sizes.files, bytes: s.metadata.sizes.bytes, tool: s.metadata.tool?.name ?? null }]
          : [],
      ),
      unreadable: listed.flatMap((s) => (s.ok ? [] : [{ id: s.id, error: s.error }])),
    };
  },
  render(output) {
    if (output.snapshots.length === 0 && output.unreadable.length === 0) return 'No snapshots yet.';
    return [
      ...output.snapshots.map((s) => `${s.id}  ${s.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}  ${s.trigger.padEnd(11)}  ${s.files} files  ${s.description || (s.tool ? `before ${s.tool}` : s.paths.join(', '))}`),
      ...output.unreadable.map((s) => `${s.id}  unreadable: ${s.error}`),
    ].join('\n');
  },
});

export const snapshotCreateTool = defineTool({
  name: 'snapshot.create',
  description: 'Take a manual snapshot now of the configured paths (/etc, the state directory, /usr/local by default) or of the paths given, to restore later with snapshot.restore.',
  input: z.strictObject({
    description: z._default(z.string().check(z.maxLength(200, 'the description is at most 200 characters')), ''),
    paths: z.optional(z.array(absolutePath).check(z.minLength(1), z.maxLength(20, 'at most 20 paths'))),
  }),
  output: z.object({ id: z.string(), files: z.number(), bytes: z.number(), stored: z.number(), method: z.string() }),
  capability: 'snapshot.create',
  effects: ['writes'],
  risk: 'low',
  timeoutMs: 600_000,
  undo: 'none',
  async run(input, context) {
    const { takeSnapshot } = await import('../recovery/recovery.ts');
    const metadata = await recovering('snapshot.create', () => takeSnapshot(recoveryContext(context), { trigger: 'manual', description: input.description, paths: input.paths }));
    return { id: metadata.id, files: metadata.sizes.files, bytes: metadata.sizes.bytes, stored: metadata.sizes.stored, method: metadata.data.method };
  },
  render: (o) => `snapshot ${o.id}: ${o.files} files, ${o.bytes} bytes (${o.method === 'archive' ? `${o.stored} bytes compressed` : 'reflinked'})`,
});

const changeSchema = z.object({ path: z.string(), kind: z.string(), detail: z.string() });

export const snapshotDiffTool = defineTool({
  name: 'snapshot.diff',
  description: 'What restoring a snapshot would change now (files recreated, removed, changed, owners and modes; packages), without changing anything.',
  input: z.strictObject({ id: snapshotId, limit: z._default(z.int().check(z.gte(1), z.lte(1000)), 200) }),
  output: z.object({ total: z.number(), changes: z.array(changeSchema), packages: z.nullable(z.object({ install: z.array(z.string()), remove: z.array(z.string()), missing: z.array(z.string()) })), packagesNote: z.nullable(z.string()) }),
  capability: 'snapshot.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 300_000,
  undo: 'none',
  async run(input, context) {
    const [{ loadSnapshot }, { diffSnapshot }] = await Promise.all([import('../recovery/snapshots.ts'), import('../recovery/restore.ts')]);
    const diff = await recovering('snapshot.diff', async () => diffSnapshot(loadSnapshot(context.stateDir, input.id)));
    return {
      total: diff.changes.length,
      changes: diff.changes.slice(0, input.limit),
      packages: diff.packages ? { install: diff.packages.install.map((p) => `${p.name} ${p.version}`), remove: diff.packages.remove, missing: diff.packages.missing.map((p) => `${p.name} ${p.version}`) } : null,
      packagesNote: diff.packagesNote,
    };
  },
  render(o) {
    const lines = o.total === 0 ? ['Restoring it would change no file.'] : [`Restoring it would change ${o.total}:`, ...o.changes.map((c) => `  ${c.kind.padEnd(10)} ${c.path}  (${c.detail})`)];
    if (o.total > o.changes.length) lines.push(`  … and ${o.total - o.changes.length} more`);
    if (o.packages) lines.push(`packages: reinstall ${o.packages.install.join(', ') || 'none'}; remove ${o.packages.remove.join(', ') || 'none'}${o.packages.missing.length ? `; not in the cache: ${o.packages.missing.join(', ')}` : ''}`);
    else if (o.packagesNote) lines.push(`packages: ${o.packagesNote}`);
    return lines.join('\n');
  },
});

export const snapshotRestoreTool = defineTool({
  name: 'snapshot.restore',
  description: 'Put a snapshot back: checksums verified first (a corrupt one is refused), a safety snapshot of what will change is taken (restoring it undoes this), then packages, files and databases are restored and changed services reloaded. See snapshot.diff first.',
  input: z.strictObject({ id: snapshotId }),
  output: z.object({ id: z.string(), safety: z.nullable(z.string()), changes: z.number(), services: z.array(z.string()), problems: z.array(z.string()) }),
  capability: 'snapshot.restore',
  effects: ['writes', 'destructive'],
  risk: 'high',
  timeoutMs: 1_800_000,
  // It takes its own safety snapshot, of exactly what it changes.
  undo: 'none',
  async run(input, context) {
    const [{ restoreSnapshot }, { reloadServicesThroughInit }] = await Promise.all([import('../recovery/restore.ts'), import('../recovery/recovery.ts')]);
    const result = await recovering('snapshot.restore', () =>
      restoreSnapshot(input.id, { stateDir: context.stateDir, reloadServices: (names) => reloadServicesThroughInit(context.runDir, names) }),
    );
    return { id: result.id, safety: result.safety, changes: result.diff.changes.length, services: result.services, problems: result.problems };
  },
  render: (o) =>
    [
      o.safety ? `Restored ${o.id}: ${o.changes} changes; snapshot ${o.safety} holds the state from before.` : `Nothing to restore: this machine already matches ${o.id}.`,
      ...(o.services.length ? [`Restarted: ${o.services.join(', ')}`] : []),
      ...o.problems.map((p) => `warning: ${p}`),
    ].join('\n'),
});

export const SNAPSHOT_TOOLS = [snapshotListTool, snapshotCreateTool, snapshotDiffTool, snapshotRestoreTool];
