// Snapshots: STATE/snapshots/<ULID>/metadata.json plus the data, taken manually, periodically
// or before a risky tool call, and restored by restore.ts.
//
// Invariants:
// - A snapshot appears under its id only once it is complete: it is written in
//   `.incomplete-<id>` and renamed into place, so a crash or a full disk leaves no half snapshot
//   that could later be restored.
// - Every stored file has a SHA-256 in the metadata (databases a digest of their logical
//   content), and an archive its own: a restore checks them all before it changes anything.
// - Databases are copied with SQLite's backup API, never as bytes: a database in use is copied
//   consistently, whatever its WAL holds.
// - Data is stored as reflinks (copy-on-write, on btrfs or XFS) when every file could be cloned,
//   and as a zstd-compressed tar otherwise.
// - Retention removes the oldest automatic and before-tool snapshots beyond `keep_automatic`;
//   manual ones are kept until someone deletes them.
import { constants, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { monotonicFactory } from 'ulid';
import * as z from 'zod/mini';
import { requireRuntimePackage } from '../native/packages.ts';
import { formatBytes } from '../tools/sys-tools.ts';
import { listPackages } from './packages.ts';
import { sha256File, walk, type Skipped, type TreeEntry } from './tree.ts';

export const TRIGGERS = ['manual', 'automatic', 'before-tool'] as const;
export type Trigger = (typeof TRIGGERS)[number];

export class SnapshotError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const entrySchema = z.object({
  path: z.string().check(z.startsWith('/')),
  type: z.enum(['dir', 'file', 'symlink', 'sqlite', 'absent']),
  mode: z.optional(z.int()),
  uid: z.optional(z.int()),
  gid: z.optional(z.int()),
  mtimeMs: z.optional(z.number()),
  size: z.optional(z.int()),
  sha256: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/))),
  target: z.optional(z.string()),
});

export const metadataSchema = z.object({
  format: z.literal(1),
  id: z.string().check(z.regex(ULID)),
  description: z.string(),
  created_at: z.string(),
  trigger: z.enum(TRIGGERS),
  /** The call this snapshot was taken before (trigger before-tool). */
  tool: z.nullable(z.object({ name: z.string(), args: z.unknown(), actor: z.string() })),
  paths: z.array(z.string()),
  excluded: z.array(z.string()),
  data: z.union([
    z.object({ method: z.literal('archive'), file: z.string(), sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)), bytes: z.int() }),
    z.object({ method: z.literal('reflink'), dir: z.string() }),
  ]),
  sizes: z.object({ files: z.int(), bytes: z.int(), stored: z.int() }),
  entries: z.array(entrySchema),
  skipped: z.array(z.object({ path: z.string(), why: z.string() })),
  /** The installed packages (`pacman -Q`), or null where there is no pacman. */
  packages: z.nullable(z.array(z.object({ name: z.string(), version: z.string() }))),
  host: z.string(),
});

export type SnapshotMetadata = z.infer<typeof metadataSchema>;

/** Where a stored file lives inside the snapshot's data (the same layout in both methods). */
export function blobPath(entryPath: string): string {
  return path.join('files', entryPath);
}

export function snapshotsDir(stateDir: string): string {
  return path.join(stateDir, 'snapshots');
}

/** The databases aiOS itself keeps open: memory never forgets and the audit log is never rolled back. */
export function liveDatabases(stateDir: string): string[] {
  return ['memory.db', 'audit.db'].flatMap((name) => ['', '-wal', '-shm', '-journal'].map((suffix) => path.join(stateDir, `${name}${suffix}`)));
}

// ---------------------------------------------------------------------------------------------
// SQLite through SQLite

