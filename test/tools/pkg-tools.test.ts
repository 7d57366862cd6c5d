// pkg.*: a fake pacman (AIOS_PACMAN) records each argv and answers with pacman's real output
// formats, so the exact command lines and the parsing are both checked; without pacman every
// tool says ENOTSUP.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type * as z from 'zod/mini';
import { callTool, type Tool, type ToolContext } from '../../src/tools/tool.ts';
import { PKG_TOOLS, infoTool, installTool, listTool, parseInfoFields, parseSearch, removeTool, searchTool, upgradeTool } from '../../src/tools/pkg-tools.ts';

const context: ToolContext = { runDir: os.tmpdir(), stateDir: os.tmpdir(), signal: new AbortController().signal };

const SEARCH = `core/bash 5.2.037-1 [installed]
    The GNU Bourne Again shell
extra/bash-completion 2.16.0-1 [installed: 2.14.0-2]
    Programmable completion for the bash shell
extra/zsh 5.9-5 (base-devel shells)
    A very advanced and programmable command interpreter (shell) for UNIX
`;

const QI_BASH = `Name            : bash
Version         : 5.2.037-1
Description     : The GNU Bourne Again shell
Architecture    : x86_64
URL             : https://www.gnu.org/software/bash/bash.html
Licenses        : GPL-3.0-or-later
Groups          : None
Provides        : sh
Depends On      : readline  libreadline.so=8-64  glibc  ncurses
Optional Deps   : bash-completion: for tab completion [installed]
                  bash-docs: for the manual
Required By     : base  bzip2  gzip
Optional For    : None
Conflicts With  : None
Replaces        : None
Installed Size  : 9.33 MiB
Packager        : Tobias Powalowski <tpowa@archlinux.org>
Build Date      : Mon 30 Dec 2024 12:00:00 PM UTC
Install Date    : Tue 07 Jan 2025 09:00:00 AM UTC
Install Reason  : Installed as a dependency for another package
Install Script  : No
Validated By    : Signature

`;

const SI_ZSH = `Repository      : extra
Name            : zsh
Version         : 5.9-5
Description     : A very advanced and programmable command interpreter (shell) for UNIX
Architecture    : x86_64
URL             : https://www.zsh.org/
Licenses        : custom
Groups          : None
Provides        : None
Depends On      : pcre2  libcap  gdbm
Optional Deps   : None
Conflicts With  : None
Replaces        : None
Download Size   : 2.61 MiB
Installed Size  : 7.81 MiB
Packager        : Pierre Schmitz <pierre@archlinux.de>
Build Date      : Sat 02 Nov 2024 10:00:00 AM UTC
Validated By    : MD5 Sum  SHA-256 Sum  Signature

`;

const INSTALL = `resolving dependencies...
looking for conflicting packages...

Packages (3) gpm-1.20.7.r38.ge82d1a6-6  vim-runtime-9.1.1000-1
             vim-9.1.1000-1

Total Download Size:    9.10 MiB
Total Installed Size:  40.34 MiB

:: Proceed with installation? [Y/n] 
:: Retrieving packages...
(3/3) installing vim                                [----------------------] 100%
`;

const REMOVE = `checking dependencies...

Packages (2) gpm-1.20.7.r38.ge82d1a6-6  vim-9.1.1000-1

Total Removed Size:  5.10 MiB

:: Do you want to remove these packages? [Y/n] 
(2/2) removing vim                                  [----------------------] 100%
`;

