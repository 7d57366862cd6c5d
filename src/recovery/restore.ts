// Putting a snapshot back.
//
// Order, and why:
//   1. verify every checksum (a corrupt snapshot is refused before anything changes);
//   2. compute the changes (what `--dry-run` and `aios snapshot diff` show);
//   3. take a safety snapshot of what will change (so that a restore can itself be undone);
//   4. packages (pacman may rewrite files in /etc, which step 5 then puts back);
//   5. files: each written beside its target and renamed over it, with owner, mode and time;
//      databases through SQLite's backup API into the live file, so that a process holding it
//      open sees the new content at once instead of a file swapped under its WAL;
//   6. reload the services whose definitions changed.
// A failure in 4–5 puts the safety snapshot back and says so.
import { copyFileSync, readdirSync, lchownSync, chmodSync, lstatSync, lutimesSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, type Stats } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { requireRuntimePackage } from '../native/packages.ts';
import { applyPackages, listPackages, planPackages, type PackagePlan } from './packages.ts';
import { blobPath, createSnapshot, loadSnapshot, openVerified, pruneSnapshots, snapshotsDir, SnapshotError, sqliteDigest, type SnapshotMetadata } from './snapshots.ts';
import { isUnder, walk, type TreeEntry } from './tree.ts';

export type ChangeKind =
  /** In the snapshot, gone now: will be recreated. */
  | 'recreate'
  /** Here now, not in the snapshot: will be removed. */
  | 'remove'
  /** Content differs. */
  | 'content'
  /** Same content; owner or mode differ. */
  | 'attributes'
  /** A file became a directory, a link a file, and so on. */
  | 'type';

export interface Change {
  path: string;
  kind: ChangeKind;
  detail: string;
}

export interface Diff {
  changes: Change[];
  packages: PackagePlan | null;
  /** Why packages are not compared, when they are not. */
  packagesNote: string | null;
}

function describeType(entry: TreeEntry): string {
  return entry.type === 'sqlite' ? 'database' : entry.type;
}

function octal(mode: number | undefined): string {
  return (mode ?? 0).toString(8).padStart(4, '0');
}

/** What restoring the snapshot would change on this machine now. */
export async function diffSnapshot(metadata: SnapshotMetadata): Promise<Diff> {
  const now = walk(metadata.paths, { exclude: metadata.excluded, sqliteDigest });
  const current = new Map(now.entries.filter((e) => e.type !== 'absent').map((e) => [e.path, e]));
  const wanted = new Map(metadata.entries.filter((e) => e.type !== 'absent').map((e) => [e.path, e]));
  const changes: Change[] = [];
  for (const entry of wanted.values()) {
    const here = current.get(entry.path);
    if (!here) {
      changes.push({ path: entry.path, kind: 'recreate', detail: `${describeType(entry)} deleted since the snapshot` });
    } else if (here.type !== entry.type) {
      changes.push({ path: entry.path, kind: 'type', detail: `${describeType(here)} now, ${describeType(entry)} in the snapshot` });
    } else if ((entry.type === 'file' || entry.type === 'sqlite') && here.sha256 !== entry.sha256) {
      changes.push({ path: entry.path, kind: 'content', detail: entry.type === 'sqlite' ? 'database content differs' : `${here.size} bytes now, ${entry.size} in the snapshot` });
    } else if (entry.type === 'symlink' && here.target !== entry.target) {
      changes.push({ path: entry.path, kind: 'content', detail: `points to ${here.target} now, to ${entry.target} in the snapshot` });
    } else if (here.uid !== entry.uid || here.gid !== entry.gid || (entry.type !== 'symlink' && here.mode !== entry.mode)) {
      changes.push({ path: entry.path, kind: 'attributes', detail: `${here.uid}:${here.gid} ${octal(here.mode)} now, ${entry.uid}:${entry.gid} ${octal(entry.mode)} in the snapshot` });
    }
  }
  for (const here of current.values()) {
    if (!wanted.has(here.path)) changes.push({ path: here.path, kind: 'remove', detail: `${describeType(here)} created since the snapshot` });
  }
  changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (metadata.packages === null) return { changes, packages: null, packagesNote: 'the snapshot has no package list (no pacman when it was taken)' };
  const installed = await listPackages();
  if (installed === null) return { changes, packages: null, packagesNote: 'there is no pacman here to compare the package set with' };
  return { changes, packages: planPackages(metadata.packages, installed), packagesNote: null };
}

// ---------------------------------------------------------------------------------------------

export interface RestoreOptions {
  stateDir: string;
  dryRun?: boolean;
  /** Services to reload after the files are back: called with the names whose definitions changed. */
  reloadServices?(names: string[]): Promise<string[]>;
  /** The directory of service definitions, to know which services a change touches. */
  servicesDir?: string;
  keepAutomatic?: number;
  onProgress?(line: string): void;
}

