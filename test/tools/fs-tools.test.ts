// The file tools on the real file system, in a temporary directory: exact contents, modes and
// owners after each call, and each refusal with the message a model would read.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  FS_TOOLS,
  fsChmodTool,
  fsChownTool,
  fsCopyTool,
  fsDeleteTool,
  fsListTool,
  fsMkdirTool,
  fsMoveTool,
  fsReadTool,
  fsSearchTool,
  fsStatTool,
  fsWriteTool,
} from '../../src/tools/fs-tools.ts';
import type { ToolContext } from '../../src/tools/tool.ts';
import { fails, ok } from '../helpers/tool-calls.ts';

interface Scratch {
  dir: string;
  context: ToolContext;
  at(...parts: string[]): string;
}

function scratch(t: Test): Scratch {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-fs-tools-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, context: { runDir: dir, stateDir: dir, signal: new AbortController().signal }, at: (...parts) => path.join(dir, ...parts) };
}


const isRoot = process.getuid?.() === 0;

t.test('every tool declares what it touches', async (t) => {
  t.same(
    FS_TOOLS.map((tool) => [tool.name, tool.effects, tool.undo]),
    [
      ['fs.read', ['reads'], 'none'],
      ['fs.write', ['writes'], 'snapshot'],
      ['fs.list', ['reads'], 'none'],
      ['fs.stat', ['reads'], 'none'],
      ['fs.search', ['reads'], 'none'],
      ['fs.mkdir', ['writes'], 'snapshot'],
      ['fs.copy', ['writes'], 'snapshot'],
      ['fs.move', ['writes', 'destructive'], 'snapshot'],
      ['fs.delete', ['writes', 'destructive'], 'snapshot'],
      ['fs.chmod', ['writes'], 'snapshot'],
      ['fs.chown', ['writes'], 'snapshot'],
    ],
  );
  for (const tool of FS_TOOLS) {
    t.match(tool.description, /^[A-Z].*\.$/, `${tool.name}: one sentence`);
    t.ok(tool.paths, `${tool.name}: names its paths`);
    t.ok(tool.capability.startsWith('fs.'), `${tool.name}: capability ${tool.capability}`);
  }
  t.same(fsCopyTool.paths!({ source: '/a', destination: '/b', recursive: false, overwrite: false }), { read: ['/a'], write: ['/b'] });
  t.same(fsMoveTool.paths!({ source: '/a', destination: '/b', overwrite: false }), { write: ['/a', '/b'] });
  t.same(fsReadTool.paths!({ path: '/etc/hosts', maxBytes: 1, offset: 0 }), { read: ['/etc/hosts'] });
  t.same(fsDeleteTool.paths!({ path: '/x', recursive: true }), { write: ['/x'] });
});

t.test('paths are validated before anything runs', async (t) => {
  const s = scratch(t);
  t.match(await fails(t, fsReadTool, { path: 'etc/hosts' }, s, 'EINVAL'), /fs\.read: path: must be an absolute path \(starting with \/\), got "etc\/hosts"/);
  t.match(await fails(t, fsReadTool, { path: '' }, s, 'EINVAL'), /path: must not be empty$/);
  t.match(await fails(t, fsWriteTool, { path: `${s.dir}/a\0b`, content: 'x' }, s, 'EINVAL'), /path: must not contain a NUL byte/);
  t.match(await fails(t, fsCopyTool, { source: s.at('a'), destination: 'b' }, s, 'EINVAL'), /destination: must be an absolute path/);
  // zod/mini says only "Invalid input" for an unknown key until an error locale is configured.
  await fails(t, fsReadTool, { path: s.at('a'), extra: 1 }, s, 'EINVAL');
  t.match(await fails(t, fsWriteTool, { path: s.at('a'), content: 'x', mode: 'truncate' }, s, 'EINVAL'), 'mode: must be one of "create", "overwrite", "append", got "truncate"');
  t.notOk(existsSync(s.at('a')));
});

