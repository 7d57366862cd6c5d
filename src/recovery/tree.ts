// What a set of paths holds, entry by entry: the shape a snapshot records and a restore
// compares against. Files carry a SHA-256 of their content; SQLite databases are recognised by
// their header and handled as databases (captured and compared through SQLite, never as bytes).
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';

export type EntryType = 'dir' | 'file' | 'symlink' | 'sqlite' | 'absent';

export interface TreeEntry {
  /** Absolute path on the machine. */
  path: string;
  type: EntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeMs?: number;
  size?: number;
  /** Files: of the content. SQLite: of the logical content (schema and rows), see sqliteDigest. */
  sha256?: string;
  /** Symlinks: where the link points, as written. */
  target?: string;
}

export interface Skipped {
  path: string;
  why: string;
}

export interface WalkResult {
  entries: TreeEntry[];
  skipped: Skipped[];
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
/** A database's companions: captured with it through SQLite, never on their own. */
const SQLITE_COMPANIONS = ['-wal', '-shm', '-journal'];

export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(file, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

export function isSqliteFile(file: string, stats: Stats): boolean {
  if (!stats.isFile() || stats.size < 100) return false;
  const head = Buffer.alloc(16);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  return head.equals(SQLITE_HEADER);
}

function isSqlitePath(file: string): boolean {
  try {
    return isSqliteFile(file, lstatSync(file));
  } catch {
    return false;
  }
}

/** True when `file` is inside (or is) one of `prefixes`. */
export function isUnder(file: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => file === p || file.startsWith(p.endsWith('/') ? p : `${p}/`));
}

export interface WalkOptions {
  /** Absolute paths left out, with everything below them. */
  exclude: readonly string[];
  /** Computes each database's digest (slow for big ones): given by the caller, which opens SQLite. */
  sqliteDigest?(file: string): string;
  /** Leave file hashes out (a listing that only needs shapes). */
  hash?: boolean;
}

/**
 * Walks each root (not following symlinks, not crossing into excluded paths). A root that does
 * not exist is recorded as `absent`: restoring it removes what is there by then.
 */
export function walk(roots: readonly string[], options: WalkOptions): WalkResult {
  const entries: TreeEntry[] = [];
  const skipped: Skipped[] = [];
  const hash = options.hash ?? true;
  const visit = (file: string): void => {
    if (isUnder(file, options.exclude)) return;
    let stats: Stats;
    try {
      stats = lstatSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      skipped.push({ path: file, why: (error as Error).message });
      return;
    }
    const base = { path: file, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid, mtimeMs: Math.trunc(stats.mtimeMs) };
    if (stats.isSymbolicLink()) {
      entries.push({ ...base, type: 'symlink', target: readlinkSync(file) });
    } else if (stats.isDirectory()) {
      entries.push({ ...base, type: 'dir' });
      let names: string[];
      try {
        names = readdirSync(file).sort();
      } catch (error) {
        skipped.push({ path: file, why: `cannot list: ${(error as Error).message}` });
        return;
      }
      for (const name of names) {
        const companion = SQLITE_COMPANIONS.find((suffix) => name.endsWith(suffix));
        if (companion && options.sqliteDigest && names.includes(name.slice(0, -companion.length)) && isSqlitePath(path.join(file, name.slice(0, -companion.length)))) continue;
        visit(path.join(file, name));
      }
    } else if (stats.isFile()) {
      try {
        if (isSqliteFile(file, stats) && options.sqliteDigest) {
          entries.push({ ...base, type: 'sqlite', size: stats.size, ...(hash ? { sha256: options.sqliteDigest(file) } : {}) });
        } else {
          entries.push({ ...base, type: 'file', size: stats.size, ...(hash ? { sha256: sha256File(file) } : {}) });
        }
      } catch (error) {
        skipped.push({ path: file, why: `cannot read: ${(error as Error).message}` });
      }
    } else {
      skipped.push({ path: file, why: 'not a file, directory or symlink (a socket, FIFO or device is not kept)' });
    }
  };
  for (const root of roots) {
    const before = entries.length;
    visit(root);
    if (entries.length === before && !isUnder(root, options.exclude) && !skipped.some((s) => s.path === root)) {
      entries.push({ path: root, type: 'absent' });
    }
  }
  return { entries, skipped };
}