export interface RestoreResult {
  id: string;
  dryRun: boolean;
  diff: Diff;
  /** The snapshot of how things were just before, or null for a dry run. */
  safety: string | null;
  /** Services reloaded because their definition changed. */
  services: string[];
  problems: string[];
}

/**
 * One restore at a time: a directory holding the owner's pid, made complete under a private
 * name and renamed into place (a rename onto an existing lock fails), so no one ever sees a
 * lock without its owner.
 */
function lock(stateDir: string): () => void {
  const dir = path.join(snapshotsDir(stateDir), '.restore-lock');
  mkdirSync(snapshotsDir(stateDir), { recursive: true, mode: 0o700 });
  const mine = `${dir}-${process.pid}`;
  rmSync(mine, { recursive: true, force: true });
  mkdirSync(path.join(mine, String(process.pid)), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      renameSync(mine, dir);
      return () => rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') {
        rmSync(mine, { recursive: true, force: true });
        throw error;
      }
      const owner = Number(readOwner(dir));
      if (owner && isAlive(owner)) {
        rmSync(mine, { recursive: true, force: true });
        throw new SnapshotError('EBUSY', `another restore is running (pid ${owner}); wait for it to finish`);
      }
      // Left by a restore that died: taken over.
      rmSync(dir, { recursive: true, force: true });
    }
  }
  rmSync(mine, { recursive: true, force: true });
  throw new SnapshotError('EBUSY', 'another restore is starting; try again');
}

