// The process tools against real child processes: what /proc says about them, a tree two levels
// deep, signals that stop, continue and end them, and the refusals for PID 1 and ourselves.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { PROCESS_TOOLS, processInfoTool, processKillTool, processListTool, processSignalTool, processTreeTool } from '../../src/tools/process-tools.ts';
import type { ToolContext } from '../../src/tools/tool.ts';
import { fails, ok } from '../helpers/tool-calls.ts';

interface Scratch {
  dir: string;
  context: ToolContext;
}

function scratch(t: Test): Scratch {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'aios-process-tools-')));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, context: { runDir: dir, stateDir: dir, signal: new AbortController().signal } };
}


interface Child {
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A child in its own process group, killed with everything it started when the test ends. */
function start(t: Test, command: string, args: string[], cwd: string): Child {
  const child = spawn(command, args, { cwd, stdio: 'ignore', detached: true });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
  return { child, pid: child.pid!, exited };
}

function stat(pid: number): { comm: string; state: string; ppid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), state: rest[0]!, ppid: Number(rest[1]) };
  } catch {
    return null;
  }
}

async function until<T>(what: string, probe: () => T | null | undefined | false, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The children of `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** A pid that no process has: one of ours that has exited and been reaped. */
function freePid(): number {
  const done = spawnSync('true');
  return done.pid!;
}

const sleepBinary = realpathSync(spawnSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).stdout.trim());
const me = os.userInfo();

t.test('every tool declares what it touches', async (t) => {
  t.same(
    PROCESS_TOOLS.map((tool) => [tool.name, tool.capability, tool.effects, tool.undo]),
    [
      ['process.list', 'process.read', ['reads'], 'none'],
      ['process.info', 'process.read', ['reads'], 'none'],
      ['process.tree', 'process.read', ['reads'], 'none'],
      ['process.signal', 'process.signal', ['writes', 'destructive'], 'none'],
      ['process.kill', 'process.signal', ['writes', 'destructive'], 'none'],
    ],
  );
  for (const tool of PROCESS_TOOLS) t.match(tool.description, /^[A-Z].*\.$/, `${tool.name}: one sentence`);
  t.same(processInfoTool.paths!({ pid: 42 }), { read: ['/proc/42'] });
});

t.test('process.list and process.info describe a real child exactly', async (t) => {
  const s = scratch(t);
  const spawnedAt = Date.now();
  const { pid } = start(t, 'sleep', ['987'], s.dir);
  await until('sleep to exec', () => stat(pid)?.comm === 'sleep');

  const listed = await ok(t, processListTool, { filter: 'sleep 987' }, s);
  const row = listed.processes.find((p) => p.pid === pid);
  if (!row) throw new Error(`pid ${pid} missing from ${JSON.stringify(listed)}`);
  t.same(
    { ppid: row.ppid, user: row.user, uid: row.uid, name: row.name, command: row.command, threads: row.threads, kernelThread: row.kernelThread },
    { ppid: process.pid, user: me.username, uid: me.uid, name: 'sleep', command: 'sleep 987', threads: 1, kernelThread: false },
  );
  t.match(row.state, /^[SR]$/);
  t.ok(row.rssBytes > 0 && row.rssBytes < 64 * 2 ** 20, `rss ${row.rssBytes}`);
  t.ok(row.cpuSeconds >= 0 && row.cpuSeconds < 1, `cpu ${row.cpuSeconds}`);
  t.ok(Math.abs(Date.parse(row.startTime) - spawnedAt) < 3_000, `started ${row.startTime}, spawned ${new Date(spawnedAt).toISOString()}`);
  t.match(processListTool.render(listed), new RegExp(`^ +${pid} +${process.pid} ${me.username} +[SR] .* sleep 987$`, 'm'));

  // The filter matches the name and the command line, case-insensitively.
  t.ok((await ok(t, processListTool, { filter: 'SLEEP 987' }, s)).processes.some((p) => p.pid === pid));
  const none = await ok(t, processListTool, { filter: 'no-such-process-aios-xyz' }, s);
  t.same(none, { processes: [], total: 0, truncated: false });
  t.equal(processListTool.render(none), 'no matching processes');

  const all = await ok(t, processListTool, { limit: 10_000 }, s);
  t.ok(all.processes.some((p) => p.pid === process.pid));
  t.notOk(all.processes.some((p) => p.kernelThread), 'no kernel threads unless asked');
  t.same(all.processes.map((p) => p.pid), [...all.processes.map((p) => p.pid)].sort((a, b) => a - b), 'sorted by pid');
  const first = await ok(t, processListTool, { limit: 1 }, s);
  t.same([first.processes.length, first.truncated, first.total > 1], [1, true, true]);

  const info = await ok(t, processInfoTool, { pid }, s);
  t.same(
    { pid: info.pid, ppid: info.ppid, command: info.command, cwd: info.cwd, exe: info.exe, threads: info.threads, openFds: info.openFds, notPermitted: info.notPermitted },
    // stdio is three fds; the test runner may pass more down, so count them as the kernel does.
    { pid, ppid: process.pid, command: 'sleep 987', cwd: s.dir, exe: sleepBinary, threads: 1, openFds: readdirSync(`/proc/${pid}/fd`).length, notPermitted: [] },
  );
  t.ok(info.openFds! >= 3);
  t.equal(info.startTime, row.startTime);
  const cgroupLines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  t.equal(info.cgroup, (cgroupLines.find((l) => l.startsWith('0::')) ?? cgroupLines[0]!).replace(/^[^:]*:[^:]*:/, ''));
  t.match(processInfoTool.render(info), new RegExp(`^${pid} sleep 987\nparent ${process.pid}, user ${me.username}, state [SR], 1 thread, started `));

  const self = await ok(t, processInfoTool, { pid: process.pid }, s);
  t.same([self.exe, self.cwd], [realpathSync(process.execPath), process.cwd()]);
});

t.test('process.info and process.tree: missing pids and bad input', async (t) => {
  const s = scratch(t);
  const gone = freePid();
  t.match(await fails(t, processInfoTool, { pid: gone }, s, 'ENOENT'), `no process with pid ${gone} (it has exited, or never ran; process.list shows the running ones)`);
  t.match(await fails(t, processTreeTool, { pid: gone }, s, 'ENOENT'), `no process with pid ${gone}`);
  t.match(await fails(t, processInfoTool, { pid: 0 }, s, 'EINVAL'), 'pid: must be a process id (1 or more)');
  t.match(await fails(t, processInfoTool, { pid: -1 }, s, 'EINVAL'), 'pid: must be a process id (1 or more)');
  await fails(t, processInfoTool, { pid: '12' }, s, 'EINVAL');
  await fails(t, processInfoTool, { pid: 1.5 }, s, 'EINVAL');
});

t.test('process.tree: a child and a grandchild, drawn as a tree', async (t) => {
  const s = scratch(t);
  const shell = start(t, 'sh', ['-c', 'sleep 988 & wait'], s.dir);
  const grandchild = await until('sh to start sleep', () => childrenOf(shell.pid).find((pid) => stat(pid)?.comm === 'sleep'));

  const tree = await ok(t, processTreeTool, { pid: shell.pid }, s);
  t.same(tree.count, 2);
  t.same(
    { pid: tree.root.pid, name: tree.root.name, command: tree.root.command, user: tree.root.user },
    { pid: shell.pid, name: 'sh', command: 'sh -c sleep 988 & wait', user: me.username },
  );
  t.same(
    tree.root.children.map((c) => [c.pid, c.name, c.command, c.children]),
    [[grandchild, 'sleep', 'sleep 988', []]],
  );
  t.equal(processTreeTool.render(tree), `${shell.pid} sh -c sleep 988 & wait\n└─ ${grandchild} sleep 988`);

  const ours = await ok(t, processTreeTool, { pid: process.pid }, s);
  const sh = ours.root.children.find((c) => c.pid === shell.pid);
  t.same(sh?.children.map((c) => c.pid), [grandchild], 'two levels below this process');
  t.match(processTreeTool.render(ours), new RegExp(`^(├─|└─) ${shell.pid} sh -c sleep 988 & wait\n(│  |   )└─ ${grandchild} sleep 988$`, 'm'));

  const init = await ok(t, processTreeTool, {}, s);
  t.equal(init.root.pid, 1);
  const find = (node: typeof init.root, pid: number): boolean => node.pid === pid || node.children.some((c) => find(c, pid));
  t.ok(find(init.root, grandchild) || stat(process.pid)?.ppid === 0, 'everything descends from PID 1');
  t.notOk(JSON.stringify(init.root).includes('"kthreadd"'), 'no kernel threads unless asked');
});

t.test('process.signal: STOP, CONT, TERM reach the process', async (t) => {
  const s = scratch(t);
  const sleeper = start(t, 'sleep', ['989'], s.dir);
  await until('sleep to exec', () => stat(sleeper.pid)?.comm === 'sleep');

  t.same(await ok(t, processSignalTool, { pid: sleeper.pid, signal: 'STOP' }, s), { pid: sleeper.pid, signal: 'STOP', name: 'sleep' });
  await until('state T', () => stat(sleeper.pid)?.state === 'T');
  await ok(t, processSignalTool, { pid: sleeper.pid, signal: 'CONT' }, s);
  await until('state S', () => stat(sleeper.pid)?.state === 'S');
  const term = await ok(t, processSignalTool, { pid: sleeper.pid, signal: 'TERM' }, s);
  t.equal(processSignalTool.render(term), `sent TERM to ${sleeper.pid} (sleep)`);
  t.same(await sleeper.exited, { code: null, signal: 'SIGTERM' });

  t.match(await fails(t, processSignalTool, { pid: sleeper.pid, signal: 'TERM' }, s, 'ESRCH'), `no process with pid ${sleeper.pid}`);
  // Refused by the schema, so that the policy sees an invalid call (deny) before anything runs.
  t.match(await fails(t, processSignalTool, { pid: 1, signal: 'TERM' }, s, 'EINVAL'), 'pid: PID 1 is init: use service.* to stop services and sys.power to stop the machine');
  t.match(await fails(t, processSignalTool, { pid: process.pid, signal: 'HUP' }, s, 'EPERM'), `refusing to signal pid ${process.pid}: it is the aiOS process running this tool`);
  t.match(await fails(t, processSignalTool, { pid: 0, signal: 'TERM' }, s, 'EINVAL'), 'pid: must be a process id (1 or more); process groups');
  t.match(await fails(t, processSignalTool, { pid: 12345, signal: 'SIGTERM' }, s, 'EINVAL'), 'signal: must be one of TERM, KILL, HUP, INT, QUIT, USR1, USR2, STOP, CONT (without SIG), got "SIGTERM"');
  t.match(await fails(t, processSignalTool, { pid: 12345, signal: 'SEGV' }, s, 'EINVAL'), 'got "SEGV"');
});

t.test('process.kill: TERM when it listens, KILL when it does not, stopped ones too', async (t) => {
  const s = scratch(t);
  const polite = start(t, 'sleep', ['990'], s.dir);
  await until('sleep to exec', () => stat(polite.pid)?.comm === 'sleep');
  const ended = await ok(t, processKillTool, { pid: polite.pid }, s);
  t.same([ended.pid, ended.name, ended.endedBy], [polite.pid, 'sleep', 'TERM']);
  t.ok(ended.waitedMs < 2_000, `waited ${ended.waitedMs} ms`);
  t.match(processKillTool.render(ended), new RegExp(`^${polite.pid} \\(sleep\\) ended by TERM after \\d+\\.\\d\\d s$`));
  t.same(await polite.exited, { code: null, signal: 'SIGTERM' });

  // An ignored signal stays ignored across exec, so this sleep cannot be ended by TERM.
  const stubborn = start(t, 'sh', ['-c', 'trap "" TERM; exec sleep 991'], s.dir);
  await until('sh to exec sleep', () => stat(stubborn.pid)?.comm === 'sleep');
  const killed = await ok(t, processKillTool, { pid: stubborn.pid, graceMs: 300 }, s);
  t.same([killed.name, killed.endedBy], ['sleep', 'KILL']);
  t.ok(killed.waitedMs >= 300 && killed.waitedMs < 3_000, `waited ${killed.waitedMs} ms`);
  t.same(await stubborn.exited, { code: null, signal: 'SIGKILL' });

  // A stopped process holds TERM until it is continued.
  const stopped = start(t, 'sleep', ['992'], s.dir);
  await until('sleep to exec', () => stat(stopped.pid)?.comm === 'sleep');
  process.kill(stopped.pid, 'SIGSTOP');
  await until('state T', () => stat(stopped.pid)?.state === 'T');
  t.equal((await ok(t, processKillTool, { pid: stopped.pid, graceMs: 2_000 }, s)).endedBy, 'TERM');
  t.same(await stopped.exited, { code: null, signal: 'SIGTERM' });

  // sh starts `sleep 0`, then becomes `sleep 993`, which never reaps it: a zombie.
  const parent = start(t, 'sh', ['-c', 'sleep 0 & exec sleep 993'], s.dir);
  const zombie = await until('a zombie child', () => childrenOf(parent.pid).find((pid) => stat(pid)?.state === 'Z' && stat(parent.pid)?.comm === 'sleep'));
  t.match(await fails(t, processKillTool, { pid: zombie }, s, 'ESRCH'), `pid ${zombie} (sleep) has already exited: it is a zombie that only its parent can clear`);
  t.match(processTreeTool.render(await ok(t, processTreeTool, { pid: parent.pid }, s)), `└─ ${zombie} [sleep] (zombie)`);

  t.match(await fails(t, processKillTool, { pid: 1 }, s, 'EINVAL'), 'pid: PID 1 is init');
  t.match(await fails(t, processKillTool, { pid: process.pid }, s, 'EPERM'), `refusing to signal pid ${process.pid}`);
  t.match(await fails(t, processKillTool, { pid: polite.pid }, s, 'ESRCH'), `no process with pid ${polite.pid}`);
  t.match(await fails(t, processKillTool, { pid: 12345, graceMs: -1 }, s, 'EINVAL'), 'graceMs');
});
