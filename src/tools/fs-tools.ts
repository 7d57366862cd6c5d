// The file tools: read, write, list, search and change files through node:fs/promises alone (no
// shell, so no quoting to get wrong), each call naming every path it touches so the policy engine
// judges what will really be touched.
//
// Invariants: a failure names the path and says what to do next; symlinks are never followed out
// of a tree (search, copy and delete act on the link itself); fs.delete never removes `/`; no
// tool opens a FIFO or a device in a way that could block the tool runner forever.
import { constants, readFileSync, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import * as z from 'zod/mini';
import { lookupGroup, lookupUser } from '../supervisor/users.ts';
import { defineTool, ToolError } from './tool.ts';

const MiB = 2 ** 20;

// Validation messages quote the value so that a model sees what it sent, not only what was wrong.
const quoted = (iss: { input?: unknown }): string => JSON.stringify(iss.input);

export const absolutePath = z.string().check(
  z.minLength(1, { error: 'must not be empty', abort: true }),
  z.maxLength(4096, { error: 'must be at most 4096 characters (PATH_MAX)', abort: true }),
  z.refine((p) => !p.includes('\0'), { error: (iss) => `must not contain a NUL byte, got ${quoted(iss)}`, abort: true }),
  z.refine((p) => p.startsWith('/'), { error: (iss) => `must be an absolute path (starting with /), got ${quoted(iss)}` }),
);

const octalMode = z.string().check(
  z.refine((m) => /^[0-7]{3,4}$/.test(m), { error: (iss) => `must be an octal mode of 3 or 4 digits like "0644" or "755", got ${quoted(iss)}` }),
);

/** A user or group as a name from /etc/passwd or /etc/group, or a numeric id. */
const accountName = z.string().check(
  z.minLength(1, { error: 'must not be empty', abort: true }),
  z.refine((n) => !/[\0:\n]/.test(n), { error: (iss) => `must be a name or a numeric id (no NUL, ':' or newline), got ${quoted(iss)}` }),
);

const fileType = z.enum(['file', 'directory', 'symlink', 'fifo', 'socket', 'char-device', 'block-device', 'unknown']);
type FileType = z.infer<typeof fileType>;

function typeOf(s: Pick<Stats, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice'>): FileType {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'directory';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFIFO()) return 'fifo';
  if (s.isSocket()) return 'socket';
  if (s.isCharacterDevice()) return 'char-device';
  if (s.isBlockDevice()) return 'block-device';
  return 'unknown';
}

/** Permission bits (with setuid, setgid, sticky) as four octal digits, as chmod takes them. */
export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** `drwxr-xr-x`, as ls shows it. */
function modeString(type: FileType, mode: number): string {
  const first = { file: '-', directory: 'd', symlink: 'l', fifo: 'p', socket: 's', 'char-device': 'c', 'block-device': 'b', unknown: '?' }[type];
  const bits = ['r', 'w', 'x', 'r', 'w', 'x', 'r', 'w', 'x'].map((c, i) => (mode & (0o400 >> i) ? c : '-'));
  const special = (i: number, bit: number, upper: string) => {
    if (mode & bit) bits[i] = bits[i] === 'x' ? upper.toLowerCase() : upper;
  };
  special(2, 0o4000, 'S');
  special(5, 0o2000, 'S');
  special(8, 0o1000, 'T');
  return first + bits.join('');
}

// Read afresh on each call: the files are a few KiB, and an edit to them shows at once.
function readIdNames(file: string): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id !== undefined && /^\d+$/.test(id) && !names.has(Number(id))) names.set(Number(id), name);
    }
  } catch {
    // No account database (a bare container): ids stay numbers.
  }
  return names;
}

/** uid → user name and gid → group name, read once per call. */
export function accountNames(): { user(uid: number): string | null; group(gid: number): string | null } {
  let users: Map<number, string> | undefined;
  let groups: Map<number, string> | undefined;
  return {
    user: (uid) => (users ??= readIdNames('/etc/passwd')).get(uid) ?? null,
    group: (gid) => (groups ??= readIdNames('/etc/group')).get(gid) ?? null,
  };
}

type Explain = (p: string) => string;