t.test('fs.read: exact text, truncation on a character boundary, offset, binary, refusals', async (t) => {
  const s = scratch(t);
  writeFileSync(s.at('text'), 'hello\nworld\n');
  const whole = await ok(t, fsReadTool, { path: s.at('text') }, s);
  t.same(whole, { path: s.at('text'), content: 'hello\nworld\n', bytes: 12, size: 12, offset: 0, truncated: false, binary: false });
  t.equal(fsReadTool.render(whole), 'hello\nworld\n');

  const head = await ok(t, fsReadTool, { path: s.at('text'), maxBytes: 5 }, s);
  t.same([head.content, head.bytes, head.truncated], ['hello', 5, true]);
  t.match(fsReadTool.render(head), /truncated: 5 bytes from offset 0 of 12; read on with offset 5/);
  t.same((await ok(t, fsReadTool, { path: s.at('text'), offset: 6 }, s)).content, 'world\n');
  // Exactly maxBytes is not truncated.
  t.equal((await ok(t, fsReadTool, { path: s.at('text'), maxBytes: 12 }, s)).truncated, false);

  writeFileSync(s.at('utf8'), 'aé€'); // 1 + 2 + 3 bytes
  const cut = await ok(t, fsReadTool, { path: s.at('utf8'), maxBytes: 5 }, s);
  t.same([cut.content, cut.bytes, cut.truncated], ['aé', 3, true], 'a cut never splits €');
  t.same((await ok(t, fsReadTool, { path: s.at('utf8'), maxBytes: 2 }, s)).content, 'a');

  writeFileSync(s.at('bin'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1]));
  t.equal((await ok(t, fsReadTool, { path: s.at('bin') }, s)).binary, true);

  t.match(await fails(t, fsReadTool, { path: s.at('missing') }, s, 'ENOENT'), new RegExp(`^${s.at('missing')} does not exist`));
  t.match(await fails(t, fsReadTool, { path: s.dir }, s, 'EISDIR'), /is a directory \(fs\.list shows what it holds\)/);
  // A FIFO with no writer would block an ordinary open forever.
  execFileSync('mkfifo', [s.at('fifo')]);
  t.match(await fails(t, fsReadTool, { path: s.at('fifo') }, s, 'EINVAL'), /fifo is a fifo, not a regular file/);
  t.match(await fails(t, fsReadTool, { path: s.at('text'), maxBytes: 0 }, s, 'EINVAL'), /maxBytes/);
});

t.test('fs.write: create, refuse to clobber, overwrite, append, parents', async (t) => {
  const s = scratch(t);
  const file = s.at('notes.txt');
  t.same(await ok(t, fsWriteTool, { path: file, content: 'café\n' }, s), { path: file, mode: 'create', bytes: 6, created: true });
  t.equal(readFileSync(file, 'utf8'), 'café\n');
  t.match(await fails(t, fsWriteTool, { path: file, content: 'other' }, s, 'EEXIST'), /already exists \(mode "overwrite" replaces it, mode "append" adds to it\)/);
  t.equal(readFileSync(file, 'utf8'), 'café\n', 'a refused create leaves the file alone');

  const over = await ok(t, fsWriteTool, { path: file, content: 'one\n', mode: 'overwrite' }, s);
  t.same([over.created, readFileSync(file, 'utf8')], [false, 'one\n']);
  t.equal(fsWriteTool.render(over), `overwrote ${file} (4 bytes)`);
  await ok(t, fsWriteTool, { path: file, content: 'two\n', mode: 'append' }, s);
  t.equal(readFileSync(file, 'utf8'), 'one\ntwo\n');

  const deep = s.at('a', 'b', 'c.conf');
  t.match(await fails(t, fsWriteTool, { path: deep, content: 'x' }, s, 'ENOENT'), `the directory ${s.at('a', 'b')} does not exist (pass parents: true to create it)`);
  t.notOk(existsSync(s.at('a')));
  t.same(await ok(t, fsWriteTool, { path: deep, content: 'x=1\n', parents: true }, s), { path: deep, mode: 'create', bytes: 4, created: true });
  t.equal(readFileSync(deep, 'utf8'), 'x=1\n');
  t.match(await fails(t, fsWriteTool, { path: s.dir, content: 'x', mode: 'overwrite' }, s, 'EISDIR'), new RegExp(`${s.dir} is a directory`));
});

