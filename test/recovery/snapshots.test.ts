// Snapshots and restore: a round trip over files, links, modes, owners, a database in use and
// deleted, added and retyped entries; refusal of corrupt snapshots with nothing changed; a full
// disk; retention; services reloaded; the package set through a fake pacman.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, chownSync, existsSync, statfsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import t, { type Test } from 'tap';
import { diffSnapshot, restoreSnapshot } from '../../src/recovery/restore.ts';
import { createSnapshot, listSnapshots, loadSnapshot, snapshotsDir, sqliteDigest } from '../../src/recovery/snapshots.ts';
import { walk, type TreeEntry } from '../../src/recovery/tree.ts';

const NODE = process.execPath;
const ROOT = path.resolve(import.meta.dirname, '../..');
const ENTRY = path.join(ROOT, 'src/entry.ts');

function scratch(t: Test): { tree: string; state: string; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tree = path.join(dir, 'tree');
  const state = path.join(dir, 'state');
  mkdirSync(tree);
  mkdirSync(state);
  return { tree, state, dir };
}

/** Everything restore promises to bring back, per entry. */
function shape(root: string): Omit<TreeEntry, 'size'>[] {
  return walk([root], { exclude: [], sqliteDigest }).entries.map(({ size: _size, ...rest }) => rest);
}