function readOwner(dir: string): string | undefined {
  try {
    return readdirSync(dir)[0];
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function restoreSnapshot(id: string, options: RestoreOptions): Promise<RestoreResult> {
  const progress = options.onProgress ?? (() => {});
  const metadata = loadSnapshot(options.stateDir, id);
  const unlock = lock(options.stateDir);
  try {
    const diff = await diffSnapshot(metadata);
    const needed = new Set(diff.changes.filter((c) => c.kind !== 'remove' && c.kind !== 'attributes').map((c) => c.path));
    // Verified (and unpacked) before anything changes, a dry run included: a corrupt snapshot
    // is found out before anyone decides to restore it.
    const data = await openVerified(options.stateDir, metadata, { onProgress: progress, only: needed });
    try {
      if (options.dryRun) return { id, dryRun: true, diff, safety: null, services: [], problems: [] };
      if (diff.changes.length === 0 && (diff.packages === null || (diff.packages.install.length === 0 && diff.packages.remove.length === 0))) {
        return { id, dryRun: false, diff, safety: null, services: [], problems: [] };
      }
      progress('taking a safety snapshot of how things are now');
      let safety: SnapshotMetadata;
      try {
        safety = await createSnapshot({
          stateDir: options.stateDir,
          // Only what the restore will touch: enough to undo it, and far cheaper than everything.
          paths: outermost(diff.changes.map((c) => c.path)),
          exclude: metadata.excluded,
          trigger: 'automatic',
          description: `safety snapshot before restoring ${id}`,
          // Pruned after the restore: pruning now could remove the snapshot being restored.
          prune: false,
        });
      } catch (error) {
        throw new SnapshotError((error as SnapshotError).code ?? 'EFAILED', `the safety snapshot before restoring could not be taken, so nothing was restored: ${(error as Error).message}`, { cause: error });
      }
      const problems: string[] = [];
      try {
        if (diff.packages && (diff.packages.install.length || diff.packages.remove.length)) {
          progress(`packages: reinstalling ${diff.packages.install.length}, removing ${diff.packages.remove.length}`);
          problems.push(...(await applyPackages(diff.packages)));
        }
        if (diff.packages?.missing.length) {
          problems.push(`not in the pacman cache, so not put back: ${diff.packages.missing.map((p) => `${p.name} ${p.version}`).join(', ')}`);
        }
        progress(`restoring ${diff.changes.length} changes`);
        await applyFiles(metadata, data.root, diff.changes);
      } catch (error) {
        progress(`restore failed (${(error as Error).message}); putting back the safety snapshot ${safety.id}`);
        const back = await openVerified(options.stateDir, safety);
        try {
          await applyFiles(safety, back.root, (await diffSnapshot(safety)).changes);
        } finally {
          back.close();
        }
        throw new SnapshotError('EFAILED', `restoring ${id} failed: ${(error as Error).message}. The files were put back as they were (safety snapshot ${safety.id}).`, { cause: error });
      }
      const services = changedServices(diff.changes, options.servicesDir ?? '/etc/aios/services');
      let reloaded: string[] = [];
      if (services.length && options.reloadServices) {
        try {
          reloaded = await options.reloadServices(services);
        } catch (error) {
          problems.push(`services ${services.join(', ')} changed but could not be reloaded: ${(error as Error).message}`);
        }
      }
      pruneSnapshots(options.stateDir, options.keepAutomatic ?? 24);
      return { id, dryRun: false, diff, safety: safety.id, services: reloaded, problems };
    } finally {
      data.close();
    }
  } finally {
    unlock();
  }
}

/** The paths not inside another one of them. */
function outermost(paths: string[]): string[] {
  const sorted = [...new Set(paths)].sort();
  const kept: string[] = [];
  for (const p of sorted) if (!isUnder(p, kept)) kept.push(p);
  return kept;
}

/** Services whose definition file is among the changes. */
function changedServices(changes: Change[], servicesDir: string): string[] {
  return [...new Set(changes.filter((c) => path.dirname(c.path) === servicesDir && c.path.endsWith('.toml')).map((c) => path.basename(c.path, '.toml')))];
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}

function setAttributes(entry: TreeEntry): void {
  if (entry.uid !== undefined && entry.gid !== undefined) lchownSync(entry.path, entry.uid, entry.gid);
  if (entry.type !== 'symlink' && entry.mode !== undefined) chmodSync(entry.path, entry.mode);
  if (entry.mtimeMs !== undefined) {
    const time = entry.mtimeMs / 1000;
    if (entry.type === 'symlink') lutimesSync(entry.path, time, time);
    else utimesSync(entry.path, time, time);
  }
}

/** A name beside `target` for writing before the rename. */
function besideName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.aios-restore-${process.pid}`);
}

async function restoreDatabase(blob: string, target: string): Promise<void> {
  const Database = requireRuntimePackage<typeof BetterSqlite3>('better-sqlite3');
  const source = new Database(blob, { readonly: true, fileMustExist: true });
  try {
    // Into the live file: SQLite takes the write lock and other connections see the new pages.
    await source.backup(target);
  } finally {
    source.close();
  }
}

async function applyFiles(metadata: SnapshotMetadata, root: string, changes: Change[]): Promise<void> {
  const changed = new Map(changes.map((c) => [c.path, c]));
  // What was created since goes first, deepest first (a directory's children before it).
  const removals = changes.filter((c) => c.kind === 'remove' || c.kind === 'type').map((c) => c.path);
  for (const file of removals.sort((a, b) => b.length - a.length)) rmSync(file, { recursive: true, force: true });
  for (const entry of metadata.entries) {
    if (entry.type === 'absent') {
      rmSync(entry.path, { recursive: true, force: true });
      continue;
    }
    const change = changed.get(entry.path);
    if (!change) continue;
    if (isUnder(entry.path, metadata.excluded)) continue;
    const here = lstatOrNull(entry.path);
    switch (entry.type) {
      case 'dir':
        if (!here) mkdirSync(entry.path, { mode: entry.mode });
        break;
      case 'file': {
        if (change.kind === 'attributes') break;
        mkdirSync(path.dirname(entry.path), { recursive: true });
        const beside = besideName(entry.path);
        copyFileSync(path.join(root, blobPath(entry.path)), beside);
        const staged = { ...entry, path: beside };
        setAttributes(staged);
        renameSync(beside, entry.path);
        break;
      }
      case 'symlink': {
        mkdirSync(path.dirname(entry.path), { recursive: true });
        const beside = besideName(entry.path);
        rmSync(beside, { force: true });
        symlinkSync(entry.target!, beside);
        renameSync(beside, entry.path);
        break;
      }
      case 'sqlite':
        if (change.kind === 'attributes') break;
        mkdirSync(path.dirname(entry.path), { recursive: true });
        if (here?.isFile()) {
          await restoreDatabase(path.join(root, blobPath(entry.path)), entry.path);
        } else {
          const beside = besideName(entry.path);
          copyFileSync(path.join(root, blobPath(entry.path)), beside);
          renameSync(beside, entry.path);
        }
        break;
    }
  }
  // Owners, modes and times last, children before their directory (writing into a directory
  // changes its time).
  const touchedDirs = new Set<string>();
  for (const change of changes) {
    for (let dir = path.dirname(change.path); !touchedDirs.has(dir) && dir !== path.dirname(dir); dir = path.dirname(dir)) touchedDirs.add(dir);
  }
  for (const entry of [...metadata.entries].reverse()) {
    if (entry.type === 'absent' || !(changed.has(entry.path) || (entry.type === 'dir' && touchedDirs.has(entry.path)))) continue;
    setAttributes(entry);
  }
}
