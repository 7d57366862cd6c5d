// A newc cpio writer (the initramfs format the kernel unpacks): a folder tree plus entries
// that cannot live in a build folder without root (device nodes), all owned by root, with
// one fixed mtime so that the same input gives the same archive.
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export type ExtraEntry =
  | { path: string; type: 'char'; mode: number; major: number; minor: number }
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

interface Entry {
  name: string;
  mode: number;
  data: Buffer | { file: string; size: number };
  rdevMajor?: number;
  rdevMinor?: number;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Collects the tree below `root` in a stable order: parents before children, names sorted. */
function walk(root: string): Entry[] {
  const entries: Entry[] = [];
  const visit = (relative: string): void => {
    const full = path.join(root, relative);
    const stat = lstatSync(full);
    const perms = stat.mode & 0o7777;
    if (stat.isDirectory()) {
      if (relative !== '') entries.push({ name: relative, mode: S_IFDIR | perms, data: Buffer.alloc(0) });
      for (const child of readdirSync(full).sort()) visit(path.posix.join(relative, child));
    } else if (stat.isSymbolicLink()) {
      entries.push({ name: relative, mode: S_IFLNK | 0o777, data: Buffer.from(readlinkSync(full)) });
    } else if (stat.isFile()) {
      entries.push({ name: relative, mode: S_IFREG | perms, data: { file: full, size: stat.size } });
    } else {
      throw new Error(`cpio: ${full} is neither a file, a folder nor a symlink; put device nodes in the extra entries`);
    }
  };
  visit('');
  return entries;
}

function extraToEntry(extra: ExtraEntry): Entry {
  const name = extra.path.replace(/^\/+/, '');
  switch (extra.type) {
    case 'char':
      return { name, mode: S_IFCHR | extra.mode, data: Buffer.alloc(0), rdevMajor: extra.major, rdevMinor: extra.minor };
    case 'dir':
      return { name, mode: S_IFDIR | extra.mode, data: Buffer.alloc(0) };
    case 'symlink':
      return { name, mode: S_IFLNK | 0o777, data: Buffer.from(extra.target) };
  }
}

/** Writes the archive; returns its size in bytes. */
export function writeCpio(root: string, extras: ExtraEntry[], output: string, mtime = 0): number {
  const entries = [...extras.filter((e) => e.type === 'dir').map(extraToEntry), ...walk(root), ...extras.filter((e) => e.type !== 'dir').map(extraToEntry)];
  const fd = openSync(output, 'w');
  let offset = 0;
  const put = (buffer: Buffer): void => {
    writeSync(fd, buffer);
    offset += buffer.length;
  };
  const pad = (): void => {
    const rest = (4 - (offset % 4)) % 4;
    if (rest) put(Buffer.alloc(rest));
  };
  let ino = 1;
  const header = (entry: Entry, size: number): void => {
    const name = Buffer.from(`${entry.name}\0`);
    const fields = [ino++, entry.mode, 0, 0, (entry.mode & S_IFDIR) === S_IFDIR ? 2 : 1, mtime, size, 0, 0, entry.rdevMajor ?? 0, entry.rdevMinor ?? 0, name.length, 0];
    put(Buffer.from(`070701${fields.map(hex).join('')}`));
    put(name);
    pad();
  };
  try {
    for (const entry of entries) {
      if (Buffer.isBuffer(entry.data)) {
        header(entry, entry.data.length);
        put(entry.data);
      } else {
        header(entry, entry.data.size);
        put(readFileSync(entry.data.file));
      }
      pad();
    }
    header({ name: 'TRAILER!!!', mode: 0, data: Buffer.alloc(0) }, 0);
  } finally {
    closeSync(fd);
  }
  return offset;
}