/** A pacman that appends `[arg][arg]…` per call to DIR/calls and answers like the real one. */
function fakePacman(t: Test): { dir: string; calls: () => string[] } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-pkg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files: Record<string, string> = { 'search.out': SEARCH, 'qi.out': QI_BASH, 'si.out': SI_ZSH, 'q.out': 'bash 5.2.037-1\nvim 9.1.1000-1\nvim-runtime 9.1.1000-1\n', 'install.out': INSTALL, 'remove.out': REMOVE };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const script = `#!/bin/sh
D='${dir}'
printf '[%s]' "$@" >> "$D/calls"; echo >> "$D/calls"
case "$1" in
  -Ss) case "$3" in bash*|shell) cat "$D/search.out" ;; *) exit 1 ;; esac ;;
  -Qi) if [ "$3" = bash ]; then cat "$D/qi.out"; else echo "error: package '$3' was not found" >&2; exit 1; fi ;;
  -Si) if [ "$3" = zsh ]; then cat "$D/si.out"; else echo "error: package '$3' was not found" >&2; exit 1; fi ;;
  -Q|-Qe) cat "$D/q.out" ;;
  -S)
    for name in "$@"; do
      case "$name" in
        nosuchpkg) echo "error: target not found: nosuchpkg" >&2; exit 1 ;;
        locked) printf 'error: failed to init transaction (unable to lock database)\\nerror: could not lock database: File exists\\n' >&2; exit 1 ;;
        htop) echo "warning: htop-3.3.0-3 is up to date -- skipping" >&2 ;;
      esac
    done
    cat "$D/install.out" ;;
  -Rns) cat "$D/remove.out" ;;
  -Syu) printf ':: Synchronizing package databases...\\n core is up to date\\n:: Starting full system upgrade...\\n there is nothing to do\\n' ;;
  *) echo "error: unexpected call" >&2; exit 9 ;;
esac
`;
  const file = path.join(dir, 'pacman');
  writeFileSync(file, script);
  chmodSync(file, 0o755);
  const saved = process.env.AIOS_PACMAN;
  process.env.AIOS_PACMAN = file;
  t.teardown(() => {
    if (saved === undefined) delete process.env.AIOS_PACMAN;
    else process.env.AIOS_PACMAN = saved;
  });
  const callsFile = path.join(dir, 'calls');
  return { dir, calls: () => (existsSync(callsFile) ? readFileSync(callsFile, 'utf8').split('\n').filter(Boolean) : []) };
}

async function ok<O>(t: Test, tool: Tool<z.ZodMiniType, O>, args: unknown): Promise<O> {
  const result = await callTool(tool, args, context);
  if (!result.ok) throw new Error(`${tool.name} failed: ${result.code} ${result.message}`);
  t.ok(tool.output.safeParse(result.data).success, `${tool.name}: data matches its output schema`);
  t.type(tool.render(result.data), 'string');
  return result.data;
}

async function fails(tool: Tool<z.ZodMiniType, unknown>, args: unknown): Promise<{ code: string; message: string }> {
  const result = await callTool(tool, args, context);
  if (result.ok) throw new Error(`${tool.name} succeeded: ${JSON.stringify(result.data)}`);
  return { code: result.code, message: result.message };
}

t.test('what each tool declares', async (t) => {
  t.same(PKG_TOOLS.map((x) => x.name), ['pkg.search', 'pkg.info', 'pkg.install', 'pkg.remove', 'pkg.upgrade', 'pkg.list']);
  t.same([installTool.effects, installTool.undo], [['writes', 'network'], 'inverse']);
  t.same([removeTool.effects, removeTool.undo, removeTool.risk], [['writes', 'network', 'destructive'], 'inverse', 'high']);
  t.same([upgradeTool.effects, upgradeTool.undo], [['writes', 'network'], 'none']);
  for (const tool of [searchTool, infoTool, listTool]) t.same(tool.effects, ['reads'], tool.name);
});

