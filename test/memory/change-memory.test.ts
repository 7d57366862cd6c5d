// What a tool call changed is remembered by the pipeline: the paths it writes go into the call's
// memory, and a package transaction (a fake pacman, AIOS_PACMAN) leaves a `package` memory of
// its own, in the same transaction as the call's.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { MemoryStore } from '../../src/memory/store.ts';
import { ApprovalStore } from '../../src/policy/approvals.ts';
import { permissionsSchema } from '../../src/policy/config.ts';
import { Policy } from '../../src/policy/policy.ts';
import { runToolCall } from '../../src/tools/pipeline.ts';
import { packageNameOf } from '../../src/tools/pkg-tools.ts';
import { toolMap } from '../../src/tools/registry.ts';

const INSTALL = `resolving dependencies...
Packages (3) gpm-1.20.7.r38.ge82d1a6-6  vim-runtime-9.1.1000-1
             vim-9.1.1000-1

(3/3) installing vim                                [----------------------] 100%
`;
const REMOVE = `checking dependencies...
Packages (1) htop-3.3.0-3

(1/1) removing htop                                 [----------------------] 100%
`;

t.test('package names from pacman name-version-release', async (t) => {
  t.equal(packageNameOf('vim-runtime-9.1.1000-1'), 'vim-runtime');
  t.equal(packageNameOf('gpm-1.20.7.r38.ge82d1a6-6'), 'gpm');
  t.equal(packageNameOf('lib32-glibc-2.40+r16+gaa533d58ff-2'), 'lib32-glibc');
});

t.test('written paths and package changes are remembered with the call', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-change-memory-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pacman = path.join(dir, 'pacman');
  writeFileSync(path.join(dir, 'install.out'), INSTALL);
  writeFileSync(path.join(dir, 'remove.out'), REMOVE);
  writeFileSync(
    pacman,
    `#!/bin/sh
case "$1" in
  -S) if [ "$5" = htop ]; then echo "warning: htop-3.3.0-3 is up to date -- skipping" >&2; echo " there is nothing to do"; else cat '${dir}/install.out'; fi ;;
  -Rns) cat '${dir}/remove.out' ;;
  -Q) echo 'bash 5.2.037-1' ;;
  *) exit 9 ;;
esac
`,
  );
  chmodSync(pacman, 0o755);
  const saved = process.env.AIOS_PACMAN;
  process.env.AIOS_PACMAN = pacman;
  t.teardown(() => {
    if (saved === undefined) delete process.env.AIOS_PACMAN;
    else process.env.AIOS_PACMAN = saved;
  });

  const audit = AuditLog.open(AuditLog.pathIn(dir));
  const approvals = ApprovalStore.open(path.join(dir, 'run'));
  const memory = MemoryStore.open(MemoryStore.pathIn(dir));
  t.teardown(() => {
    memory.close();
    audit.close();
    approvals.close();
  });
  const options = {
    tools: toolMap(),
    policy: new Policy(permissionsSchema.parse({ mode: 'trusted' })),
    audit,
    approvals,
    actor: 'test',
    context: { runDir: path.join(dir, 'run'), stateDir: dir, signal: new AbortController().signal },
    memory,
  };

  const file = path.join(dir, 'etc', 'motd');
  const wrote = await runToolCall('fs.write', { path: file, content: 'hello\n', parents: true }, options);
  t.equal(wrote.ok, true, wrote.ok ? 'written' : wrote.message);
  const [write] = memory.search('', { type: 'tool', metadata: { tool: 'fs.write' } });
  t.same(write!.metadata.paths, [file], "the call's memory names the path it wrote");
  t.equal(write!.metadata.changes, true);
  const statted = await runToolCall('fs.stat', { path: file }, options);
  t.equal(statted.ok, true, statted.ok ? 'stat' : statted.message);
  const [stat] = memory.search('', { type: 'tool', metadata: { tool: 'fs.stat' } });
  t.equal(stat!.metadata.paths, undefined, 'a read writes no path');
  t.equal(stat!.metadata.changes, false);

  const installed = await runToolCall('pkg.install', { names: ['vim'] }, options);
  t.equal(installed.ok, true, installed.ok ? 'installed' : installed.message);
  const [install] = memory.search('', { type: 'package' });
  t.match(install, {
    tier: 'operational',
    source: 'test',
    content: 'installed gpm, vim-runtime, vim (asked for vim)',
    metadata: { action: 'install', packages: ['gpm', 'vim-runtime', 'vim'], versions: ['gpm-1.20.7.r38.ge82d1a6-6', 'vim-runtime-9.1.1000-1', 'vim-9.1.1000-1'], requested: ['vim'], tool: 'pkg.install', auditSeq: installed.auditSeq },
  });
  t.ok((install!.metadata.paths as string[]).includes('/etc'), 'a transaction writes /etc, among others');
  t.equal(memory.search('install', { type: 'package' }).length, 1, 'found by the word a person would use');

  t.equal((await runToolCall('pkg.install', { names: ['htop'] }, options)).ok, true);
  t.equal(memory.search('', { type: 'package' }).length, 1, 'nothing to do: no package change is remembered');
  t.equal(memory.search('', { type: 'tool', metadata: { tool: 'pkg.install' } }).length, 2, 'while the call itself is');

  t.equal((await runToolCall('pkg.remove', { names: ['htop'] }, options)).ok, true);
  t.match(memory.search('', { type: 'package', metadata: { action: 'remove' } }), [{ content: 'removed htop', metadata: { packages: ['htop'], requested: ['htop'] } }]);

  // Safe mode asks before any change; the person says no.
  const refused = await runToolCall('pkg.install', { names: ['vim'] }, { ...options, policy: new Policy(permissionsSchema.parse({ mode: 'safe' })), ask: async () => 'denied' as const });
  t.equal(refused.ok, false, refused.ok ? 'ran' : refused.message);
  t.equal(memory.search('', { type: 'package' }).length, 2, 'a call that did not run changed nothing');
});