t.test('fs.list: entries with type, size, mode, mtime and link targets; dotfiles only with all', async (t) => {
  const s = scratch(t);
  writeFileSync(s.at('b.txt'), 'abc');
  chmodSync(s.at('b.txt'), 0o640);
  const when = new Date('2020-01-02T03:04:05.000Z');
  utimesSync(s.at('b.txt'), when, when);
  mkdirSync(s.at('a'));
  chmodSync(s.at('a'), 0o750);
  symlinkSync('b.txt', s.at('c'));
  writeFileSync(s.at('.hidden'), '');

  const listed = await ok(t, fsListTool, { path: s.dir }, s);
  t.same(listed.entries.map((e) => [e.name, e.type, e.mode, e.target]), [
    ['a', 'directory', '0750', null],
    ['b.txt', 'file', '0640', null],
    ['c', 'symlink', '0777', 'b.txt'],
  ]);
  const b = listed.entries[1]!;
  t.same([b.size, b.mtime], [3, '2020-01-02T03:04:05.000Z']);
  t.same([listed.total, listed.truncated], [3, false]);
  const text = fsListTool.render(listed).split('\n');
  t.match(text[0], /^drwxr-x--- +\d+ +\S+ \S+ +a\/$/);
  t.match(text[1], /^-rw-r----- +3  2020-01-02 03:04  b\.txt$/);
  t.match(text[2], /^lrwxrwxrwx .* c -> b\.txt$/);

  t.same((await ok(t, fsListTool, { path: s.dir, all: true }, s)).entries.map((e) => e.name), ['.hidden', 'a', 'b.txt', 'c']);
  const one = await ok(t, fsListTool, { path: s.dir, limit: 1 }, s);
  t.same([one.entries.map((e) => e.name), one.total, one.truncated], [['a'], 3, true]);
  t.match(fsListTool.render(one), /… 2 more \(raise limit to see them\)/);
  t.equal(fsListTool.render(await ok(t, fsListTool, { path: s.at('a') }, s)), `${s.at('a')}: empty`);

  t.match(await fails(t, fsListTool, { path: s.at('b.txt') }, s, 'ENOTDIR'), `${s.at('b.txt')} is not a directory`);
  t.match(await fails(t, fsListTool, { path: s.at('nope') }, s, 'ENOENT'), `${s.at('nope')} does not exist`);
});

t.test('fs.stat: type, size, octal mode, owner, mtime, symlink target', async (t) => {
  const s = scratch(t);
  writeFileSync(s.at('f'), 'hello');
  chmodSync(s.at('f'), 0o4755);
  const when = new Date('2021-06-07T08:09:10.000Z');
  utimesSync(s.at('f'), when, when);
  symlinkSync('f', s.at('link'));
  symlinkSync('nowhere', s.at('dangling'));
  const me = os.userInfo();

  const st = await ok(t, fsStatTool, { path: s.at('f') }, s);
  t.same(st, { path: s.at('f'), type: 'file', size: 5, mode: '4755', uid: me.uid, gid: me.gid, user: me.username, group: st.group, mtime: '2021-06-07T08:09:10.000Z', target: null });
  t.match(fsStatTool.render(st), /mode 4755 \(-rwsr-xr-x\)/);

  const link = await ok(t, fsStatTool, { path: s.at('link') }, s);
  t.same([link.type, link.target], ['symlink', 'f']);
  const followed = await ok(t, fsStatTool, { path: s.at('link'), follow: true }, s);
  t.same([followed.type, followed.size, followed.mode, followed.target], ['file', 5, '4755', 'f']);
  t.match(await fails(t, fsStatTool, { path: s.at('dangling'), follow: true }, s, 'ENOENT'), `${s.at('dangling')} is a symlink to nowhere, which does not exist`);
  t.same((await ok(t, fsStatTool, { path: s.dir }, s)).type, 'directory');
  t.same((await ok(t, fsStatTool, { path: '/dev/null' }, s)).type, 'char-device');
  t.match(await fails(t, fsStatTool, { path: s.at('nope') }, s, 'ENOENT'), s.at('nope'));
});

