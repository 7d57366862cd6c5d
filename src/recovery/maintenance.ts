// The maintenance service's work: a periodic snapshot when one is due ([snapshots]
// interval_minutes, pruned to keep_automatic), and memory retention ([memory]). It runs as its
// own supervised process (`aios maintain`), never inside PID 1: a snapshot of /etc reads and
// compresses for seconds.
import { existsSync } from 'node:fs';
import { loadMemoryConfig } from '../memory/config.ts';
import { MemoryStore } from '../memory/store.ts';
import type { RecoveryContext } from './recovery.ts';
import { takeSnapshot, settingsFor } from './recovery.ts';
import { listSnapshots } from './snapshots.ts';

export const PERIODIC_DESCRIPTION = 'periodic snapshot';

export interface MaintenanceReport {
  at: string;
  /** The periodic snapshot taken now, or why none was. */
  snapshot: { taken: string } | { skipped: string };
  memory: Record<string, unknown> | { skipped: string };
}

/** When the next periodic snapshot is due, or null when they are turned off. */
export function nextPeriodic(context: RecoveryContext): Date | null {
  const { interval_minutes: minutes } = settingsFor(context);
  if (minutes === 0) return null;
  const last = listSnapshots(context.stateDir)
    .filter((s) => s.ok && s.metadata.trigger === 'automatic' && s.metadata.description === PERIODIC_DESCRIPTION)
    .at(-1);
  if (!last || !last.ok) return new Date(0);
  return new Date(Date.parse(last.metadata.created_at) + minutes * 60_000);
}

export async function maintainOnce(context: RecoveryContext, options: { now?: Date; retainMemory?: () => Record<string, unknown> } = {}): Promise<MaintenanceReport> {
  const now = options.now ?? new Date();
  const due = nextPeriodic(context);
  let snapshot: MaintenanceReport['snapshot'];
  if (due === null) snapshot = { skipped: 'periodic snapshots are off ([snapshots] interval_minutes = 0)' };
  else if (due > now) snapshot = { skipped: `the next one is due at ${due.toISOString()}` };
  else snapshot = { taken: (await takeSnapshot(context, { trigger: 'automatic', description: PERIODIC_DESCRIPTION })).id };
  let memory: MaintenanceReport['memory'] = { skipped: 'no memory database' };
  if (options.retainMemory) {
    try {
      memory = options.retainMemory();
    } catch (error) {
      memory = { skipped: `retention failed: ${(error as Error).message}` };
    }
  }
  return { at: now.toISOString(), snapshot, memory };
}

/** Memory retention per [memory] (summaries into long-term, expiry, working memory cleared). */
export function retainMemory(context: { stateDir: string; configFile: string }): Record<string, unknown> {
  const file = MemoryStore.pathIn(context.stateDir);
  if (!existsSync(file)) return { skipped: 'no memory database yet' };
  const policy = loadMemoryConfig(context.configFile);
  const store = MemoryStore.open(file);
  try {
    return { ...store.retain(policy) };
  } finally {
    store.close();
  }
}

/** One round with the memory database open for recording (closed again: nothing held between rounds). */
export async function maintainRound(context: Omit<RecoveryContext, 'memory'>): Promise<MaintenanceReport> {
  const file = MemoryStore.pathIn(context.stateDir);
  let memory: MemoryStore | null = null;
  try {
    memory = MemoryStore.open(file);
  } catch {
    // Recorded nowhere then; the snapshot and retention still happen (retention says why not).
  }
  try {
    return await maintainOnce({ ...context, memory }, { retainMemory: () => retainMemory(context) });
  } finally {
    memory?.close();
  }
}
