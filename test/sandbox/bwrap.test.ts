// The sandbox the AI's commands run in, on the real bubblewrap: what a command can and cannot
// see and change, and that a sandbox which cannot be set up runs nothing at all.
//
// Temporary folders are made under /var/tmp, not /tmp: inside the sandbox /tmp is a private
// tmpfs, so a host folder under /tmp is out of sight anyway and would prove nothing.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { runSandboxed, type SandboxOptions } from '../../src/sandbox/bwrap.ts';
import { processSpawnTool, shellExecTool } from '../../src/tools/exec-tools.ts';
import { callTool, type ToolContext, type ToolResult } from '../../src/tools/tool.ts';

type ExecData = { exitCode: number | null; signal: string | null; stdout: string; stderr: string; truncated: boolean; timedOut: boolean; durationMs: number };

const HOST_TMP = '/var/tmp';

function tempDir(t: Test, name: string): string {
  const dir = mkdtempSync(path.join(HOST_TMP, `aios-bwrap-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function context(t: Test, signal = new AbortController().signal): ToolContext {
  const runDir = tempDir(t, 'run');
  return { runDir, stateDir: runDir, signal };
}

/** Sets AIOS_BWRAP for one test and puts the environment back as it was afterwards. */
function withBwrap(t: Test, value: string): void {
  const saved = process.env.AIOS_BWRAP;
  process.env.AIOS_BWRAP = value;
  t.teardown(() => {
    if (saved === undefined) delete process.env.AIOS_BWRAP;
    else process.env.AIOS_BWRAP = saved;
  });
}

/** A shell.exec call that must get as far as running the command; answers what it reported. */
async function sh(t: Test, command: string, extra: Record<string, unknown> = {}, ctx: ToolContext = context(t)): Promise<ExecData> {
  const result = (await callTool(shellExecTool, { command, ...extra }, ctx)) as ToolResult<ExecData>;
  if (!result.ok) throw new Error(`shell.exec ${JSON.stringify(command)} failed: ${result.code}: ${result.message}`);
  return result.data;
}

function options(overrides: Partial<SandboxOptions> = {}): SandboxOptions {
  return { writable: [], cwd: '/', network: false, hidden: [], timeoutMs: 10_000, signal: new AbortController().signal, maxOutput: 64 * 1024, ...overrides };
}

/** Field `session` of /proc/PID/stat (the sixth; counted after the command name, which may hold spaces). */
function sessionOf(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

function hostPidsWithCmdline(cmdline: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === cmdline;
      } catch {
        return false;
      }
    })
    .map(Number);
}

t.test('the system is read-only: writes to /etc and /usr fail and nothing appears on the host', async (t) => {
  const name = `aios-bwrap-test-${process.pid}`;
  t.teardown(() => {
    rmSync(`/etc/${name}`, { force: true });
    rmSync(`/usr/${name}`, { force: true });
  });
  for (const target of [`/etc/${name}`, `/usr/${name}`]) {
    const r = await sh(t, `echo x > ${target}`);
    t.equal(r.exitCode, 2, `${target}: the shell reports the failed redirection`);
    t.match(r.stderr, /Read-only file system/, target);
    t.equal(existsSync(target), false, `${target} was not created on the host`);
  }
  const touched = await sh(t, `touch /usr/${name}`);
  t.equal(touched.exitCode, 1);
  t.match(touched.stderr, new RegExp(`cannot touch '/usr/${name}': Read-only file system`));
  t.equal(existsSync(`/usr/${name}`), false);
});

t.test('a writable path can be written and the file is on the host afterwards; a sibling cannot', async (t) => {
  const open = tempDir(t, 'writable');
  const closed = tempDir(t, 'closed');
  const r = await sh(t, `printf hello > ${open}/made && printf no > ${closed}/made`, { writable: [open] });
  t.equal(r.exitCode, 2, 'the second write fails');
  t.match(r.stderr, new RegExp(`${closed}/made: Read-only file system`));
  t.equal(readFileSync(path.join(open, 'made'), 'utf8'), 'hello', 'the writable folder got the file');
  t.equal(existsSync(path.join(closed, 'made')), false, 'the other folder did not');
  t.same(readdirSync(closed), []);

  const argv = await callTool(processSpawnTool, { argv: ['/bin/cp', '/etc/hostname', `${open}/copy`], writable: [open] }, context(t));
  t.match(argv, { ok: true, data: { exitCode: 0, stderr: '' } });
  t.equal(readFileSync(path.join(open, 'copy'), 'utf8'), readFileSync('/etc/hostname', 'utf8'));
});

t.test("the run directory is hidden behind an empty tmpfs, and the host's copy is untouched", async (t) => {
  const ctx = context(t);
  writeFileSync(path.join(ctx.runDir, 'init.sock'), 'secret');
  mkdirSync(path.join(ctx.runDir, 'sub'));
  const r = await sh(t, `ls -A ${ctx.runDir}; cat ${ctx.runDir}/init.sock`, {}, ctx);
  t.equal(r.stdout, '', 'nothing is listed');
  t.match(r.stderr, /init\.sock: No such file or directory/);
  t.equal(r.exitCode, 1);
  t.equal(readFileSync(path.join(ctx.runDir, 'init.sock'), 'utf8'), 'secret');
  // The same folder is visible when it is not the run directory: the hiding is what made it empty.
  const other = await sh(t, `ls -A ${ctx.runDir}`, {}, { ...context(t), runDir: '/nonexistent-run' });
  t.equal(other.stdout, 'init.sock\nsub\n');
});

t.test('no network by default: only lo, and a TCP server on the host cannot be reached; network:true reaches it', async (t) => {
  const server = net.createServer((socket) => socket.end('hi\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;

  const devices = await sh(t, 'cat /proc/net/dev');
  const names = devices.stdout.split('\n').slice(2).filter(Boolean).map((line) => line.split(':')[0]!.trim());
  t.same(names, ['lo'], 'an empty network namespace');

  // python3 from /usr/bin: the sandbox has its own /tmp, where a clone of this repository
  // (and so the pinned node) may live.
  const connect = [
    'import socket, sys',
    's = socket.socket()',
    'try:',
    `    s.connect(("127.0.0.1", ${port})); print("got " + s.recv(16).decode()); sys.exit(0)`,
    'except ConnectionRefusedError:',
    '    print("ECONNREFUSED"); sys.exit(7)',
  ].join('\n');
  const isolated = await callTool(processSpawnTool, { argv: ['/usr/bin/python3', '-c', connect] }, context(t));
  t.match(isolated, { ok: true, data: { exitCode: 7, stdout: 'ECONNREFUSED\n' } });
  const shared = await callTool(processSpawnTool, { argv: ['/usr/bin/python3', '-c', connect], network: true }, context(t));
  t.match(shared, { ok: true, data: { exitCode: 0, stdout: 'got hi\n' } });
});

t.test('a new session: the sandboxed process is not in the caller\'s session (seen from the host)', async (t) => {
  const controller = new AbortController();
  const marker = `${(Math.random() * 1000 + 100).toFixed(3)}`;
  const started = Date.now();
  const call = callTool(processSpawnTool, { argv: ['/bin/sleep', marker] }, context(t, controller.signal));
  let pids: number[] = [];
  while (pids.length === 0 && Date.now() - started < 5000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    pids = hostPidsWithCmdline(`/bin/sleep\0${marker}\0`);
  }
  t.equal(pids.length, 1, 'the sandboxed sleep is seen from the host');
  const ours = sessionOf('self');
  t.not(sessionOf(pids[0]!), ours, `its session ${sessionOf(pids[0]!)} is not ours (${ours})`);
  controller.abort();
  const result = await call;
  t.match(result, { ok: false, code: 'ECANCELLED', message: 'the command was cancelled' });
  t.ok(Date.now() - started < 5000, 'cancelled at once');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(hostPidsWithCmdline(`/bin/sleep\0${marker}\0`), [], 'and it is gone');
});

t.test('no new privileges and no capabilities inside', async (t) => {
  const r = await sh(t, 'grep -E "^(NoNewPrivs|CapEff|CapPrm|CapBnd):" /proc/self/status');
  t.equal(r.stdout, 'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\n');
});

t.test('a timeout kills the command and reports ETIMEDOUT at once', async (t) => {
  const started = Date.now();
  const result = await callTool(shellExecTool, { command: 'sleep 5', timeoutSeconds: 1 }, context(t));
  const elapsed = Date.now() - started;
  t.same(result, { ok: false, code: 'ETIMEDOUT', message: 'shell.exec: the command ran longer than 1 s and was killed' });
  t.ok(elapsed >= 900 && elapsed < 2500, `took ${elapsed} ms`);

  const spawned = await callTool(processSpawnTool, { argv: ['/bin/sleep', '5'], timeoutSeconds: 1 }, context(t));
  t.same(spawned, { ok: false, code: 'ETIMEDOUT', message: 'process.spawn: /bin/sleep ran longer than 1 s and was killed' });
});

t.test('exit code, stdout and stderr are reported as they were', async (t) => {
  const r = await sh(t, 'echo out; echo err >&2; exit 3');
  t.match(r, { exitCode: 3, signal: null, stdout: 'out\n', stderr: 'err\n', truncated: false, timedOut: false });
  t.equal(shellExecTool.render(r).replace(/\d+ ms/, 'N ms'), 'out\n[stderr] err\n(exit 3, N ms)');
  const killed = await sh(t, 'kill -9 $$');
  t.equal(killed.exitCode, 137, 'a command killed by a signal reports 128 + the signal number');
  const missing = await callTool(processSpawnTool, { argv: ['/nonexistent/program'] }, context(t));
  // bwrap cannot exec it: reported as a missing program, not as a broken sandbox.
  t.same(missing, { ok: false, code: 'ENOENT', message: "/nonexistent/program: no such program in the sandbox (it sees the system's files read-only; give a full path or a program that is installed)" });
});

t.test('output beyond the limit is cut and flagged', async (t) => {
  const big = await sh(t, "head -c 300000 /dev/zero | tr '\\0' a");
  t.equal(big.stdout.length, 256 * 1024);
  t.equal(big.truncated, true);
  t.match(shellExecTool.render(big), /output truncated\)$/);
  const small = await runSandboxed(['/bin/sh', '-c', 'printf 0123456789; printf abcdefghij >&2'], options({ maxOutput: 10 }));
  t.match(small, { stdout: '0123456789', stderr: 'abcdefghij', truncated: false });
  const over = await runSandboxed(['/bin/sh', '-c', 'printf 0123456789X; printf abc >&2'], options({ maxOutput: 10 }));
  t.match(over, { stdout: '0123456789', stderr: 'abc', truncated: true });
});

t.test('AIOS_BWRAP naming a missing program: ESANDBOX, and the command did not run', async (t) => {
  const dir = tempDir(t, 'marker');
  withBwrap(t, '/nonexistent/bwrap');
  const result = await callTool(shellExecTool, { command: `touch ${dir}/marker`, writable: [dir] }, context(t));
  t.match(result, { ok: false, code: 'ESANDBOX', message: /^bubblewrap \(bwrap\) is not installed, and commands are never run without the sandbox/ });
  t.equal(existsSync(path.join(dir, 'marker')), false, 'no unsandboxed fallback');
  await t.rejects(runSandboxed(['/bin/true'], options()), { code: 'ESANDBOX' });
});

t.test('a bwrap that fails to set up: ESANDBOX with its message, and the command did not run', async (t) => {
  const dir = tempDir(t, 'fake');
  const fake = path.join(dir, 'bwrap');
  writeFileSync(fake, '#!/bin/sh\necho "bwrap: setup failed" >&2\nexit 1\n');
  chmodSync(fake, 0o755);
  withBwrap(t, fake);
  const result = await callTool(shellExecTool, { command: `touch ${dir}/marker`, writable: [dir] }, context(t));
  t.same(result, { ok: false, code: 'ESANDBOX', message: 'the sandbox could not be set up, so the command did not run: bwrap: setup failed' });
  t.equal(existsSync(path.join(dir, 'marker')), false);
});

t.test('a bwrap that runs the command but never reports its status is not trusted as a sandbox', async (t) => {
  // As a bwrap too old for --json-status-fd would: the call fails rather than report a result
  // from a sandbox whose set-up nobody confirmed.
  const dir = tempDir(t, 'nostatus');
  const fake = path.join(dir, 'bwrap');
  writeFileSync(fake, '#!/bin/sh\nexit 0\n');
  chmodSync(fake, 0o755);
  withBwrap(t, fake);
  const result = await callTool(processSpawnTool, { argv: ['/bin/true'] }, context(t));
  t.same(result, { ok: false, code: 'ESANDBOX', message: 'the sandbox could not be set up, so the command did not run: bwrap exited with 0' });
});

t.test('AIOS_BWRAP pointing at the real bwrap is used', async (t) => {
  withBwrap(t, '/usr/bin/bwrap');
  const r = await sh(t, 'echo fine');
  t.equal(r.stdout, 'fine\n');
});