t.test('fs.search: by name glob, by content, both; symlinks never followed; limits', async (t) => {
  const s = scratch(t);
  const outside = mkdtempSync(path.join(os.tmpdir(), 'aios-fs-outside-'));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  writeFileSync(path.join(outside, 'secret.conf'), 'port = 1\n');
  writeFileSync(s.at('a.conf'), 'port = 80\nhost = example\n');
  mkdirSync(s.at('sub'));
  writeFileSync(s.at('sub', 'b.conf'), 'listen 8080\n');
  writeFileSync(s.at('sub', 'c.txt'), 'x\ny\nport = 9\n');
  symlinkSync(outside, s.at('out.conf'));
  symlinkSync(outside, s.at('outdir'));

  const byName = await ok(t, fsSearchTool, { path: s.dir, name: '*.conf' }, s);
  t.same(
    byName.results.map((r) => [r.path, r.type]),
    [
      [s.at('a.conf'), 'file'],
      [s.at('out.conf'), 'symlink'],
      [s.at('sub', 'b.conf'), 'file'],
    ],
    'breadth first, sorted, the link itself and nothing behind it',
  );
  t.same(byName.truncated, false);

  const byText = await ok(t, fsSearchTool, { path: s.dir, contains: 'port' }, s);
  t.same(
    byText.results.map((r) => [r.path, r.line, r.text]),
    [
      [s.at('a.conf'), 1, 'port = 80'],
      [s.at('sub', 'c.txt'), 3, 'port = 9'],
    ],
  );
  t.equal(fsSearchTool.render(byText), `${s.at('a.conf')}:1: port = 80\n${s.at('sub', 'c.txt')}:3: port = 9`);
  t.same((await ok(t, fsSearchTool, { path: s.dir, contains: 'host' }, s)).results.map((r) => r.line), [2]);
  t.same((await ok(t, fsSearchTool, { path: s.dir, name: '*.conf', contains: '80' }, s)).results.map((r) => r.path), [s.at('a.conf'), s.at('sub', 'b.conf')]);
  t.same((await ok(t, fsSearchTool, { path: s.dir, name: '*.conf', contains: 'port', maxDepth: 0 }, s)).results.map((r) => r.path), [s.at('a.conf')]);
  t.same((await ok(t, fsSearchTool, { path: s.dir, contains: 'no such text' }, s)).results, []);

  const one = await ok(t, fsSearchTool, { path: s.dir, name: '*' }, s);
  t.ok(one.results.length >= 6);
  const capped = await ok(t, fsSearchTool, { path: s.dir, name: '*', maxResults: 2 }, s);
  t.same([capped.results.length, capped.truncated], [2, true]);
  t.match(fsSearchTool.render(capped), /stopped at 2 results/);

  t.match(await fails(t, fsSearchTool, { path: s.dir }, s, 'EINVAL'), /give name \(a glob such as "\*\.conf"\), contains \(a text\), or both/);
  t.match(await fails(t, fsSearchTool, { path: s.dir, name: 'a/b' }, s, 'EINVAL'), /name: must be a glob on a file name/);
  t.match(await fails(t, fsSearchTool, { path: '/proc/self', name: '*' }, s, 'EINVAL'), /\/proc\/self is inside \/proc, which fs\.search does not enter/);
  t.match(await fails(t, fsSearchTool, { path: s.at('a.conf'), name: '*' }, s, 'ENOTDIR'), `${s.at('a.conf')} is not a directory`);
  t.match(await fails(t, fsSearchTool, { path: s.at('nope'), name: '*' }, s, 'ENOENT'), `${s.at('nope')} does not exist`);
});