t.test('pkg.search: -Ss with the words after --, results parsed', async (t) => {
  const pacman = fakePacman(t);
  const r = await ok(t, searchTool, { query: 'bash' });
  t.same(pacman.calls(), ['[-Ss][--][bash]']);
  t.equal(r.total, 3);
  t.same(r.results[0], { repository: 'core', name: 'bash', version: '5.2.037-1', groups: [], installed: true, installedVersion: null, description: 'The GNU Bourne Again shell' });
  t.same([r.results[1]!.installed, r.results[1]!.installedVersion], [true, '2.14.0-2']);
  t.same([r.results[2]!.name, r.results[2]!.groups, r.results[2]!.installed], ['zsh', ['base-devel', 'shells'], false]);
  t.same((await ok(t, searchTool, { query: 'bash', limit: 1 })).results.length, 1);
  const none = await ok(t, searchTool, { query: 'nothing matches' });
  t.same(none, { total: 0, results: [] });
  t.equal(pacman.calls().at(-1), '[-Ss][--][nothing][matches]');
  const bad = await fails(searchTool, { query: 'x --overwrite=*' });
  t.equal(bad.code, 'EINVAL');
  t.match(bad.message, /may start with '-'/);
});

t.test('pkg.info: -Qi first, then -Si; fields parsed, lists split', async (t) => {
  const pacman = fakePacman(t);
  const bash = await ok(t, infoTool, { name: 'bash' });
  t.same(pacman.calls(), ['[-Qi][--][bash]']);
  t.same(
    [bash.name, bash.version, bash.installed, bash.repository, bash.url, bash.licenses, bash.groups, bash.dependsOn, bash.optionalDeps, bash.requiredBy, bash.installedSize],
    ['bash', '5.2.037-1', true, null, 'https://www.gnu.org/software/bash/bash.html', ['GPL-3.0-or-later'], [], ['readline', 'libreadline.so=8-64', 'glibc', 'ncurses'], ['bash-completion: for tab completion [installed]', 'bash-docs: for the manual'], ['base', 'bzip2', 'gzip'], '9.33 MiB'],
  );
  t.equal(bash.fields['Install Reason'], 'Installed as a dependency for another package');

  const zsh = await ok(t, infoTool, { name: 'zsh' });
  t.same(pacman.calls().slice(1), ['[-Qi][--][zsh]', '[-Si][--][zsh]']);
  t.same([zsh.installed, zsh.repository, zsh.dependsOn, zsh.requiredBy, zsh.optionalDeps], [false, 'extra', ['pcre2', 'libcap', 'gdbm'], null, []]);

  await ok(t, infoTool, { name: 'zsh', source: 'repository' });
  t.equal(pacman.calls().at(-1), '[-Si][--][zsh]');
  const missing = await fails(infoTool, { name: 'nosuchpkg' });
  t.equal(missing.code, 'ENOENT');
  t.match(missing.message, /no package named nosuchpkg installed or in the repositories/);
});

t.test('pkg.list: -Q or -Qe, filtered', async (t) => {
  const pacman = fakePacman(t);
  const all = await ok(t, listTool, {});
  t.same(all, { total: 3, packages: [{ name: 'bash', version: '5.2.037-1' }, { name: 'vim', version: '9.1.1000-1' }, { name: 'vim-runtime', version: '9.1.1000-1' }] });
  const vim = await ok(t, listTool, { explicit: true, contains: 'vim', limit: 1 });
  t.same(vim, { total: 2, packages: [{ name: 'vim', version: '9.1.1000-1' }] });
  t.same(pacman.calls(), ['[-Q]', '[-Qe]']);
});

t.test('pkg.install: the exact argv, names after --, the transaction parsed', async (t) => {
  const pacman = fakePacman(t);
  const r = await ok(t, installTool, { names: ['vim', 'htop'] });
  t.same(pacman.calls(), ['[-S][--noconfirm][--needed][--][vim][htop]']);
  t.same(r.requested, ['vim', 'htop']);
  t.same(r.changed, ['gpm-1.20.7.r38.ge82d1a6-6', 'vim-runtime-9.1.1000-1', 'vim-9.1.1000-1']);
  t.same(r.upToDate, ['htop']);
  t.equal(r.nothingToDo, false);
  t.match(installTool.render(r), /^installed 3 packages: gpm-.* vim-9\.1\.1000-1\nalready up to date: htop$/);
});

