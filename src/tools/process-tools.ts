// The process tools: list, inspect and signal processes, reading /proc directly (no ps, so the
// answer is the same on a bare initramfs as on a full system).
//
// Invariants: no tool signals PID 1 or the process running the tool (service.* and sys.power
// are the ways to act on init); process.kill never reports a process gone while it still runs,
// and never signals a newer process that reused the pid (the start time must match).
import { readFileSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod/mini';
import { parseStat } from '../init/procfs.ts';
import { accountNames } from './fs-tools.ts';
import { defineTool, ToolError } from './tool.ts';

const AT_CLKTCK = 17n;

let clockTicks: number | undefined;

/**
 * Clock ticks per second (the unit of CPU and start times in /proc/PID/stat). Node has no
 * sysconf, but the kernel hands every process the value in its auxiliary vector.
 */
function ticksPerSecond(): number {
  if (clockTicks !== undefined) return clockTicks;
  clockTicks = 100; // USER_HZ on every architecture Linux ships today
  try {
    const auxv = readFileSync('/proc/self/auxv');
    for (let i = 0; i + 16 <= auxv.length; i += 16) {
      if (auxv.readBigUInt64LE(i) === AT_CLKTCK) clockTicks = Number(auxv.readBigUInt64LE(i + 8));
    }
  } catch {
    // No /proc/self/auxv: keep USER_HZ.
  }
  return clockTicks;
}

async function bootTimeSeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n').find((l) => l.startsWith('btime '));
  return Number(line?.slice(6) ?? 0);
}

const pidSchema = z.int().check(z.gte(1, 'must be a process id (1 or more); process groups (0 and negative pids) are not accepted'), z.lte(2 ** 22));
// Signals never go to PID 1: stopping services and the machine is what service.* and sys.power do.
const signalTarget = pidSchema.check(z.gte(2, 'PID 1 is init: use service.* to stop services and sys.power to stop the machine'));

const processSchema = z.object({
  pid: z.number(),
  ppid: z.number(),
  /** The effective user, null when /etc/passwd does not name the uid. */
  user: z.nullable(z.string()),
  uid: z.number(),
  /** R running, S sleeping, D waiting in the kernel, Z zombie, T stopped, I idle (kernel). */
  state: z.string(),
  /** The short name the kernel keeps (comm, at most 15 bytes). */
  name: z.string(),
  /** The command line; a kernel thread has none and shows as [name]. */
  command: z.string(),
  rssBytes: z.number(),
  cpuSeconds: z.number(),
  threads: z.number(),
  startTime: z.string(),
  kernelThread: z.boolean(),
});
type ProcessRow = z.infer<typeof processSchema>;

/** The fields of /proc/PID/stat after the comm, numbered as proc(5) numbers them. */
function statField(text: string, number: number): number {
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[number - 3]);
}

interface Reading {
  names: ReturnType<typeof accountNames>;
  bootTime: number;
}

async function reading(): Promise<Reading> {
  return { names: accountNames(), bootTime: await bootTimeSeconds() };
}

function procError(error: unknown, pid: number): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ESRCH') return Object.assign(new ToolError('ENOENT', `no process with pid ${pid} (it has exited, or never ran; process.list shows the running ones)`), { cause: error });
  if (code === 'EACCES' || code === 'EPERM') return Object.assign(new ToolError('EPERM', `not permitted to read /proc/${pid} (another user's process, with /proc mounted hidepid?)`), { cause: error });
  return error;
}

async function readProcess(pid: number, r: Reading): Promise<ProcessRow> {
  const [stat, status, cmdline] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0)),
  ]);
  const info = parseStat(stat);
  if (!info) throw new ToolError('EIO', `/proc/${pid}/stat is not in the format proc(5) describes`);
  const statusField = (key: string) => status.match(new RegExp(`^${key}:\\s*(.*)$`, 'm'))?.[1] ?? '';
  // Effective uid: the one that decides what the process may do, as ps shows it.
  const uid = Number(statusField('Uid').split(/\s+/)[1] ?? -1);
  const args = cmdline.toString('utf8').split('\0');
  if (args.at(-1) === '') args.pop();
  const tick = ticksPerSecond();
  return {
    pid: info.pid,
    ppid: info.ppid,
    user: r.names.user(uid),
    uid,
    state: info.state,
    name: info.comm,
    command: args.length > 0 ? args.join(' ') : `[${info.comm}]`,
    rssBytes: Number.parseInt(statusField('VmRSS') || '0', 10) * 1024,
    cpuSeconds: (statField(stat, 14) + statField(stat, 15)) / tick,
    threads: statField(stat, 20),
    startTime: new Date((r.bootTime + statField(stat, 22) / tick) * 1000).toISOString(),
    kernelThread: info.kernelThread,
  };
}