t.test('fs.mkdir: one level, parents, existing, mode', async (t) => {
  const s = scratch(t);
  t.same(await ok(t, fsMkdirTool, { path: s.at('d') }, s), { path: s.at('d'), created: true });
  t.ok(statSync(s.at('d')).isDirectory());
  t.match(await fails(t, fsMkdirTool, { path: s.at('d') }, s, 'EEXIST'), `${s.at('d')} already exists (parents: true accepts an existing directory)`);
  t.same(await ok(t, fsMkdirTool, { path: s.at('d'), parents: true }, s), { path: s.at('d'), created: false });
  t.match(await fails(t, fsMkdirTool, { path: s.at('x', 'y') }, s, 'ENOENT'), `the directory ${s.at('x')} does not exist (pass parents: true to create it too)`);
  t.same(await ok(t, fsMkdirTool, { path: s.at('x', 'y'), parents: true, mode: '0700' }, s), { path: s.at('x', 'y'), created: true });
  t.equal(statSync(s.at('x', 'y')).mode & 0o7777, 0o700);
  writeFileSync(s.at('file'), '');
  t.match(await fails(t, fsMkdirTool, { path: s.at('file'), parents: true }, s, 'EEXIST'), `${s.at('file')} already exists and is not a directory`);
  t.match(await fails(t, fsMkdirTool, { path: s.at('m'), mode: '999' }, s, 'EINVAL'), /mode: must be an octal mode of 3 or 4 digits like "0644" or "755", got "999"/);
});

t.test('fs.copy: files keep content and mode; directories only with recursive; links stay links', async (t) => {
  const s = scratch(t);
  writeFileSync(s.at('src'), 'payload');
  chmodSync(s.at('src'), 0o600);
  t.same(await ok(t, fsCopyTool, { source: s.at('src'), destination: s.at('dst') }, s), { source: s.at('src'), destination: s.at('dst'), type: 'file' });
  t.same([readFileSync(s.at('dst'), 'utf8'), statSync(s.at('dst')).mode & 0o777], ['payload', 0o600]);

  writeFileSync(s.at('src'), 'newer');
  t.match(await fails(t, fsCopyTool, { source: s.at('src'), destination: s.at('dst') }, s, 'EEXIST'), `${s.at('dst')} already exists (pass overwrite: true to replace it`);
  t.equal(readFileSync(s.at('dst'), 'utf8'), 'payload');
  await ok(t, fsCopyTool, { source: s.at('src'), destination: s.at('dst'), overwrite: true }, s);
  t.equal(readFileSync(s.at('dst'), 'utf8'), 'newer');

  mkdirSync(s.at('tree', 'inner'), { recursive: true });
  writeFileSync(s.at('tree', 'inner', 'f'), 'deep');
  symlinkSync('/etc/hostname', s.at('tree', 'link'));
  t.match(await fails(t, fsCopyTool, { source: s.at('tree'), destination: s.at('copy') }, s, 'EISDIR'), `${s.at('tree')} is a directory; pass recursive: true to copy it and everything in it`);
  t.notOk(existsSync(s.at('copy')));
  t.same((await ok(t, fsCopyTool, { source: s.at('tree'), destination: s.at('copy'), recursive: true }, s)).type, 'directory');
  t.equal(readFileSync(s.at('copy', 'inner', 'f'), 'utf8'), 'deep');
  t.same([lstatSync(s.at('copy', 'link')).isSymbolicLink(), readlinkSync(s.at('copy', 'link'))], [true, '/etc/hostname']);

  t.match(await fails(t, fsCopyTool, { source: s.at('src'), destination: s.at('no', 'dir', 'f') }, s, 'ENOENT'), `the directory ${s.at('no', 'dir')} does not exist`);
  t.match(await fails(t, fsCopyTool, { source: s.at('missing'), destination: s.at('x') }, s, 'ENOENT'), `${s.at('missing')} does not exist`);
});