const DEFAULT_EXPLAIN: Record<string, Explain> = {
  ENOENT: (p) => `${p} does not exist (check the path; fs.list on its directory shows what is there)`,
  EACCES: (p) => `permission denied on ${p} (fs.stat shows its owner and mode)`,
  EPERM: (p) => `operation not permitted on ${p} (it may be immutable, or need root; fs.stat shows its owner and mode)`,
  EEXIST: (p) => `${p} already exists (choose another path or remove it first)`,
  ENOTDIR: (p) => `a part of ${p} is not a directory (fs.stat each parent to find which)`,
  EISDIR: (p) => `${p} is a directory (fs.list shows what it holds)`,
  ENOTEMPTY: (p) => `${p} is a directory that is not empty`,
  EROFS: (p) => `${p} is on a read-only file system (it cannot be changed in place)`,
  ENOSPC: (p) => `no space left on the file system holding ${p} (sys.status shows free space)`,
  ELOOP: (p) => `too many levels of symbolic links in ${p} (a symlink loop?)`,
  ENAMETOOLONG: (p) => `${p} is too long a path name`,
  EBUSY: (p) => `${p} is busy (a mount point, or in use)`,
  ETXTBSY: (p) => `${p} is a program that is running and cannot be written`,
};

/**
 * Node's errno errors say `ENOENT: no such file or directory, open '/x'`; a model acts better on
 * which path and what to do. The code stays, the original error becomes the cause.
 */
function explain(error: unknown, overrides: Record<string, Explain> = {}): unknown {
  if (error instanceof ToolError) return error;
  const e = error as NodeJS.ErrnoException & { dest?: string };
  if (typeof e?.code !== 'string' || typeof e.path !== 'string') return error;
  const how = overrides[e.code] ?? DEFAULT_EXPLAIN[e.code];
  const message = how ? how(e.path) : `${e.code} on ${e.path}${e.dest ? ` → ${e.dest}` : ''}: ${e.message}`;
  return Object.assign(new ToolError(e.code, message), { cause: error });
}

async function attempt<T>(op: () => Promise<T>, overrides?: Record<string, Explain>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    throw explain(error, overrides);
  }
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw explain(error);
  }
}

async function requireParent(p: string, hint: string): Promise<void> {
  const parent = path.dirname(p);
  const s = await attempt(() => fsp.stat(parent), { ENOENT: () => `the directory ${parent} does not exist (${hint})` });
  if (!s.isDirectory()) throw new ToolError('ENOTDIR', `${parent} is not a directory, so ${p} cannot be created in it`);
}

/**
 * Opens a regular file for reading. O_NONBLOCK keeps a FIFO from blocking a worker thread until
 * a writer comes; fstat then refuses anything that is not a regular file (devices can block too).
 */