/** A process that keeps a database open (WAL) and reads or writes it on request. */
class DatabaseHolder {
  readonly child: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterableIterator<string>;
  constructor(file: string) {
    const script = `
      const Database = require(${JSON.stringify(path.join(ROOT, 'node_modules/better-sqlite3'))});
      const db = new Database(${JSON.stringify(file)});
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 10000');
      db.exec('CREATE TABLE IF NOT EXISTS t (n INTEGER)');
      const rl = require('node:readline').createInterface({ input: process.stdin });
      console.log('ready');
      rl.on('line', (line) => {
        const [cmd, arg] = line.split(' ');
        if (cmd === 'write') db.prepare('INSERT INTO t VALUES (?)').run(Number(arg));
        const rows = db.prepare('SELECT n FROM t ORDER BY rowid').all().map((r) => r.n);
        console.log(JSON.stringify({ rows, integrity: db.pragma('integrity_check', { simple: true }) }));
      });`;
    this.child = spawn(NODE, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async next(): Promise<string> {
    const line = await this.#lines.next();
    if (line.done) throw new Error('the database holder exited');
    return line.value;
  }
  async send(command: string): Promise<{ rows: number[]; integrity: string }> {
    this.child.stdin.write(`${command}\n`);
    return JSON.parse(await this.next()) as { rows: number[]; integrity: string };
  }
}

t.test('round trip: files, links, modes, owners, a database in use, deleted/added/retyped entries come back identical', async (t) => {
  const { tree, state } = scratch(t);
  writeFileSync(path.join(tree, 'a.txt'), 'alpha\n');
  writeFileSync(path.join(tree, 'secret'), 'key=1\n', { mode: 0o600 });
  chownSync(path.join(tree, 'secret'), 1000, 1000);
  mkdirSync(path.join(tree, 'bin'));
  writeFileSync(path.join(tree, 'bin/tool'), '#!/bin/sh\necho hi\n');
  chmodSync(path.join(tree, 'bin/tool'), 0o4755);
  mkdirSync(path.join(tree, 'private'), { mode: 0o700 });
  chownSync(path.join(tree, 'private'), 1001, 1002);
  writeFileSync(path.join(tree, 'private/notes'), 'n\n');
  mkdirSync(path.join(tree, 'empty'));
  symlinkSync('a.txt', path.join(tree, 'link-rel'));
  symlinkSync('/nonexistent/target', path.join(tree, 'link-dangling'));
  symlinkSync('/etc/hostname', path.join(tree, 'link-abs'));
  writeFileSync(path.join(tree, 'todelete.txt'), 'bye\n');
  const holder = new DatabaseHolder(path.join(tree, 'app.db'));
  t.teardown(() => holder.child.kill('SIGKILL'));
  t.equal(await holder.next(), 'ready');
  for (const n of [1, 2, 3]) await holder.send(`write ${n}`);

  const before = shape(tree);
  const snapshot = await createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual', description: 'round trip' });
  t.match(snapshot, { trigger: 'manual', description: 'round trip', paths: [tree], data: { method: 'archive' } });
  t.ok(existsSync(path.join(snapshotsDir(state), snapshot.id, 'metadata.json')), 'snapshots/<ULID>/metadata.json');
  t.match(snapshot.entries.find((e) => e.path === path.join(tree, 'app.db')), { type: 'sqlite' }, 'the database is captured as a database');
  t.notOk(snapshot.entries.some((e) => e.path.endsWith('-wal') || e.path.endsWith('-shm')), 'its WAL and shm are not copied as files');

  // Everything changes.
  writeFileSync(path.join(tree, 'a.txt'), 'ALPHA, edited\n');
  unlinkSync(path.join(tree, 'todelete.txt'));
  chmodSync(path.join(tree, 'secret'), 0o644);
  chownSync(path.join(tree, 'secret'), 0, 0);
  unlinkSync(path.join(tree, 'link-rel'));
  writeFileSync(path.join(tree, 'link-rel'), 'now a file\n');
  unlinkSync(path.join(tree, 'link-abs'));
  symlinkSync('/etc/passwd', path.join(tree, 'link-abs'));
  rmSync(path.join(tree, 'empty'), { recursive: true });
  writeFileSync(path.join(tree, 'empty'), 'a file where a directory was\n');
  rmSync(path.join(tree, 'private'), { recursive: true });
  writeFileSync(path.join(tree, 'newfile'), 'new\n');
  mkdirSync(path.join(tree, 'newdir/deeper'), { recursive: true });
  writeFileSync(path.join(tree, 'newdir/deeper/x'), 'x\n');
  t.same((await holder.send('write 4')).rows, [1, 2, 3, 4]);

  const diff = await diffSnapshot(snapshot);
  const kinds = Object.fromEntries(diff.changes.map((c) => [path.relative(tree, c.path), c.kind]));
  t.match(kinds, {
    'a.txt': 'content',
    'todelete.txt': 'recreate',
    secret: 'attributes',
    'link-rel': 'type',
    'link-abs': 'content',
    empty: 'type',
    private: 'recreate',
    'private/notes': 'recreate',
    newfile: 'remove',
    newdir: 'remove',
    'app.db': 'content',
  });

  const result = await restoreSnapshot(snapshot.id, { stateDir: state });
  t.ok(result.safety, 'a safety snapshot was taken');
  t.same(shape(tree), before, 'every entry as it was: content, type, owner, mode, link target, time; the database by content');
  const seen = await holder.send('read');
  t.same(seen, { rows: [1, 2, 3], integrity: 'ok' }, 'the process holding the database sees the restored rows, and the file is sound');
  t.same((await holder.send('write 5')).rows, [1, 2, 3, 5], 'and goes on writing');

  // The safety snapshot undoes the restore.
  const undo = await restoreSnapshot(result.safety!, { stateDir: state });
  t.equal(readFileSync(path.join(tree, 'a.txt'), 'utf8'), 'ALPHA, edited\n');
  t.equal(existsSync(path.join(tree, 'newdir/deeper/x')), true);
  t.ok(undo.safety);
  holder.child.stdin.end();
});

t.test('a corrupt snapshot is refused and nothing changes', async (t) => {
  const { tree, state } = scratch(t);
  writeFileSync(path.join(tree, 'config'), 'good\n');
  writeFileSync(path.join(tree, 'other'), 'other\n');
  const snapshot = await createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' });
  writeFileSync(path.join(tree, 'config'), 'changed since\n');
  const now = shape(tree);
  const home = path.join(snapshotsDir(state), snapshot.id);
  const archive = path.join(home, 'data.tar.zst');
  const pristine = readFileSync(archive);
  const count = (): number => listSnapshots(state).length;

  // A flipped byte in the archive.
  const flipped = Buffer.from(pristine);
  flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
  writeFileSync(archive, flipped);
  await t.rejects(restoreSnapshot(snapshot.id, { stateDir: state }), { code: 'ECORRUPT', message: /is corrupt: .*data\.tar\.zst has checksum .*nothing was restored/ });
  t.same(shape(tree), now, 'nothing changed');
  t.equal(count(), 1, 'no safety snapshot either');

  // An archive rebuilt with other content and its checksum updated: the per-file checksums catch it.
  const metadata = JSON.parse(readFileSync(path.join(home, 'metadata.json'), 'utf8'));
  const forged = mkdtempSync(path.join(os.tmpdir(), 'aios-forged-'));
  t.teardown(() => rmSync(forged, { recursive: true, force: true }));
  writeFileSync(archive + '.orig', pristine);
  const tar = await import('tar');
  await tar.extract({ cwd: forged, file: archive + '.orig', zstd: true });
  writeFileSync(path.join(forged, 'files', tree, 'config'), 'evil\n');
  await tar.create({ cwd: forged, file: archive, zstd: true, portable: true }, ['files']);
  const { sha256File } = await import('../../src/recovery/tree.ts');
  metadata.data.sha256 = sha256File(archive);
  writeFileSync(path.join(home, 'metadata.json'), JSON.stringify(metadata));
  await t.rejects(restoreSnapshot(snapshot.id, { stateDir: state }), { code: 'ECORRUPT', message: new RegExp(`the copy of ${tree}/config does not match its checksum`) });
  t.same(shape(tree), now, 'nothing changed');

  // Metadata that is not JSON, or not the schema.
  writeFileSync(path.join(home, 'metadata.json'), '{"format": 1, "id": ');
  await t.rejects(restoreSnapshot(snapshot.id, { stateDir: state }), { code: 'ECORRUPT', message: /metadata\.json is not JSON/ });
  t.match(listSnapshots(state), [{ id: snapshot.id, ok: false, error: /is corrupt/ }], 'listed as unreadable, not hidden');
  writeFileSync(path.join(home, 'metadata.json'), JSON.stringify({ ...metadata, trigger: 'sometimes' }));
  await t.rejects(restoreSnapshot(snapshot.id, { stateDir: state }), { code: 'ECORRUPT', message: /`trigger`/ });
  t.same(shape(tree), now);
  t.equal(count(), 1);

  await t.rejects(restoreSnapshot('01ARZ3NDEKTSV4RRFFQ69G5FAV', { stateDir: state }), { code: 'ENOENT', message: /no snapshot 01ARZ3NDEKTSV4RRFFQ69G5FAV/ });
  await t.rejects(restoreSnapshot('../../etc', { stateDir: state }), { code: 'EINVAL', message: /not a snapshot id/ });
});

t.test('a full disk: the snapshot fails with ENOSPC, says what to do, and leaves nothing behind', async (t) => {
  const { tree, state } = scratch(t);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', state]);
  if (mounted.status !== 0) {
    t.plan(0, `cannot mount a small tmpfs here (${mounted.stderr.toString().trim()}); needs root`);
    return;
  }
  t.teardown(() => spawnSync('umount', ['-l', state]));
  // Bigger than the disk: refused before anything is written.
  writeFileSync(path.join(tree, 'big'), randomBytes(4 << 20));
  await t.rejects(createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' }), { code: 'ENOSPC', message: /not enough space .*Nothing was changed; remove old snapshots/ });
  t.same(readdirSync(snapshotsDir(state)), [], 'nothing left in snapshots/');
  // Fits as copies but not copies plus archive: fails while writing, and cleans up.
  writeFileSync(path.join(tree, 'big'), randomBytes(2 << 20));
  await t.rejects(createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' }), { code: 'ENOSPC' });
  t.same(readdirSync(snapshotsDir(state)), [], 'no half snapshot left');
});

t.test('no space to unpack a restore: refused with nothing changed', async (t) => {
  const { tree, state } = scratch(t);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', state]);
  if (mounted.status !== 0) {
    t.plan(0, `cannot mount a small tmpfs here (${mounted.stderr.toString().trim()}); needs root`);
    return;
  }
  t.teardown(() => spawnSync('umount', ['-l', state]));
  writeFileSync(path.join(tree, 'blob'), randomBytes(1 << 20));
  const snapshot = await createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' });
  writeFileSync(path.join(tree, 'blob'), 'replaced');
  // Fill the disk: what is left cannot hold the 1 MiB file the restore must unpack.
  const filler = path.join(state, 'filler');
  const free = (): number => {
    const s = statfsSync(state);
    return s.bavail * s.bsize;
  };
  writeFileSync(filler, Buffer.alloc(Math.max(0, free() - (256 << 10))));
  await t.rejects(restoreSnapshot(snapshot.id, { stateDir: state }), { code: 'ENOSPC', message: /not enough space .* for unpacking snapshot .* to restore it .*Nothing was changed/ });
  t.equal(readFileSync(path.join(tree, 'blob'), 'utf8'), 'replaced', 'nothing changed');
  t.same(readdirSync(snapshotsDir(state)).filter((n) => n.startsWith('.')), [], 'no unpacked leftovers, no lock');
  t.equal(listSnapshots(state).length, 1, 'no safety snapshot');
  unlinkSync(filler);
  await restoreSnapshot(snapshot.id, { stateDir: state });
  t.equal(readFileSync(path.join(tree, 'blob')).length, 1 << 20, 'with space again, it restores');
});

t.test('retention keeps the newest automatic snapshots and every manual one', async (t) => {
  const { tree, state } = scratch(t);
  writeFileSync(path.join(tree, 'f'), 'x');
  const manual = await createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' });
  const automatic: string[] = [];
  for (let i = 0; i < 5; i++) automatic.push((await createSnapshot({ stateDir: state, paths: [tree], trigger: i % 2 ? 'automatic' : 'before-tool', keepAutomatic: 3 })).id);
  t.same(
    listSnapshots(state).map((s) => s.id),
    [manual.id, ...automatic.slice(2)],
  );
});

t.test('services whose definitions change are reloaded', async (t) => {
  const { tree, state } = scratch(t);
  const services = path.join(tree, 'services');
  mkdirSync(services);
  writeFileSync(path.join(services, 'web.toml'), 'exec = ["/bin/web"]\n');
  writeFileSync(path.join(services, 'db.toml'), 'exec = ["/bin/db"]\n');
  const snapshot = await createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' });
  writeFileSync(path.join(services, 'web.toml'), 'exec = ["/bin/web", "--broken"]\n');
  writeFileSync(path.join(services, 'extra.toml'), 'exec = ["/bin/extra"]\n');
  const asked: string[][] = [];
  const result = await restoreSnapshot(snapshot.id, {
    stateDir: state,
    servicesDir: services,
    reloadServices: async (names) => {
      asked.push(names);
      return names;
    },
  });
  t.same(asked, [['extra', 'web']]);
  t.same(result.services, ['extra', 'web']);
});

t.test('the package set: recorded with pacman -Q, put back from the pacman cache', async (t) => {
  const { tree, state, dir } = scratch(t);
  const cache = path.join(dir, 'cache');
  mkdirSync(cache);
  writeFileSync(path.join(cache, 'nginx-1.26.0-1-x86_64.pkg.tar.zst'), '');
  writeFileSync(path.join(cache, 'nginx-1.27.0-1-x86_64.pkg.tar.zst'), '');
  const installed = path.join(dir, 'installed');
  const calls = path.join(dir, 'calls');
  writeFileSync(installed, 'nginx 1.26.0-1\nopenssl 3.4.0-1\nzlib 1:1.3.1-2\n');
  const pacman = path.join(dir, 'pacman');
  writeFileSync(pacman, `#!/bin/sh\necho "$*" >> ${calls}\nif [ "$1" = -Q ]; then cat ${installed}; fi\n`, { mode: 0o755 });
  const saved = { pacman: process.env.AIOS_PACMAN, cache: process.env.AIOS_PACMAN_CACHE };
  process.env.AIOS_PACMAN = pacman;
  process.env.AIOS_PACMAN_CACHE = cache;
  t.teardown(() => {
    for (const [key, value] of [['AIOS_PACMAN', saved.pacman], ['AIOS_PACMAN_CACHE', saved.cache]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
  writeFileSync(path.join(tree, 'f'), 'x');
  const snapshot = await createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' });
  t.same(loadSnapshot(state, snapshot.id).packages, [
    { name: 'nginx', version: '1.26.0-1' },
    { name: 'openssl', version: '3.4.0-1' },
    { name: 'zlib', version: '1:1.3.1-2' },
  ]);
  // Since: nginx upgraded, zlib downgraded to a version the cache does not hold… and one added.
  writeFileSync(installed, 'nginx 1.27.0-1\nopenssl 3.4.0-1\nzlib 1:1.3.0-1\ncowsay 3.8-1\n');
  const diff = await diffSnapshot(snapshot);
  t.same(diff.packages, {
    install: [{ name: 'nginx', version: '1.26.0-1', file: path.join(cache, 'nginx-1.26.0-1-x86_64.pkg.tar.zst') }],
    missing: [{ name: 'zlib', version: '1:1.3.1-2' }],
    remove: ['cowsay'],
  });
  writeFileSync(calls, '');
  const result = await restoreSnapshot(snapshot.id, { stateDir: state });
  t.same(
    readFileSync(calls, 'utf8').trim().split('\n').filter((l) => l !== '-Q'),
    [`-U --noconfirm -- ${path.join(cache, 'nginx-1.26.0-1-x86_64.pkg.tar.zst')}`, '-R --noconfirm -- cowsay'],
  );
  t.match(result.problems, [/not in the pacman cache, so not put back: zlib 1:1.3.1-2/]);
});

t.test('the CLI: snapshot, snapshots --json, show, diff, restore --dry-run and restore', async (t) => {
  const { tree, state, dir } = scratch(t);
  const config = path.join(dir, 'config.toml');
  writeFileSync(config, `[snapshots]\npaths = [${JSON.stringify(tree)}]\n`);
  writeFileSync(path.join(tree, 'motd'), 'welcome\n');
  const aios = (...args: string[]) => spawnSync(NODE, [ENTRY, ...args, '--state', state], { encoding: 'utf8', env: { ...process.env, AIOS_CONFIG: config, AIOS_RUN_DIR: path.join(dir, 'run') }, stdio: ['ignore', 'pipe', 'pipe'] });

  const taken = aios('snapshot', '-d', 'before the motd change');
  t.equal(taken.status, 0, taken.stderr);
  const id = taken.stdout.trim();
  t.match(id, /^[0-9A-Z]{26}$/);
  t.match(taken.stderr, /snapshot .*: done \(1 files/, 'progress on stderr');
  const listed = JSON.parse(aios('snapshots', '--json').stdout);
  t.match(listed, [{ id, trigger: 'manual', description: 'before the motd change', paths: [tree], files: 1, method: 'archive', tool: null }]);
  t.match(aios('snapshot', 'show', id).stdout, /trigger\s+manual\n/);
  t.match(JSON.parse(aios('snapshot', 'show', id, '--json').stdout), { id, entries: [{ path: tree, type: 'dir' }, { path: path.join(tree, 'motd'), type: 'file', sha256: /^[0-9a-f]{64}$/ }] });

  writeFileSync(path.join(tree, 'motd'), 'changed\n');
  t.match(aios('snapshot', 'diff', id).stdout, new RegExp(`~ ${tree}/motd`));
  const dry = aios('restore', id, '--dry-run');
  t.equal(dry.status, 0);
  t.match(dry.stdout, /would change: 1 change/);
  t.equal(readFileSync(path.join(tree, 'motd'), 'utf8'), 'changed\n', 'a dry run changes nothing');

  const unasked = aios('restore', id);
  t.equal(unasked.status, 2, 'no terminal, no --yes: refused');
  t.match(unasked.stderr, /needs --yes/);
  const restored = aios('restore', id, '--yes', '--json');
  t.equal(restored.status, 0, restored.stderr);
  t.match(JSON.parse(restored.stdout), { id, dryRun: false, safety: /^[0-9A-Z]{26}$/, diff: { changes: [{ path: path.join(tree, 'motd'), kind: 'content' }] } });
  t.equal(readFileSync(path.join(tree, 'motd'), 'utf8'), 'welcome\n');

  const unknown = aios('restore', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--yes');
  t.equal(unknown.status, 1);
  t.match(unknown.stderr, /aios restore: no snapshot 01ARZ3NDEKTSV4RRFFQ69G5FAV .*see `aios snapshots`/);
  const badConfig = path.join(dir, 'bad.toml');
  writeFileSync(badConfig, '[snapshots]\nkeep_automatic = "lots"\n');
  const bad = aios('snapshot', '--config', badConfig);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /bad\.toml: \[snapshots\.keep_automatic\]/);
});

t.test('one restore at a time: a live restore\'s lock refuses another; a dead one\'s is taken over', async (t) => {
  const { tree, state } = scratch(t);
  writeFileSync(path.join(tree, 'f'), 'one');
  const snapshot = await createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' });
  writeFileSync(path.join(tree, 'f'), 'two');
  const lockDir = path.join(snapshotsDir(state), '.restore-lock');
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill('SIGKILL'));
  mkdirSync(path.join(lockDir, String(sleeper.pid)), { recursive: true });
  await t.rejects(restoreSnapshot(snapshot.id, { stateDir: state }), { code: 'EBUSY', message: new RegExp(`another restore is running \\(pid ${sleeper.pid}\\)`) });
  t.equal(readFileSync(path.join(tree, 'f'), 'utf8'), 'two', 'nothing changed');
  sleeper.kill('SIGKILL');
  await new Promise((resolve) => sleeper.on('exit', resolve));
  await restoreSnapshot(snapshot.id, { stateDir: state });
  t.equal(readFileSync(path.join(tree, 'f'), 'utf8'), 'one', 'the dead owner\'s lock was taken over');
  t.equal(existsSync(lockDir), false, 'and released');
});
