// Taking and restoring snapshots on behalf of someone (the CLI, a tool call, the maintenance
// service), with what happened remembered in memory and, for restores, in the audit log.
import type { AuditLog } from '../audit/audit-log.ts';
import type { MemoryStore } from '../memory/store.ts';
import { loadSnapshotSettings, type SnapshotSettings } from './config.ts';
import { restoreSnapshot, type RestoreResult } from './restore.ts';
import { formatBytes } from '../tools/sys-tools.ts';
import { createSnapshot, type SnapshotMetadata, type Trigger } from './snapshots.ts';

export interface RecoveryContext {
  stateDir: string;
  configFile: string;
  runDir: string;
  /** Who asks: `user:cli`, `agent:maintenance`, `tier:reactive`… */
  actor: string;
  memory?: MemoryStore | null;
  audit?: AuditLog | null;
  onProgress?(line: string): void;
}

export function settingsFor(context: RecoveryContext): SnapshotSettings {
  return loadSnapshotSettings(context.configFile, context.stateDir);
}

function remember(context: RecoveryContext, content: string, metadata: Record<string, unknown>): void {
  try {
    context.memory?.add({ type: 'snapshot', tier: 'operational', content, source: context.actor, metadata });
  } catch {
    // Memory is a convenience; the snapshot itself is the record.
  }
}

export async function takeSnapshot(
  context: RecoveryContext,
  request: { trigger: Trigger; description?: string; paths?: string[]; tool?: { name: string; args: unknown; actor: string } | null },
): Promise<SnapshotMetadata> {
  const settings = settingsFor(context);
  const metadata = await createSnapshot({
    stateDir: context.stateDir,
    paths: request.paths ?? settings.paths,
    exclude: settings.exclude,
    trigger: request.trigger,
    description: request.description ?? '',
    tool: request.tool ?? null,
    keepAutomatic: settings.keep_automatic,
    onProgress: context.onProgress,
  });
  remember(context, `snapshot ${metadata.id} taken (${metadata.trigger}${metadata.tool ? ` before ${metadata.tool.name}` : ''}): ${metadata.description || metadata.paths.join(', ')}; ${metadata.sizes.files} files, ${formatBytes(metadata.sizes.bytes)}`, {
    snapshot: metadata.id,
    action: 'create',
    trigger: metadata.trigger,
    paths: metadata.paths,
  });
  return metadata;
}

/** Asks PID 1 to re-read the service definitions and restart the services named. */
export async function reloadServicesThroughInit(runDir: string, names: string[]): Promise<string[]> {
  const { initSocketPath, request } = await import('../interfaces/control-client.ts');
  const socket = initSocketPath(runDir);
  await request(socket, { cmd: 'reload' });
  const restarted: string[] = [];
  for (const name of names) {
    try {
      await request(socket, { cmd: 'restart', name });
      restarted.push(name);
    } catch {
      // Removed by the restore, or disabled: the reload already took it into account.
    }
  }
  return restarted;
}

export async function restore(context: RecoveryContext, id: string, options: { dryRun: boolean }): Promise<RestoreResult> {
  const settings = settingsFor(context);
  let result: RestoreResult;
  try {
    result = await restoreSnapshot(id, {
      stateDir: context.stateDir,
      dryRun: options.dryRun,
      keepAutomatic: settings.keep_automatic,
      onProgress: context.onProgress,
      reloadServices: (names) => reloadServicesThroughInit(context.runDir, names),
    });
  } catch (error) {
    if (!options.dryRun) {
      context.audit?.append({ actor: context.actor, tool: 'snapshot.restore', args: { id }, verdict: 'allow', rule: 'cli:explicit', approval: null, result: { code: (error as { code?: string }).code ?? 'EFAILED', message: (error as Error).message }, status: 'error' });
    }
    throw error;
  }
  if (!options.dryRun) {
    const summary = { changes: result.diff.changes.length, safety: result.safety, services: result.services, problems: result.problems };
    context.audit?.append({ actor: context.actor, tool: 'snapshot.restore', args: { id }, verdict: 'allow', rule: 'cli:explicit', approval: null, result: summary, status: 'ok' });
    remember(context, `snapshot ${id} restored: ${result.diff.changes.length} changes${result.safety ? `; the state before is snapshot ${result.safety}` : ''}${result.problems.length ? `; problems: ${result.problems.join('; ')}` : ''}`, {
      snapshot: id,
      action: 'restore',
      safety: result.safety,
      changed: result.diff.changes.slice(0, 100).map((c) => c.path),
    });
  }
  return result;
}