/** Every process that can be read; one that exits while being read is left out. */
async function readAll(r: Reading): Promise<ProcessRow[]> {
  const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
  const rows = await Promise.all(pids.map((pid) => readProcess(pid, r).catch(() => null)));
  return rows.filter((row) => row !== null).sort((a, b) => a.pid - b.pid);
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)}M`;
}

function clip(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

export const processListTool = defineTool({
  name: 'process.list',
  description: 'Running processes with pid, parent, user, state, memory (RSS), CPU time and command line; filter matches the name or command line.',
  input: z.strictObject({
    filter: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
    limit: z._default(z.int().check(z.gte(1), z.lte(10_000)), 200),
    kernelThreads: z._default(z.boolean(), false),
  }),
  output: z.object({ processes: z.array(processSchema), total: z.number(), truncated: z.boolean() }),
  capability: 'process.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 15_000,
  undo: 'none',
  paths: () => ({ read: ['/proc'] }),
  async run(input) {
    const needle = input.filter?.toLowerCase();
    const matching = (await readAll(await reading())).filter(
      (p) => (input.kernelThreads || !p.kernelThread) && (needle === undefined || p.name.toLowerCase().includes(needle) || p.command.toLowerCase().includes(needle)),
    );
    return { processes: matching.slice(0, input.limit), total: matching.length, truncated: matching.length > input.limit };
  },
  render(r) {
    if (r.processes.length === 0) return 'no matching processes';
    const userWidth = Math.max(4, ...r.processes.map((p) => (p.user ?? String(p.uid)).length));
    const lines = [
      `${'PID'.padStart(7)} ${'PPID'.padStart(7)} ${'USER'.padEnd(userWidth)} S ${'RSS'.padStart(8)} ${'CPU s'.padStart(8)}  COMMAND`,
      ...r.processes.map(
        (p) =>
          `${String(p.pid).padStart(7)} ${String(p.ppid).padStart(7)} ${(p.user ?? String(p.uid)).padEnd(userWidth)} ${p.state} ${mib(p.rssBytes).padStart(8)} ${p.cpuSeconds.toFixed(2).padStart(8)}  ${clip(p.command, 100)}`,
      ),
    ];
    if (r.truncated) lines.push(`… ${r.total - r.processes.length} more (raise limit or narrow the filter)`);
    return lines.join('\n');
  },
});

const infoSchema = z.extend(processSchema, {
  cwd: z.nullable(z.string()),
  exe: z.nullable(z.string()),
  openFds: z.nullable(z.number()),
  /** The cgroup v2 path (or, without v2, the first hierarchy's). */
  cgroup: z.nullable(z.string()),
  /** Fields left null because reading them needs more privilege than the tool has. */
  notPermitted: z.array(z.string()),
});

export const processInfoTool = defineTool({
  name: 'process.info',
  description: 'One process in detail: what process.list shows plus working directory, executable, threads, start time, open file descriptors and cgroup.',
  input: z.strictObject({ pid: pidSchema }),
  output: infoSchema,
  capability: 'process.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 5_000,
  undo: 'none',
  paths: (input) => ({ read: [`/proc/${input.pid}`] }),
  async run({ pid }) {
    const row = await readProcess(pid, await reading()).catch((error: unknown) => {
      throw procError(error, pid);
    });
    const notPermitted: string[] = [];
    // cwd, exe and fd need ptrace access; kernel threads and zombies have none of them.
    const optional = async <T>(field: string, read: () => Promise<T>): Promise<T | null> => {
      try {
        return await read();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM') notPermitted.push(field);
        return null;
      }
    };
    const [cwd, exe, openFds, cgroup] = await Promise.all([
      optional('cwd', () => readlink(`/proc/${pid}/cwd`)),
      optional('exe', () => readlink(`/proc/${pid}/exe`)),
      optional('openFds', async () => (await readdir(`/proc/${pid}/fd`)).length),
      optional('cgroup', async () => {
        const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n').filter(Boolean);
        const line = lines.find((l) => l.startsWith('0::')) ?? lines[0];
        return line === undefined ? null : line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
      }),
    ]);
    return { ...row, cwd, exe, openFds, cgroup, notPermitted };
  },
  render(p) {
    const unknown = (v: unknown, field: string) => (v === null ? (p.notPermitted.includes(field) ? '(not permitted)' : '-') : String(v));
    return [
      `${p.pid} ${p.command}`,
      `parent ${p.ppid}, user ${p.user ?? p.uid}, state ${p.state}, ${p.threads} thread${p.threads === 1 ? '' : 's'}, started ${p.startTime}`,
      `memory ${mib(p.rssBytes)}, cpu ${p.cpuSeconds.toFixed(2)} s, open fds ${unknown(p.openFds, 'openFds')}`,
      `exe ${unknown(p.exe, 'exe')}, cwd ${unknown(p.cwd, 'cwd')}, cgroup ${unknown(p.cgroup, 'cgroup')}`,
    ].join('\n');
  },
});

export interface ProcessNode {
  pid: number;
  name: string;
  command: string;
  user: string | null;
  state: string;
  children: ProcessNode[];
}

const nodeSchema: z.ZodMiniType<ProcessNode> = z.object({
  pid: z.number(),
  name: z.string(),
  command: z.string(),
  user: z.nullable(z.string()),
  state: z.string(),
  get children() {
    return z.array(nodeSchema);
  },
});

export const processTreeTool = defineTool({
  name: 'process.tree',
  description: 'The tree of processes under one process (PID 1 by default): who started whom.',
  input: z.strictObject({ pid: z._default(pidSchema, 1), kernelThreads: z._default(z.boolean(), false) }),
  output: z.object({ root: nodeSchema, count: z.number() }),
  capability: 'process.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 15_000,
  undo: 'none',
  paths: () => ({ read: ['/proc'] }),
  async run(input) {
    const rows = await readAll(await reading());
    const root = rows.find((p) => p.pid === input.pid);
    if (!root) throw new ToolError('ENOENT', `no process with pid ${input.pid} (it has exited, or never ran; process.list shows the running ones)`);
    const children = new Map<number, ProcessRow[]>();
    for (const p of rows) {
      if (p.pid === root.pid || (p.kernelThread && !input.kernelThreads)) continue;
      children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
    }
    // A pid reused while /proc was being read could make a loop: visit each process once.
    const seen = new Set<number>();
    const build = (p: ProcessRow): ProcessNode => {
      seen.add(p.pid);
      const kids = (children.get(p.pid) ?? []).filter((c) => !seen.has(c.pid));
      return { pid: p.pid, name: p.name, command: p.command, user: p.user, state: p.state, children: kids.map(build) };
    };
    const tree = build(root);
    return { root: tree, count: seen.size };
  },
  render(r) {
    const lines: string[] = [];
    const draw = (node: ProcessNode, prefix: string, branch: string, last: boolean) => {
      lines.push(`${prefix}${branch}${node.pid} ${clip(node.command, 100)}${node.state === 'Z' ? ' (zombie)' : ''}`);
      const childPrefix = branch === '' ? '' : `${prefix}${last ? '   ' : '│  '}`;
      node.children.forEach((child, i) => {
        const isLast = i === node.children.length - 1;
        draw(child, childPrefix, isLast ? '└─ ' : '├─ ', isLast);
      });
    };
    draw(r.root, '', '', true);
    return lines.join('\n');
  },
});

const SIGNALS = ['TERM', 'KILL', 'HUP', 'INT', 'QUIT', 'USR1', 'USR2', 'STOP', 'CONT'] as const;

/** PID 1 and the tool runner itself are never signalled: that is what service.* and sys.power are for. */
function refuseSpecial(pid: number): void {
  if (pid === 1) throw new ToolError('EPERM', 'refusing to signal pid 1: it is aios-init, and signalling it can stop the whole machine; use service.stop or service.restart for a service, sys.power to reboot or power off');
  if (pid === process.pid) throw new ToolError('EPERM', `refusing to signal pid ${pid}: it is the aiOS process running this tool; use service.restart or sys.power instead`);
}

function signalError(error: unknown, pid: number): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ESRCH') return Object.assign(new ToolError('ESRCH', `no process with pid ${pid} (it has exited; process.list shows the running ones)`), { cause: error });
  if (code === 'EPERM') return Object.assign(new ToolError('EPERM', `not permitted to signal pid ${pid} (it belongs to another user; process.info shows which)`), { cause: error });
  return error;
}

/** The name, state and start time of a pid, or null when there is no such process. */
async function identity(pid: number): Promise<{ name: string; state: string; start: number } | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const info = parseStat(stat);
    return info && { name: info.comm, state: info.state, start: statField(stat, 22) };
  } catch {
    return null;
  }
}

export const processSignalTool = defineTool({
  name: 'process.signal',
  description: 'Send one signal (TERM, KILL, HUP, INT, QUIT, USR1, USR2, STOP or CONT) to a process; not to PID 1 (use service.* or sys.power).',
  input: z.strictObject({
    pid: signalTarget,
    signal: z.enum(SIGNALS, { error: (iss) => `must be one of ${SIGNALS.join(', ')} (without SIG), got ${JSON.stringify(iss.input)}` }),
  }),
  output: z.object({ pid: z.number(), signal: z.enum(SIGNALS), name: z.string() }),
  capability: 'process.signal',
  effects: ['writes', 'destructive'],
  risk: 'high',
  timeoutMs: 5_000,
  undo: 'none',
  paths: (input) => ({ read: [`/proc/${input.pid}`] }),
  async run(input) {
    refuseSpecial(input.pid);
    const before = await identity(input.pid);
    if (!before) throw new ToolError('ESRCH', `no process with pid ${input.pid} (it has exited, or never ran; process.list shows the running ones)`);
    try {
      process.kill(input.pid, `SIG${input.signal}`);
    } catch (error) {
      throw signalError(error, input.pid);
    }
    return { pid: input.pid, signal: input.signal, name: before.name };
  },
  render(r) {
    return `sent ${r.signal} to ${r.pid} (${r.name})`;
  },
});

const KILL_WAIT_MS = 2_000;
const POLL_MS = 25;

export const processKillTool = defineTool({
  name: 'process.kill',
  description: 'End a process: send TERM, wait up to graceMs for it to exit, then KILL; says which one ended it. Not PID 1 (use service.* or sys.power).',
  input: z.strictObject({ pid: signalTarget, graceMs: z._default(z.int().check(z.gte(0), z.lte(60_000)), 5_000) }),
  output: z.object({ pid: z.number(), name: z.string(), endedBy: z.enum(['TERM', 'KILL']), waitedMs: z.number() }),
  capability: 'process.signal',
  effects: ['writes', 'destructive'],
  risk: 'high',
  timeoutMs: 60_000 + KILL_WAIT_MS + 3_000,
  undo: 'none',
  paths: (input) => ({ read: [`/proc/${input.pid}`] }),
  async run(input, context) {
    refuseSpecial(input.pid);
    const target = await identity(input.pid);
    if (!target) throw new ToolError('ESRCH', `no process with pid ${input.pid} (it has exited, or never ran; process.list shows the running ones)`);
    if (target.state === 'Z') throw new ToolError('ESRCH', `pid ${input.pid} (${target.name}) has already exited: it is a zombie that only its parent can clear by reaping it`);
    const started = Date.now();
    // Gone means exited (a zombie has exited too) or replaced by a newer process with the same pid.
    const gone = async () => {
      const now = await identity(input.pid);
      return now === null || now.state === 'Z' || now.start !== target.start;
    };
    const waitGone = async (ms: number) => {
      const deadline = Date.now() + ms;
      for (;;) {
        if (await gone()) return true;
        if (Date.now() >= deadline) return false;
        await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())), undefined, { signal: context.signal });
      }
    };
    const send = (signal: NodeJS.Signals) => {
      try {
        process.kill(input.pid, signal);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw signalError(error, input.pid);
      }
    };
    send('SIGTERM');
    // A stopped process would hold TERM pending until continued.
    send('SIGCONT');
    if (await waitGone(input.graceMs)) return { pid: input.pid, name: target.name, endedBy: 'TERM' as const, waitedMs: Date.now() - started };
    send('SIGKILL');
    if (await waitGone(KILL_WAIT_MS)) return { pid: input.pid, name: target.name, endedBy: 'KILL' as const, waitedMs: Date.now() - started };
    throw new ToolError('EBUSY', `pid ${input.pid} (${target.name}) is still there ${KILL_WAIT_MS / 1000} s after KILL: it is stuck in the kernel (state D, e.g. on a hung disk or network file system); process.info shows its state`);
  },
  render(r) {
    return `${r.pid} (${r.name}) ended by ${r.endedBy} after ${(r.waitedMs / 1000).toFixed(2)} s`;
  },
});

export const PROCESS_TOOLS = [processListTool, processInfoTool, processTreeTool, processSignalTool, processKillTool];
