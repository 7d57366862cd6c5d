// The build's outputs, as outside tests use them: out/aios (the single executable), the staged
// rootfs and the initramfs, and the cpio writer on its own.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { writeCpio } from '../../src/build/cpio.ts';
import { INITRAMFS } from '../../src/build/image.ts';
import { ROOTFS, SEA } from '../../src/build/rootfs.ts';
import { TINY_LLAMA, writeLlamaModel } from '../../src/models/gguf.ts';
import { startInit } from '../helpers/init-harness.ts';

t.test('cpio: files, folders, symlinks and device nodes, readable by cpio(1)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-cpio-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'root');
  mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  writeFileSync(path.join(root, 'usr/bin/tool'), 'x'.repeat(1001), { mode: 0o755 });
  symlinkSync('usr/bin', path.join(root, 'bin'));
  const archive = path.join(dir, 'a.cpio');
  writeCpio(root, [{ path: 'dev/console', type: 'char', mode: 0o600, major: 5, minor: 1 }, { path: 'dev', type: 'dir', mode: 0o755 }], archive);
  const listing = execFileSync('cpio', ['-itv', '--quiet', '-F', archive], { encoding: 'utf8' });
  t.match(listing, /^-rwxr-xr-x\s+1 root\s+root\s+1001 .* usr\/bin\/tool$/m);
  t.match(listing, /^lrwxrwxrwx .* bin -> usr\/bin$/m);
  t.match(listing, /^crw-------\s+1 root\s+root\s+5,\s+1 .* dev\/console$/m);
  const out = path.join(dir, 'out');
  mkdirSync(out);
  execFileSync('cpio', ['-id', '--quiet', '-F', archive], { cwd: out });
  t.equal(readFileSync(path.join(out, 'usr/bin/tool'), 'utf8').length, 1001, 'contents survive');
});