t.test('pkg.install: names that are options or shell text are refused before pacman runs, by name', async (t) => {
  const pacman = fakePacman(t);
  for (const name of ['--overwrite=*', 'x; rm -rf /', '-Rns', '.hidden', 'Vim', 'a b', '$(reboot)', '']) {
    const e = await fails(installTool, { names: ['vim', name] });
    t.equal(e.code, 'EINVAL', name);
    t.ok(e.message.includes(`not a package name: ${JSON.stringify(name)}`), e.message);
  }
  t.equal((await fails(installTool, { names: [] })).code, 'EINVAL');
  t.equal((await fails(removeTool, { names: ['--overwrite=*'] })).code, 'EINVAL');
  t.equal((await fails(infoTool, { name: '-Qi' })).code, 'EINVAL');
  t.same(pacman.calls(), [], 'pacman never ran');
  // Names Arch allows.
  await ok(t, installTool, { names: ['lib32-glibc', 'gtk+', 'python3.12', 'r@x_y'] });
  t.same(pacman.calls(), ['[-S][--noconfirm][--needed][--][lib32-glibc][gtk+][python3.12][r@x_y]']);
});

t.test("pkg.install: pacman's failures become codes", async (t) => {
  fakePacman(t);
  const missing = await fails(installTool, { names: ['vim', 'nosuchpkg'] });
  t.same([missing.code, missing.message], ['ENOENT', 'pkg.install: no such package: nosuchpkg']);
  const locked = await fails(installTool, { names: ['locked'] });
  t.equal(locked.code, 'EBUSY');
  t.match(locked.message, /db\.lck/);
});

t.test('pkg.remove and pkg.upgrade: the exact argv', async (t) => {
  const pacman = fakePacman(t);
  const removed = await ok(t, removeTool, { names: ['vim'] });
  t.same(removed.changed, ['gpm-1.20.7.r38.ge82d1a6-6', 'vim-9.1.1000-1']);
  const upgraded = await ok(t, upgradeTool, {});
  t.same([upgraded.changed, upgraded.nothingToDo], [[], true]);
  t.equal(upgradeTool.render(upgraded), 'nothing to do');
  t.same(pacman.calls(), ['[-Rns][--noconfirm][--][vim]', '[-Syu][--noconfirm]']);
});

t.test('without pacman every pkg tool is ENOTSUP and says why', async (t) => {
  const savedPath = process.env.PATH;
  const savedPacman = process.env.AIOS_PACMAN;
  const empty = mkdtempSync(path.join(os.tmpdir(), 'aios-nopath-'));
  t.teardown(() => {
    process.env.PATH = savedPath;
    if (savedPacman === undefined) delete process.env.AIOS_PACMAN;
    else process.env.AIOS_PACMAN = savedPacman;
    rmSync(empty, { recursive: true, force: true });
  });
  delete process.env.AIOS_PACMAN;
  process.env.PATH = empty;
  const args: Record<string, unknown> = { 'pkg.search': { query: 'vim' }, 'pkg.info': { name: 'vim' }, 'pkg.install': { names: ['vim'] }, 'pkg.remove': { names: ['vim'] }, 'pkg.upgrade': {}, 'pkg.list': {} };
  for (const tool of PKG_TOOLS) {
    const e = await fails(tool, args[tool.name]);
    t.equal(e.code, 'ENOTSUP', tool.name);
    t.equal(e.message, `${tool.name}: this system has no pacman (package management is available on the Arch-based production image, not on the development image or this host)`);
  }
  process.env.AIOS_PACMAN = path.join(empty, 'pacman');
  t.equal((await fails(listTool, {})).code, 'ENOTSUP', 'a wrong AIOS_PACMAN is not replaced by another pacman');
});

t.test('parsers on edge cases', async (t) => {
  t.same(parseSearch(''), []);
  t.same(parseInfoFields('Name            : a\nDescription     : x: y\nOptional Deps   : None\n\nName            : b\n'), { Name: 'a', Description: 'x: y', 'Optional Deps': 'None' });
});