function openDatabase(file: string, readonly: boolean): BetterSqlite3.Database {
  const Database = requireRuntimePackage<typeof BetterSqlite3>('better-sqlite3');
  const db = new Database(file, { readonly, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  return db;
}

/**
 * A digest of a database's logical content: its schema and every row of every table, in rowid
 * order. Two databases with the same digest hold the same data, whatever their pages look like.
 */
export function sqliteDigest(file: string): string {
  const hash = createHash('sha256');
  const db = openDatabase(file, true);
  try {
    db.defaultSafeIntegers(true);
    const read = db.transaction(() => {
      const schema = db.prepare<[], { type: string; name: string; sql: string | null }>("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name").all();
      for (const item of schema) {
        hash.update(`${item.type}\0${item.name}\0${item.sql ?? ''}\n`);
        if (item.type !== 'table' || item.name.startsWith('sqlite_') || /^CREATE VIRTUAL/i.test(item.sql ?? '')) continue;
        const quoted = `"${item.name.replaceAll('"', '""')}"`;
        const withoutRowid = /WITHOUT\s+ROWID/i.test(item.sql ?? '');
        const rows = db.prepare(`SELECT * FROM ${quoted}${withoutRowid ? '' : ' ORDER BY rowid'}`).raw().iterate() as Iterable<unknown[]>;
        for (const row of rows) {
          hash.update(JSON.stringify(row, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : Buffer.isBuffer(value) ? `x'${value.toString('hex')}'` : value)));
          hash.update('\n');
        }
      }
    });
    read();
  } finally {
    db.close();
  }
  return hash.digest('hex');
}

/** Copies a database (perhaps in use, in WAL mode) into `dest` with the backup API. */
export async function backupDatabase(source: string, dest: string): Promise<void> {
  const db = openDatabase(source, true);
  try {
    await db.backup(dest);
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Taking one

export interface CreateOptions {
  stateDir: string;
  paths: readonly string[];
  /** Left out besides the snapshots themselves and aiOS's live databases. */
  exclude?: readonly string[];
  trigger: Trigger;
  description?: string;
  tool?: { name: string; args: unknown; actor: string } | null;
  /** How many automatic and before-tool snapshots to keep (older ones are removed). */
  keepAutomatic?: number;
  /** Whether to apply retention afterwards (default: for automatic and before-tool snapshots). */
  prune?: boolean;
  /** Progress for long steps, a line at a time. */
  onProgress?(line: string): void;
}

const newId = monotonicFactory();

function fsyncPath(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

function noSpace(where: string, needed: number, cause?: unknown, what = 'the snapshot'): SnapshotError {
  const free = (() => {
    try {
      return freeBytes(where);
    } catch {
      return Number.NaN;
    }
  })();
  return new SnapshotError(
    'ENOSPC',
    `not enough space in ${where} for ${what} (about ${formatBytes(needed)} needed, ${Number.isNaN(free) ? 'unknown' : formatBytes(free)} free). Nothing was changed; remove old snapshots (aios snapshots) or free space, then try again.`,
    { cause },
  );
}

export async function createSnapshot(options: CreateOptions): Promise<SnapshotMetadata> {
  const dir = snapshotsDir(options.stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const roots = [...new Set(options.paths.map((p) => path.resolve(p)))];
  const excluded = [...new Set([...(options.exclude ?? []), dir, ...liveDatabases(options.stateDir)])];
  const id = newId();
  const work = path.join(dir, `.incomplete-${id}`);
  const progress = options.onProgress ?? (() => {});

  // The shapes first: the space check needs the sizes before anything is written.
  const { entries, skipped } = walk(roots, { exclude: excluded, sqliteDigest: () => '', hash: false });
  const needed = entries.reduce((sum, e) => sum + (e.size ?? 0), 0);
  if (needed > freeBytes(dir)) throw noSpace(dir, needed);
  progress(`snapshot ${id}: ${entries.length} entries, ${formatBytes(needed)}`);

  mkdirSync(path.join(work, 'files'), { recursive: true, mode: 0o700 });
  try {
    let cloned = 0;
    let copied = 0;
    const stored: TreeEntry[] = [];
    const lost: Skipped[] = [...skipped];
    for (const entry of entries) {
      if (entry.type !== 'file' && entry.type !== 'sqlite') {
        stored.push(entry);
        continue;
      }
      const blob = path.join(work, blobPath(entry.path));
      mkdirSync(path.dirname(blob), { recursive: true, mode: 0o700 });
      try {
        if (entry.type === 'sqlite') {
          await backupDatabase(entry.path, blob);
          stored.push({ ...entry, size: statSync(blob).size, sha256: sqliteDigest(blob) });
          continue;
        }
        try {
          copyFileSync(entry.path, blob, constants.COPYFILE_FICLONE_FORCE);
          cloned++;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
          copyFileSync(entry.path, blob);
          copied++;
        }
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC' || code === 'EDQUOT') throw noSpace(dir, needed, error);
        // Gone or unreadable since the walk: said in the metadata, not silently dropped.
        lost.push({ path: entry.path, why: `changed while the snapshot was taken: ${(error as Error).message}` });
        continue;
      }
      // The copy is what gets restored, so the checksum is of the copy.
      stored.push({ ...entry, size: statSync(blob).size, sha256: sha256File(blob) });
    }

    const packages = await listPackages();
    const files = stored.filter((e) => e.type === 'file' || e.type === 'sqlite');
    const bytes = files.reduce((sum, e) => sum + (e.size ?? 0), 0);
    let data: SnapshotMetadata['data'];
    let storedBytes: number;
    if (copied === 0 && cloned > 0) {
      data = { method: 'reflink', dir: 'files' };
      storedBytes = 0;
    } else {
      progress(`snapshot ${id}: compressing ${formatBytes(bytes)}`);
      const tar = await import('tar');
      const archive = path.join(work, 'data.tar.zst');
      await tar.create({ cwd: work, file: archive, zstd: true, portable: true }, ['files']);
      rmSync(path.join(work, 'files'), { recursive: true, force: true });
      storedBytes = statSync(archive).size;
      data = { method: 'archive', file: 'data.tar.zst', sha256: sha256File(archive), bytes: storedBytes };
      fsyncPath(archive);
    }
    const metadata: SnapshotMetadata = {
      format: 1,
      id,
      description: options.description ?? '',
      created_at: new Date(decodeTime(id)).toISOString(),
      trigger: options.trigger,
      tool: options.tool ?? null,
      paths: roots,
      excluded,
      data,
      sizes: { files: files.length, bytes, stored: storedBytes },
      entries: stored,
      skipped: lost,
      packages,
      host: os.hostname(),
    };
    const metadataFile = path.join(work, 'metadata.json');
    writeFileSync(metadataFile, `${JSON.stringify(metadata, null, 1)}\n`, { mode: 0o600 });
    fsyncPath(metadataFile);
    renameSync(work, path.join(dir, id));
    fsyncPath(dir);
    progress(`snapshot ${id}: done (${files.length} files, ${formatBytes(bytes)}, ${data.method === 'archive' ? `${formatBytes(storedBytes)} compressed` : 'reflinked'})`);
    if (options.prune ?? options.trigger !== 'manual') pruneSnapshots(options.stateDir, options.keepAutomatic ?? 24);
    return metadata;
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw noSpace(dir, needed, error);
    throw error;
  }
}

function decodeTime(id: string): number {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = 0;
  for (const char of id.slice(0, 10)) time = time * 32 + alphabet.indexOf(char);
  return time;
}

// ---------------------------------------------------------------------------------------------
// Finding them

export type Listed = { id: string; ok: true; metadata: SnapshotMetadata } | { id: string; ok: false; error: string };

export function loadSnapshot(stateDir: string, id: string): SnapshotMetadata {
  if (!ULID.test(id)) throw new SnapshotError('EINVAL', `\`${id}\` is not a snapshot id (26 characters, as \`aios snapshots\` lists them)`);
  const file = path.join(snapshotsDir(stateDir), id, 'metadata.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new SnapshotError('ENOENT', `no snapshot ${id} in ${snapshotsDir(stateDir)}; see \`aios snapshots\``);
    throw new SnapshotError('EIO', `cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SnapshotError('ECORRUPT', `snapshot ${id} is corrupt: ${file} is not JSON (${(error as Error).message})`);
  }
  const parsed = metadataSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SnapshotError('ECORRUPT', `snapshot ${id} is corrupt: ${file}: \`${issue.path.join('.') || '(top)'}\` ${issue.message}`);
  }
  if (parsed.data.id !== id) throw new SnapshotError('ECORRUPT', `snapshot ${id} is corrupt: its metadata names ${parsed.data.id}`);
  return parsed.data;
}

/** Every snapshot, oldest first; one whose metadata cannot be read is listed with the reason. */
export function listSnapshots(stateDir: string): Listed[] {
  let names: string[];
  try {
    names = readdirSync(snapshotsDir(stateDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .filter((name) => ULID.test(name))
    .sort()
    .map((id): Listed => {
      try {
        return { id, ok: true, metadata: loadSnapshot(stateDir, id) };
      } catch (error) {
        return { id, ok: false, error: (error as Error).message };
      }
    });
}

/** Removes one snapshot: renamed away first, so that a half-removed one is never listed. */
export function deleteSnapshot(stateDir: string, id: string): void {
  const dir = path.join(snapshotsDir(stateDir), id);
  if (!ULID.test(id) || !existsSync(dir)) throw new SnapshotError('ENOENT', `no snapshot ${id}; see \`aios snapshots\``);
  const doomed = path.join(snapshotsDir(stateDir), `.deleting-${id}`);
  renameSync(dir, doomed);
  rmSync(doomed, { recursive: true, force: true });
}

/** Keeps the newest `keep` automatic and before-tool snapshots; returns the ids removed. */
export function pruneSnapshots(stateDir: string, keep: number): string[] {
  const automatic = listSnapshots(stateDir).filter((s) => s.ok && s.metadata.trigger !== 'manual');
  const doomed = automatic.slice(0, Math.max(0, automatic.length - keep)).map((s) => s.id);
  for (const id of doomed) {
    try {
      deleteSnapshot(stateDir, id);
    } catch {
      // Removed by a concurrent prune.
    }
  }
  // Leftovers of a crash while taking or removing one.
  if (!existsSync(snapshotsDir(stateDir))) return doomed;
  for (const name of readdirSync(snapshotsDir(stateDir))) {
    if (!/^\.(incomplete|deleting)-/.test(name)) continue;
    const stale = path.join(snapshotsDir(stateDir), name);
    const ageMs = Date.now() - statSync(stale).mtimeMs;
    if (name.startsWith('.deleting-') || ageMs > 6 * 3_600_000) rmSync(stale, { recursive: true, force: true });
  }
  return doomed;
}

// ---------------------------------------------------------------------------------------------
// Opening the data, checked

export interface OpenedData {
  /** The directory holding `files/…` for this snapshot. */
  root: string;
  close(): void;
}

/**
 * The snapshot's data, checksums verified: the archive's, then each file's (all of them, or those
 * in `only`, the ones a restore will write). An archive is unpacked into a private directory
 * beside the snapshots (removed by close()). Throws ECORRUPT naming what does not match.
 */
export async function openVerified(stateDir: string, metadata: SnapshotMetadata, options: { onProgress?: (line: string) => void; only?: ReadonlySet<string> } = {}): Promise<OpenedData> {
  const onProgress = options.onProgress ?? (() => {});
  const wanted = (entryPath: string): boolean => options.only?.has(entryPath) ?? true;
  const home = path.join(snapshotsDir(stateDir), metadata.id);
  let root = home;
  let close = (): void => {};
  if (metadata.data.method === 'archive') {
    const archive = path.join(home, metadata.data.file);
    if (!existsSync(archive)) throw new SnapshotError('ECORRUPT', `snapshot ${metadata.id} is corrupt: its archive ${archive} is missing`);
    onProgress(`checking the archive of ${metadata.id}`);
    const sum = sha256File(archive);
    if (sum !== metadata.data.sha256) throw new SnapshotError('ECORRUPT', `snapshot ${metadata.id} is corrupt: ${archive} has checksum ${sum.slice(0, 12)}…, the metadata says ${metadata.data.sha256.slice(0, 12)}…; nothing was restored`);
    const unpacking = `unpacking snapshot ${metadata.id} to restore it`;
    const needed = metadata.entries.reduce((sum, e) => sum + ((e.type === 'file' || e.type === 'sqlite') && wanted(e.path) ? (e.size ?? 0) : 0), 0);
    if (needed > freeBytes(snapshotsDir(stateDir))) throw noSpace(snapshotsDir(stateDir), needed, undefined, unpacking);
    root = path.join(snapshotsDir(stateDir), `.restore-${metadata.id}-${process.pid}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { mode: 0o700 });
    close = () => rmSync(root, { recursive: true, force: true });
    try {
      const tar = await import('tar');
      onProgress(`unpacking ${options.only ? `${options.only.size} of ${metadata.sizes.files} files` : formatBytes(metadata.sizes.bytes)}`);
      await tar.extract({
        cwd: root,
        file: archive,
        zstd: true,
        preservePaths: false,
        // A file that cannot be written (a full disk) fails the unpacking, not just warns.
        strict: true,
        // The archive's checksum covers every byte; only the files a restore needs are unpacked.
        filter: (name, entry) => ('type' in entry && entry.type === 'Directory' ? false : wanted(`/${name.replace(/^files\//, '')}`)),
      });
    } catch (error) {
      close();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw noSpace(snapshotsDir(stateDir), needed, error, unpacking);
      throw new SnapshotError('ECORRUPT', `snapshot ${metadata.id} is corrupt: its archive cannot be unpacked (${(error as Error).message}); nothing was restored`);
    }
  }
  try {
    onProgress(`checking ${options.only?.size ?? metadata.sizes.files} files`);
    for (const entry of metadata.entries) {
      if ((entry.type !== 'file' && entry.type !== 'sqlite') || !wanted(entry.path)) continue;
      const blob = path.join(root, blobPath(entry.path));
      let sum: string;
      try {
        sum = entry.type === 'sqlite' ? sqliteDigest(blob) : sha256File(blob);
      } catch (error) {
        throw new SnapshotError('ECORRUPT', `snapshot ${metadata.id} is corrupt: the copy of ${entry.path} cannot be read (${(error as Error).message}); nothing was restored`);
      }
      if (sum !== entry.sha256) throw new SnapshotError('ECORRUPT', `snapshot ${metadata.id} is corrupt: the copy of ${entry.path} does not match its checksum; nothing was restored`);
    }
  } catch (error) {
    close();
    throw error;
  }
  return { root, close };
}