t.test('fs.move: rename, refuse to clobber, overwrite, not into itself, across file systems', async (t) => {
  const s = scratch(t);
  writeFileSync(s.at('a'), 'A');
  t.same(await ok(t, fsMoveTool, { source: s.at('a'), destination: s.at('b') }, s), { source: s.at('a'), destination: s.at('b'), type: 'file', acrossFileSystems: false });
  t.same([existsSync(s.at('a')), readFileSync(s.at('b'), 'utf8')], [false, 'A']);

  writeFileSync(s.at('c'), 'C');
  t.match(await fails(t, fsMoveTool, { source: s.at('c'), destination: s.at('b') }, s, 'EEXIST'), `${s.at('b')} already exists (pass overwrite: true`);
  t.same([readFileSync(s.at('b'), 'utf8'), existsSync(s.at('c'))], ['A', true]);
  await ok(t, fsMoveTool, { source: s.at('c'), destination: s.at('b'), overwrite: true }, s);
  t.same([readFileSync(s.at('b'), 'utf8'), existsSync(s.at('c'))], ['C', false]);

  mkdirSync(s.at('dir'));
  t.match(await fails(t, fsMoveTool, { source: s.at('dir'), destination: s.at('dir', 'sub') }, s, 'EINVAL'), `cannot move ${s.at('dir')} into itself`);
  t.match(await fails(t, fsMoveTool, { source: s.at('gone'), destination: s.at('x') }, s, 'ENOENT'), `${s.at('gone')} does not exist`);
  t.match(await fails(t, fsMoveTool, { source: '/', destination: s.at('root') }, s, 'EPERM'), /refusing to move \//);

  const shm = '/dev/shm';
  if (!existsSync(shm) || statSync(shm).dev === statSync(s.dir).dev) {
    t.comment('no second file system to move across');
    return;
  }
  const other = mkdtempSync(path.join(shm, 'aios-fs-tools-'));
  t.teardown(() => rmSync(other, { recursive: true, force: true }));
  mkdirSync(s.at('dir', 'inner'));
  writeFileSync(s.at('dir', 'inner', 'f'), 'F');
  const moved = await ok(t, fsMoveTool, { source: s.at('dir'), destination: path.join(other, 'dir') }, s);
  t.same([moved.acrossFileSystems, moved.type], [true, 'directory']);
  t.same([existsSync(s.at('dir')), readFileSync(path.join(other, 'dir', 'inner', 'f'), 'utf8')], [false, 'F']);
});

t.test('fs.delete: files, directories only with recursive, links not followed, never /', async (t) => {
  const s = scratch(t);
  writeFileSync(s.at('f'), '');
  t.same(await ok(t, fsDeleteTool, { path: s.at('f') }, s), { path: s.at('f'), type: 'file' });
  t.notOk(existsSync(s.at('f')));

  mkdirSync(s.at('d', 'e'), { recursive: true });
  writeFileSync(s.at('d', 'e', 'g'), 'x');
  t.match(await fails(t, fsDeleteTool, { path: s.at('d') }, s, 'EISDIR'), `${s.at('d')} is a directory; pass recursive: true to delete it and everything in it`);
  t.ok(existsSync(s.at('d', 'e', 'g')));

  symlinkSync(s.at('d'), s.at('link'));
  t.same(await ok(t, fsDeleteTool, { path: s.at('link'), recursive: true }, s), { path: s.at('link'), type: 'symlink' });
  t.ok(existsSync(s.at('d', 'e', 'g')), 'deleting a link leaves what it points to');

  t.match(await fails(t, fsDeleteTool, { path: `${s.at('d', 'e')}/..` }, s, 'EINVAL'), /name the directory itself, not "\.\."/);
  t.same(await ok(t, fsDeleteTool, { path: s.at('d'), recursive: true }, s), { path: s.at('d'), type: 'directory' });
  t.notOk(existsSync(s.at('d')));

  for (const root of ['/', '//', '/tmp/..', '/./']) {
    t.match(await fails(t, fsDeleteTool, { path: root, recursive: true }, s, 'EPERM'), /it is the root file system/, `refuses ${root}`);
  }
  t.match(await fails(t, fsDeleteTool, { path: s.at('f') }, s, 'ENOENT'), `${s.at('f')} does not exist`);
});

t.test('fs.chmod: octal modes, validated', async (t) => {
  const s = scratch(t);
  writeFileSync(s.at('f'), '');
  chmodSync(s.at('f'), 0o644);
  t.same(await ok(t, fsChmodTool, { path: s.at('f'), mode: '0755' }, s), { path: s.at('f'), mode: '0755', previousMode: '0644' });
  t.equal(statSync(s.at('f')).mode & 0o7777, 0o755);
  await ok(t, fsChmodTool, { path: s.at('f'), mode: '2750' }, s);
  t.equal(statSync(s.at('f')).mode & 0o7777, 0o2750);
  t.equal(fsChmodTool.render(await ok(t, fsChmodTool, { path: s.at('f'), mode: '600' }, s)), `${s.at('f')}: mode 2750 → 0600`);
  for (const bad of ['999', 'rwx', '0o644', '12', '07777x', '']) {
    t.match(await fails(t, fsChmodTool, { path: s.at('f'), mode: bad }, s, 'EINVAL'), `mode: must be an octal mode of 3 or 4 digits like "0644" or "755", got ${JSON.stringify(bad)}`);
  }
  t.equal(statSync(s.at('f')).mode & 0o7777, 0o600, 'refused modes change nothing');
  t.match(await fails(t, fsChmodTool, { path: s.at('nope'), mode: '0644' }, s, 'ENOENT'), `${s.at('nope')} does not exist`);
});

t.test('fs.chown: by name and by id, unknown names refused before anything changes', async (t) => {
  const s = scratch(t);
  writeFileSync(s.at('f'), '');
  t.match(await fails(t, fsChownTool, { path: s.at('f') }, s, 'EINVAL'), /give user, group, or both/);
  t.match(await fails(t, fsChownTool, { path: s.at('f'), user: 'no-such-user-aios' }, s, 'EINVAL'), 'no user named "no-such-user-aios" in /etc/passwd (give a user listed there, or a numeric id)');
  t.match(await fails(t, fsChownTool, { path: s.at('f'), user: 'root', group: 'no-such-group-aios' }, s, 'EINVAL'), 'no group named "no-such-group-aios" in /etc/group');
  t.match(await fails(t, fsChownTool, { path: s.at('f'), user: 'a:b' }, s, 'EINVAL'), /user: must be a name or a numeric id/);
  t.match(await fails(t, fsChownTool, { path: s.at('f'), user: '4294967295' }, s, 'EINVAL'), /user id 4294967295 is out of range/);
  const before = statSync(s.at('f'));
  if (!isRoot) {
    t.comment('not root: only refusals can be tested');
    return;
  }
  const numeric = await ok(t, fsChownTool, { path: s.at('f'), user: '12345', group: '54321' }, s);
  t.same(numeric, { path: s.at('f'), uid: 12345, gid: 54321, user: null, group: null, previousUid: before.uid, previousGid: before.gid });
  t.same([statSync(s.at('f')).uid, statSync(s.at('f')).gid], [12345, 54321]);
  const byName = await ok(t, fsChownTool, { path: s.at('f'), user: 'root' }, s);
  t.same([byName.uid, byName.gid, byName.user, byName.previousUid], [0, 54321, 'root', 12345], 'the group is left as it was');
  t.same([statSync(s.at('f')).uid, statSync(s.at('f')).gid], [0, 54321]);
  await ok(t, fsChownTool, { path: s.at('f'), group: 'root' }, s);
  t.same([statSync(s.at('f')).uid, statSync(s.at('f')).gid], [0, 0]);
  t.equal(fsChownTool.render(byName), `${s.at('f')}: owner 12345:54321 → root:54321`);
  t.match(await fails(t, fsChownTool, { path: s.at('nope'), user: 'root' }, s, 'ENOENT'), `${s.at('nope')} does not exist`);
});