async function openRegular(file: string): Promise<{ handle: fsp.FileHandle; stats: Stats }> {
  const handle = await attempt(() => fsp.open(file, constants.O_RDONLY | constants.O_NONBLOCK));
  try {
    const stats = await handle.stat();
    const type = typeOf(stats);
    if (type === 'directory') throw new ToolError('EISDIR', `${file} is a directory (fs.list shows what it holds)`);
    if (type !== 'file') throw new ToolError('EINVAL', `${file} is a ${type}, not a regular file; only regular files can be read`);
    return { handle, stats };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Reads up to `max` bytes from `position`; /proc files report size 0, so read until EOF. */
async function readUpTo(handle: fsp.FileHandle, max: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(max);
  let filled = 0;
  while (filled < max) {
    const { bytesRead } = await handle.read(buffer, filled, max - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/** The longest prefix of `buffer` that does not end inside a UTF-8 sequence. */
function wholeUtf8(buffer: Buffer): Buffer {
  let start = buffer.length - 1;
  while (start >= 0 && buffer.length - start <= 4 && (buffer[start]! & 0xc0) === 0x80) start--;
  if (start < 0) return buffer;
  const lead = buffer[start]!;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return start + length > buffer.length ? buffer.subarray(0, start) : buffer;
}

/** `2026-01-02 03:04` (UTC, as the ISO time it comes from). */
function minute(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}

// ---------------------------------------------------------------------------------------------

const readOutput = z.object({
  path: z.string(),
  content: z.string(),
  /** Bytes of the file that `content` holds. */
  bytes: z.number(),
  /** The file's size as stat reports it (0 for most /proc and /sys files). */
  size: z.number(),
  offset: z.number(),
  truncated: z.boolean(),
  /** The part read holds NUL bytes: content is a lossy UTF-8 rendering. */
  binary: z.boolean(),
});

export const fsReadTool = defineTool({
  name: 'fs.read',
  description: 'Read a text file (up to maxBytes from offset, as UTF-8), saying whether it was truncated or looks binary.',
  input: z.strictObject({
    path: absolutePath,
    maxBytes: z._default(z.int().check(z.gte(1), z.lte(16 * MiB)), MiB),
    offset: z._default(z.int().check(z.gte(0)), 0),
  }),
  output: readOutput,
  capability: 'fs.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 10_000,
  undo: 'none',
  paths: (input) => ({ read: [input.path] }),
  async run(input) {
    const { handle, stats } = await openRegular(input.path);
    try {
      // One byte more than asked tells a file of exactly maxBytes from a longer one.
      const raw = await readUpTo(handle, input.maxBytes + 1, input.offset);
      const truncated = raw.length > input.maxBytes;
      const part = truncated ? wholeUtf8(raw.subarray(0, input.maxBytes)) : raw;
      return {
        path: input.path,
        content: part.toString('utf8'),
        bytes: part.length,
        size: stats.size,
        offset: input.offset,
        truncated,
        binary: part.includes(0),
      };
    } finally {
      await handle.close();
    }
  },
  render(r) {
    const notes = [
      r.binary ? `(${r.path} looks binary: it holds NUL bytes)` : '',
      r.truncated ? `… (truncated: ${r.bytes} bytes from offset ${r.offset}${r.size ? ` of ${r.size}` : ''}; read on with offset ${r.offset + r.bytes})` : '',
    ].filter(Boolean);
    if (notes.length === 0) return r.content;
    return `${r.content}${r.content === '' || r.content.endsWith('\n') ? '' : '\n'}${notes.join('\n')}`;
  },
});

const WRITE_MODES = ['create', 'overwrite', 'append'] as const;
const writeMode = z.enum(WRITE_MODES, { error: (iss) => `must be one of ${WRITE_MODES.map((m) => `"${m}"`).join(', ')}, got ${quoted(iss)}` });

export const fsWriteTool = defineTool({
  name: 'fs.write',
  description: 'Write text to a file: create a new one (the default), overwrite it, or append to it; parents: true creates missing directories.',
  input: z.strictObject({
    path: absolutePath,
    content: z.string().check(z.maxLength(16 * MiB)),
    mode: z._default(writeMode, 'create'),
    parents: z._default(z.boolean(), false),
  }),
  output: z.object({ path: z.string(), mode: writeMode, bytes: z.number(), created: z.boolean() }),
  capability: 'fs.write',
  effects: ['writes'],
  risk: 'medium',
  timeoutMs: 10_000,
  undo: 'snapshot',
  paths: (input) => ({ write: [input.path] }),
  async run(input) {
    const file = input.path;
    if (input.parents) await attempt(() => fsp.mkdir(path.dirname(file), { recursive: true }));
    const existed = (await lstatOrNull(file)) !== null;
    const flag = { create: 'wx', overwrite: 'w', append: 'a' }[input.mode];
    await attempt(() => fsp.writeFile(file, input.content, { flag }), {
      EEXIST: (p) => `${p} already exists (mode "overwrite" replaces it, mode "append" adds to it)`,
      ENOENT: (p) => `the directory ${path.dirname(p)} does not exist (pass parents: true to create it)`,
    });
    return { path: file, mode: input.mode, bytes: Buffer.byteLength(input.content), created: !existed };
  },
  render(r) {
    const verb = r.mode === 'append' ? 'appended' : r.created ? 'created' : 'overwrote';
    return `${verb} ${r.path} (${r.bytes} bytes${r.mode === 'append' && r.created ? ', new file' : ''})`;
  },
});

const entrySchema = z.object({
  name: z.string(),
  type: fileType,
  size: z.number(),
  mode: z.string(),
  mtime: z.string(),
  /** Where a symlink points (not followed). */
  target: z.nullable(z.string()),
});

export const fsListTool = defineTool({
  name: 'fs.list',
  description: 'List a directory: name, type, size, mode and modification time of each entry (dotfiles only with all: true).',
  input: z.strictObject({
    path: absolutePath,
    all: z._default(z.boolean(), false),
    limit: z._default(z.int().check(z.gte(1), z.lte(10_000)), 1000),
  }),
  output: z.object({ path: z.string(), entries: z.array(entrySchema), total: z.number(), truncated: z.boolean() }),
  capability: 'fs.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 15_000,
  undo: 'none',
  paths: (input) => ({ read: [input.path] }),
  async run(input) {
    const dir = input.path;
    const names = (await attempt(() => fsp.readdir(dir), { ENOTDIR: (p) => `${p} is not a directory (fs.stat or fs.read it instead)` }))
      .filter((name) => input.all || !name.startsWith('.'))
      .sort();
    const shown = names.slice(0, input.limit);
    const entries = await Promise.all(
      shown.map(async (name) => {
        const full = path.join(dir, name);
        try {
          const s = await fsp.lstat(full);
          const type = typeOf(s);
          return { name, type, size: s.size, mode: octal(s.mode), mtime: s.mtime.toISOString(), target: type === 'symlink' ? await fsp.readlink(full) : null };
        } catch {
          // Removed between readdir and lstat.
          return null;
        }
      }),
    );
    return { path: dir, entries: entries.filter((e) => e !== null), total: names.length, truncated: names.length > shown.length };
  },
  render(r) {
    if (r.entries.length === 0) return `${r.path}: empty`;
    const width = Math.max(...r.entries.map((e) => String(e.size).length));
    const lines = r.entries.map(
      (e) => `${modeString(e.type, Number.parseInt(e.mode, 8))}  ${String(e.size).padStart(width)}  ${minute(e.mtime)}  ${e.name}${e.type === 'directory' ? '/' : ''}${e.target !== null ? ` -> ${e.target}` : ''}`,
    );
    if (r.truncated) lines.push(`… ${r.total - r.entries.length} more (raise limit to see them)`);
    return lines.join('\n');
  },
});

const statOutput = z.object({
  path: z.string(),
  type: fileType,
  size: z.number(),
  mode: z.string(),
  uid: z.number(),
  gid: z.number(),
  user: z.nullable(z.string()),
  group: z.nullable(z.string()),
  mtime: z.string(),
  /** Where the path points when it is a symlink. */
  target: z.nullable(z.string()),
});

export const fsStatTool = defineTool({
  name: 'fs.stat',
  description: 'Type, size, mode (octal), owner, modification time and symlink target of one path (follow: true describes what a symlink points to).',
  input: z.strictObject({ path: absolutePath, follow: z._default(z.boolean(), false) }),
  output: statOutput,
  capability: 'fs.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 5_000,
  undo: 'none',
  paths: (input) => ({ read: [input.path] }),
  async run(input) {
    const link = await attempt(() => fsp.lstat(input.path));
    const target = link.isSymbolicLink() ? await attempt(() => fsp.readlink(input.path)) : null;
    const s = input.follow && target !== null ? await attempt(() => fsp.stat(input.path), { ENOENT: (p) => `${p} is a symlink to ${target}, which does not exist` }) : link;
    const names = accountNames();
    return {
      path: input.path,
      type: typeOf(s),
      size: s.size,
      mode: octal(s.mode),
      uid: s.uid,
      gid: s.gid,
      user: names.user(s.uid),
      group: names.group(s.gid),
      mtime: s.mtime.toISOString(),
      target,
    };
  },
  render(s) {
    return [
      `${s.path}: ${s.type}${s.target !== null ? ` -> ${s.target}` : ''}, ${s.size} bytes`,
      `mode ${s.mode} (${modeString(s.type, Number.parseInt(s.mode, 8))}), owner ${s.user ?? s.uid}:${s.group ?? s.gid}, modified ${minute(s.mtime)}`,
    ].join('\n');
  },
});

// Virtual file systems: endless or blocking files, and trees that mirror the rest of the system.
const NOT_SEARCHED = ['/proc', '/sys', '/dev'];
const SEARCH_MAX_FILE_BYTES = 8 * MiB;

function insideVirtual(p: string): string | undefined {
  const resolved = path.resolve(p);
  return NOT_SEARCHED.find((v) => resolved === v || resolved.startsWith(`${v}/`));
}

const searchHit = z.object({
  path: z.string(),
  type: fileType,
  size: z.number(),
  /** The first line holding `contains` (1-based), when the search was by content. */
  line: z.nullable(z.number()),
  text: z.nullable(z.string()),
});

export const fsSearchTool = defineTool({
  name: 'fs.search',
  description: 'Find files under a directory by a glob on the name (e.g. "*.conf") and/or a text they contain, without following symlinks or entering /proc, /sys and /dev.',
  input: z
    .strictObject({
      path: absolutePath,
      name: z.optional(z.string().check(z.minLength(1), z.refine((n) => !n.includes('\0') && !n.includes('/'), { error: (iss) => `must be a glob on a file name (no "/" or NUL), got ${quoted(iss)}` }))),
      contains: z.optional(z.string().check(z.minLength(1), z.maxLength(4096), z.refine((c) => !c.includes('\0'), 'must not contain a NUL byte'))),
      maxResults: z._default(z.int().check(z.gte(1), z.lte(10_000)), 100),
      maxDepth: z._default(z.int().check(z.gte(0), z.lte(256)), 64),
    })
    .check(z.refine((i) => i.name !== undefined || i.contains !== undefined, 'give name (a glob such as "*.conf"), contains (a text), or both')),
  output: z.object({
    path: z.string(),
    results: z.array(searchHit),
    truncated: z.boolean(),
    /** Entries looked at. */
    scanned: z.number(),
    /** Directories that could not be read and files too large to search. */
    skipped: z.number(),
  }),
  capability: 'fs.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 60_000,
  undo: 'none',
  paths: (input) => ({ read: [input.path] }),
  async run(input, context) {
    const virtual = insideVirtual(input.path);
    if (virtual) throw new ToolError('EINVAL', `${input.path} is inside ${virtual}, which fs.search does not enter (virtual files; use fs.list, fs.read or the process tools)`);
    const root = await attempt(() => fsp.stat(input.path));
    if (!root.isDirectory()) throw new ToolError('ENOTDIR', `${input.path} is not a directory (fs.search looks under a directory; fs.read reads a file)`);
    const matchesName = input.name === undefined ? () => true : picomatch(input.name, { dot: true });
    const needle = input.contains === undefined ? null : Buffer.from(input.contains);
    const results: z.infer<typeof searchHit>[] = [];
    let scanned = 0;
    let skipped = 0;
    // Breadth first: with maxResults, the shallow matches (usually the ones meant) come first.
    const queue: { dir: string; depth: number }[] = [{ dir: input.path, depth: 0 }];
    while (queue.length > 0) {
      context.signal.throwIfAborted();
      const { dir, depth } = queue.shift()!;
      let entries;
      try {
        entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
      } catch {
        skipped++;
        continue;
      }
      for (const entry of entries) {
        scanned++;
        const full = path.join(dir, entry.name);
        // Dirent types come from readdir without following links, so a symlink stays a symlink.
        if (entry.isDirectory() && depth < input.maxDepth && !NOT_SEARCHED.includes(full)) queue.push({ dir: full, depth: depth + 1 });
        if (!matchesName(entry.name)) continue;
        let hit: z.infer<typeof searchHit> | null;
        if (needle === null) {
          const s = await fsp.lstat(full).catch(() => null);
          hit = s && { path: full, type: typeOf(s), size: s.size, line: null, text: null };
        } else {
          if (!entry.isFile()) continue;
          const found = await searchFile(full, needle);
          if (found === 'skipped') skipped++;
          hit = found === 'skipped' ? null : found;
        }
        if (!hit) continue;
        if (results.length === input.maxResults) return { path: input.path, results, truncated: true, scanned, skipped };
        results.push(hit);
      }
    }
    return { path: input.path, results, truncated: false, scanned, skipped };
  },
  render(r) {
    const lines = r.results.map((h) => (h.line === null ? `${h.path}${h.type === 'directory' ? '/' : ''}` : `${h.path}:${h.line}: ${h.text}`));
    if (lines.length === 0) lines.push(`nothing found under ${r.path}`);
    if (r.truncated) lines.push(`… stopped at ${r.results.length} results (raise maxResults or narrow the search)`);
    if (r.skipped) lines.push(`(${r.skipped} unreadable directories or files over ${SEARCH_MAX_FILE_BYTES / MiB} MiB skipped)`);
    return lines.join('\n');
  },
});

async function searchFile(file: string, needle: Buffer): Promise<z.infer<typeof searchHit> | null | 'skipped'> {
  let opened;
  try {
    opened = await openRegular(file);
  } catch {
    return 'skipped';
  }
  try {
    if (opened.stats.size > SEARCH_MAX_FILE_BYTES) return 'skipped';
    const data = await readUpTo(opened.handle, opened.stats.size, 0);
    const at = data.indexOf(needle);
    if (at < 0) return null;
    // lastIndexOf with a negative offset would count from the end, so a match at 0 is special.
    const lineStart = at === 0 ? 0 : data.lastIndexOf(0x0a, at - 1) + 1;
    const lineEnd = data.indexOf(0x0a, at);
    let line = 1;
    for (let i = data.indexOf(0x0a); i >= 0 && i < at; i = data.indexOf(0x0a, i + 1)) line++;
    const text = data.subarray(lineStart, lineEnd < 0 ? data.length : lineEnd).toString('utf8');
    return { path: file, type: 'file', size: opened.stats.size, line, text: text.length > 200 ? `${text.slice(0, 200)}…` : text };
  } finally {
    await opened.handle.close();
  }
}

export const fsMkdirTool = defineTool({
  name: 'fs.mkdir',
  description: 'Create a directory; parents: true also creates missing parents and accepts one that already exists (mkdir -p).',
  input: z.strictObject({ path: absolutePath, parents: z._default(z.boolean(), false), mode: z.optional(octalMode) }),
  output: z.object({ path: z.string(), created: z.boolean() }),
  capability: 'fs.write',
  effects: ['writes'],
  risk: 'low',
  timeoutMs: 5_000,
  undo: 'snapshot',
  paths: (input) => ({ write: [input.path] }),
  async run(input) {
    const mode = input.mode === undefined ? undefined : Number.parseInt(input.mode, 8);
    const first = await attempt(() => fsp.mkdir(input.path, { recursive: input.parents, mode }), {
      EEXIST: (p) => (input.parents ? `${p} already exists and is not a directory` : `${p} already exists (parents: true accepts an existing directory)`),
      ENOENT: (p) => `the directory ${path.dirname(p)} does not exist (pass parents: true to create it too)`,
    });
    // recursive mkdir answers the first directory it made, or undefined when all were there.
    return { path: input.path, created: input.parents ? first !== undefined : true };
  },
  render(r) {
    return r.created ? `created ${r.path}/` : `${r.path}/ already exists`;
  },
});

const copyMoveOutput = z.object({ source: z.string(), destination: z.string(), type: fileType });

export const fsCopyTool = defineTool({
  name: 'fs.copy',
  description: 'Copy a file, or a directory with recursive: true, to destination (the path of the copy, not a directory to copy into); symlinks are copied as links.',
  input: z.strictObject({
    source: absolutePath,
    destination: absolutePath,
    recursive: z._default(z.boolean(), false),
    overwrite: z._default(z.boolean(), false),
  }),
  output: copyMoveOutput,
  capability: 'fs.write',
  effects: ['writes'],
  risk: 'medium',
  timeoutMs: 120_000,
  undo: 'snapshot',
  paths: (input) => ({ read: [input.source], write: [input.destination] }),
  async run(input) {
    const source = await attempt(() => fsp.lstat(input.source));
    const type = typeOf(source);
    if (type === 'directory' && !input.recursive) throw new ToolError('EISDIR', `${input.source} is a directory; pass recursive: true to copy it and everything in it`);
    if (!input.overwrite && (await lstatOrNull(input.destination))) throw new ToolError('EEXIST', `${input.destination} already exists (pass overwrite: true to replace it, or choose another destination)`);
    await requireParent(input.destination, 'fs.mkdir with parents: true creates it');
    await attempt(() =>
      fsp.cp(input.source, input.destination, {
        recursive: input.recursive,
        force: input.overwrite,
        errorOnExist: !input.overwrite,
        preserveTimestamps: true,
        verbatimSymlinks: true,
      }),
    );
    return { source: input.source, destination: input.destination, type };
  },
  render(r) {
    return `copied ${r.type} ${r.source} to ${r.destination}`;
  },
});

export const fsMoveTool = defineTool({
  name: 'fs.move',
  description: 'Move or rename a file or directory to destination (the new path, not a directory to move into), across file systems too.',
  input: z.strictObject({ source: absolutePath, destination: absolutePath, overwrite: z._default(z.boolean(), false) }),
  output: z.extend(copyMoveOutput, { acrossFileSystems: z.boolean() }),
  capability: 'fs.write',
  effects: ['writes', 'destructive'],
  risk: 'medium',
  timeoutMs: 120_000,
  undo: 'snapshot',
  paths: (input) => ({ write: [input.source, input.destination] }),
  async run(input) {
    if (path.resolve(input.source) === '/') throw new ToolError('EPERM', 'refusing to move / (the root file system)');
    const source = await attempt(() => fsp.lstat(input.source));
    const type = typeOf(source);
    if (!input.overwrite && (await lstatOrNull(input.destination))) throw new ToolError('EEXIST', `${input.destination} already exists (pass overwrite: true to replace it, or choose another destination)`);
    await requireParent(input.destination, 'fs.mkdir with parents: true creates it');
    const hints = {
      EINVAL: () => `cannot move ${input.source} into itself (${input.destination} is inside it)`,
      ENOTEMPTY: (p: string) => `${p} is a directory that is not empty, so it cannot be replaced (delete it first, or choose another destination)`,
      EEXIST: (p: string) => `${p} is a directory that is not empty, so it cannot be replaced (delete it first, or choose another destination)`,
      EISDIR: (p: string) => `${p} is a directory and ${input.source} is not, so one cannot replace the other`,
      ENOTDIR: (p: string) => `${p} is not a directory and ${input.source} is one, so one cannot replace the other`,
    };
    try {
      await fsp.rename(input.source, input.destination);
      return { source: input.source, destination: input.destination, type, acrossFileSystems: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw explain(error, hints);
    }
    // rename(2) cannot cross file systems: copy everything, then remove the original.
    await attempt(() => fsp.cp(input.source, input.destination, { recursive: true, force: input.overwrite, errorOnExist: !input.overwrite, preserveTimestamps: true, verbatimSymlinks: true }));
    await attempt(() => fsp.rm(input.source, { recursive: true }));
    return { source: input.source, destination: input.destination, type, acrossFileSystems: true };
  },
  render(r) {
    return `moved ${r.type} ${r.source} to ${r.destination}${r.acrossFileSystems ? ' (copied across file systems)' : ''}`;
  },
});

export const fsDeleteTool = defineTool({
  name: 'fs.delete',
  description: 'Delete a file or symlink, or a directory and everything in it with recursive: true (a symlink is removed, never followed).',
  input: z.strictObject({ path: absolutePath, recursive: z._default(z.boolean(), false) }),
  output: z.object({ path: z.string(), type: fileType }),
  capability: 'fs.write',
  effects: ['writes', 'destructive'],
  risk: 'high',
  timeoutMs: 120_000,
  undo: 'snapshot',
  paths: (input) => ({ write: [input.path] }),
  async run(input) {
    if (path.resolve(input.path) === '/') throw new ToolError('EPERM', `refusing to delete ${input.path}: it is the root file system; name the files or directories to delete instead`);
    // The kernel resolves `..` after symlinks, path.resolve before them: refuse rather than guess.
    const last = input.path.replace(/\/+$/, '').split('/').pop();
    if (last === '.' || last === '..') throw new ToolError('EINVAL', `refusing to delete ${input.path}: name the directory itself, not "${last}"`);
    const s = await attempt(() => fsp.lstat(input.path));
    const type = typeOf(s);
    if (type === 'directory') {
      if (!input.recursive) throw new ToolError('EISDIR', `${input.path} is a directory; pass recursive: true to delete it and everything in it`);
      await attempt(() => fsp.rm(input.path, { recursive: true }));
    } else {
      await attempt(() => fsp.unlink(input.path));
    }
    return { path: input.path, type };
  },
  render(r) {
    return `deleted ${r.type} ${r.path}`;
  },
});

export const fsChmodTool = defineTool({
  name: 'fs.chmod',
  description: 'Set the permission bits of a path to an octal mode such as "0644" or "0755" (a symlink changes what it points to).',
  input: z.strictObject({ path: absolutePath, mode: octalMode }),
  output: z.object({ path: z.string(), mode: z.string(), previousMode: z.string() }),
  capability: 'fs.write',
  effects: ['writes'],
  risk: 'medium',
  timeoutMs: 5_000,
  undo: 'snapshot',
  paths: (input) => ({ write: [input.path] }),
  async run(input) {
    const before = await attempt(() => fsp.stat(input.path));
    const mode = Number.parseInt(input.mode, 8);
    await attempt(() => fsp.chmod(input.path, mode));
    return { path: input.path, mode: octal(mode), previousMode: octal(before.mode) };
  },
  render(r) {
    return `${r.path}: mode ${r.previousMode} → ${r.mode}`;
  },
});

const MAX_ID = 2 ** 32 - 2; // (uid_t)-1 means "unchanged" to chown(2)

function resolveId(kind: 'user' | 'group', value: string): number {
  if (/^\d+$/.test(value)) {
    const id = Number(value);
    if (id > MAX_ID) throw new ToolError('EINVAL', `${kind} id ${value} is out of range (0 to ${MAX_ID})`);
    return id;
  }
  const id = kind === 'user' ? (lookupUser(value)?.uid ?? null) : lookupGroup(value);
  if (id === null) {
    const file = kind === 'user' ? '/etc/passwd' : '/etc/group';
    throw new ToolError('EINVAL', `no ${kind} named "${value}" in ${file} (give a ${kind} listed there, or a numeric id)`);
  }
  return id;
}

export const fsChownTool = defineTool({
  name: 'fs.chown',
  description: 'Change the owning user and/or group of a path, each by name or numeric id (a symlink changes what it points to).',
  input: z
    .strictObject({ path: absolutePath, user: z.optional(accountName), group: z.optional(accountName) })
    .check(z.refine((i) => i.user !== undefined || i.group !== undefined, 'give user, group, or both')),
  output: z.object({
    path: z.string(),
    uid: z.number(),
    gid: z.number(),
    user: z.nullable(z.string()),
    group: z.nullable(z.string()),
    previousUid: z.number(),
    previousGid: z.number(),
  }),
  capability: 'fs.write',
  effects: ['writes'],
  risk: 'medium',
  timeoutMs: 5_000,
  undo: 'snapshot',
  paths: (input) => ({ write: [input.path] }),
  async run(input) {
    // Resolve names before touching anything, so an unknown group does not leave the user changed.
    const uid = input.user === undefined ? undefined : resolveId('user', input.user);
    const gid = input.group === undefined ? undefined : resolveId('group', input.group);
    const before = await attempt(() => fsp.stat(input.path));
    const next = { uid: uid ?? before.uid, gid: gid ?? before.gid };
    await attempt(() => fsp.chown(input.path, next.uid, next.gid));
    const names = accountNames();
    return { path: input.path, ...next, user: names.user(next.uid), group: names.group(next.gid), previousUid: before.uid, previousGid: before.gid };
  },
  render(r) {
    return `${r.path}: owner ${r.previousUid}:${r.previousGid} → ${r.user ?? r.uid}:${r.group ?? r.gid}`;
  },
});

export const FS_TOOLS = [fsReadTool, fsWriteTool, fsListTool, fsStatTool, fsSearchTool, fsMkdirTool, fsCopyTool, fsMoveTool, fsDeleteTool, fsChmodTool, fsChownTool];