t.test('out/aios is the single executable: the contract commands work', { skip: !existsSync(SEA) && 'run node build.ts first' }, async (t) => {
  t.match(execFileSync(SEA, ['--version'], { encoding: 'utf8' }), /^aios \d+\.\d+\.\d+ \(node v26\./);
  const init = await startInit({ services: { sleeper: 'exec = ["/bin/sleep", "1000"]\n' }, command: [SEA], nodeArgs: [] });
  t.teardown(() => init.cleanup());
  const listed = spawnSync(SEA, ['services', '--json'], { env: { ...process.env, AIOS_RUN_DIR: init.runDir }, encoding: 'utf8' });
  t.equal(listed.status, 0, listed.stderr);
  t.match(JSON.parse(listed.stdout), [{ name: 'sleeper', state: 'up', pid: Number, restarts: 0, lastExit: null }]);
});

t.test('out/aios as PID 1: SIGUSR1 halts and opens no inspector (the executable carries --disable-sigusr1)', { skip: !existsSync(SEA) && 'run node build.ts first' }, async (t) => {
  const init = await startInit({ services: { sleeper: 'exec = ["/bin/sleep", "1000"]\n' }, command: [SEA] });
  t.teardown(() => init.cleanup({ kill: true }));
  init.signal('SIGUSR1');
  t.equal((await init.exited).code, 0);
  t.notMatch(init.output(), /Debugger listening/);
});

t.test('the staged rootfs holds what the image needs, and the executable runs inside it', { skip: !existsSync(ROOTFS) && 'run node build.ts first' }, async (t) => {
  t.equal(readlinkSync(path.join(ROOTFS, 'init')), 'usr/lib/aios/aios-init', '/init runs aios-init');
  for (const file of ['usr/lib/aios/aios', 'usr/lib/aios/aios_native.node', 'usr/lib/aios/aios_rank.node', 'usr/lib/aios/aios_llama_threads.node', 'usr/lib/aios/aios-spawn', 'usr/bin/busybox', 'usr/bin/mke2fs', 'usr/bin/e2fsck', 'usr/lib/ld-linux-x86-64.so.2', 'etc/aios/services/console.toml', 'etc/aios/modules-load.early']) {
    t.ok(lstatSync(path.join(ROOTFS, file)).isFile(), file);
  }
  t.equal(readlinkSync(path.join(ROOTFS, 'usr/bin/sh')), 'busybox');
  t.not(readFileSync(path.join(ROOTFS, 'usr/bin/mke2fs')).subarray(0, 4).toString('latin1'), '', 'mke2fs is a program');
  t.notOk(existsSync(path.join(ROOTFS, 'usr/bin/init')), 'no busybox init: aios-init is PID 1');
  // Every shared library the programs need resolves inside the rootfs.
  const ldd = execFileSync('chroot', [ROOTFS, '/usr/lib/ld-linux-x86-64.so.2', '--list', '/usr/lib/aios/aios'], { encoding: 'utf8' });
  t.notMatch(ldd, /not found/);
  t.match(execFileSync('chroot', [ROOTFS, '/usr/lib/aios/aios', '--version'], { encoding: 'utf8' }), /^aios /, 'the executable runs inside the rootfs');
  // Memory search in the image ranks with the staged extension, not the slower fallback.
  const inRootfs = ['--ro-bind', ROOTFS, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--'];
  const stats = JSON.parse(execFileSync('/usr/bin/bwrap', [...inRootfs, '/usr/lib/aios/aios', 'memory', 'stats', '--json', '--state', '/tmp/state'], { encoding: 'utf8' })) as { ranking: string };
  t.equal(stats.ranking, 'aios_bm25', 'the rank extension loads inside the rootfs');
  const modules = readFileSync(path.join(ROOTFS, 'etc/aios/modules-load.early'), 'utf8').trim().split('\n');
  for (const module of modules) t.ok(existsSync(path.join(ROOTFS, 'usr/lib/modules', readdirOne(path.join(ROOTFS, 'usr/lib/modules')), module)), module);
  t.ok(existsSync(INITRAMFS), 'the initramfs was made from it');
});

t.test('the image runs a local model: node-llama-cpp and its prebuilt binary load inside the rootfs', { skip: !existsSync(ROOTFS) && 'run node build.ts first' }, async (t) => {
  // Everything node-llama-cpp imports must be staged (a package nested in another needs the
  // top level's too), and its binary test, a fork of the executable itself, must run there.
  // Running it twice at once shows the archive unpacked once and never seen half-done.
  const state = mkdtempSync(path.join(os.tmpdir(), 'aios-rootfs-model-'));
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  mkdirSync(path.join(state, 'models'));
  writeLlamaModel(path.join(state, 'models', 'tiny.gguf'), TINY_LLAMA);
  // node-llama-cpp is an archive in the image, unpacked into /run/aios on first use.
  t.ok(existsSync(path.join(ROOTFS, 'usr/lib/aios/llama-runtime.tar.gz')), 'the image carries the archive');
  t.notOk(existsSync(path.join(ROOTFS, 'usr/lib/aios/node_modules/node-llama-cpp')), 'and not the unpacked files');
  const run = mkdtempSync(path.join(os.tmpdir(), 'aios-rootfs-run-'));
  t.teardown(() => rmSync(run, { recursive: true, force: true }));
  const inRootfs = ['--ro-bind', ROOTFS, '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--bind', run, '/run', '--bind', state, '/tmp/state', '--die-with-parent', '--'];
  const base = 18_000 + Math.floor(Math.random() * 2_000);
  const answers = await Promise.all(
    [base, base + 1].map(async (port) => {
      const server = spawn('/usr/bin/bwrap', [...inRootfs, '/usr/lib/aios/aios', 'models', 'serve', '--state', '/tmp/state', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AIOS_CONFIG: '/dev/null' } });
      let output = '';
      server.stdout.on('data', (d: Buffer) => (output += d.toString()));
      server.stderr.on('data', (d: Buffer) => (output += d.toString()));
      t.teardown(() => server.kill('SIGKILL'));
      const deadline = Date.now() + 60_000;
      while (!/listening on/.test(output)) {
        if (Date.now() > deadline || server.exitCode !== null) return { status: 0, body: {}, output };
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
      });
      return { status: response.status, body: (await response.json()) as unknown, output };
    }),
  );
  for (const answer of answers) {
    t.equal(answer.status, 200, 'a models service started at the same moment answers', { output: answer.output });
    t.match(answer.body, { model: 'tiny', usage: { completion_tokens: 4 } }, 'the generated model answered');
  }
  t.same(readdirSync(run).filter((n) => n.startsWith('aios')), ['aios'], 'no half-unpacked folder is left');
  t.same(readdirSync(path.join(run, 'aios')), ['llama-runtime'], 'unpacked once');
});

function readdirOne(dir: string): string {
  return process.getBuiltinModule('node:fs').readdirSync(dir)[0]!;
}
