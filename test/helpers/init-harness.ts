// Starts aios-init for a test: in a fresh PID namespace (so it is PID 1 there) or as a plain
// subreaper, with its own temporary services, state and run folders.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from '../../src/interfaces/control-client.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const MAIN = path.join(ROOT, 'src', 'entry.ts');

export interface InitHandle {
  dir: string;
  servicesDir: string;
  stateDir: string;
  runDir: string;
  socket: string;
  child: ChildProcess;
  /** Everything the init printed to stdout and stderr. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The init's PID as the host sees it. */
  hostPid(): number;
  request(body: Record<string, unknown>): Promise<unknown>;
  services(): Promise<{ name: string; state: string; pid: number | null; restarts: number; lastExit: { code: number; signal: string | null } | null }[]>;
  logEntries(): Record<string, unknown>[];
  writeService(name: string, toml: string): void;
  /** Sends a signal to the init (from outside, as the kernel or a container runtime would). */
  signal(signal: NodeJS.Signals | number): void;
  /** Processes in the init's PID namespace (or, as subreaper, its descendants), seen from the host. */
  processes(): HostProcess[];
  zombies(): HostProcess[];
  /** Powers off (or, with kill, SIGKILLs the whole namespace) and removes the folders. */
  cleanup(options?: { kill?: boolean }): Promise<void>;
}

export interface HostProcess {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
}

export interface StartOptions {
  services?: Record<string, string>;
  namespace?: boolean;
  env?: Record<string, string>;
  args?: string[];
  /** Node's own flags (default: --disable-sigusr1, as the image runs it). */
  nodeArgs?: string[];
  /** The program to run instead of Node on the sources, e.g. [out/aios] (then nodeArgs is ignored). */
  command?: string[];
  /** Runs before init starts, with the folders made (to write files that need their paths). */
  prepare?: (init: Pick<InitHandle, 'servicesDir' | 'stateDir' | 'runDir' | 'writeService'>) => void;
  /** Wait until the control socket answers (default true). */
  waitReady?: boolean;
}

export async function startInit(options: StartOptions = {}): Promise<InitHandle> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-init-test-'));
  chmodSync(dir, 0o755);
  const servicesDir = path.join(dir, 'services');
  const stateDir = path.join(dir, 'state');
  const runDir = path.join(dir, 'run');
  for (const d of [servicesDir, stateDir, runDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const [name, toml] of Object.entries(options.services ?? {})) writeFileSync(path.join(servicesDir, `${name}.toml`), toml);
  options.prepare?.({ servicesDir, stateDir, runDir, writeService: (name, toml) => writeFileSync(path.join(servicesDir, `${name}.toml`), toml) });

  const program = options.command ?? [process.execPath, ...(options.nodeArgs ?? ['--disable-sigusr1']), MAIN];
  const initArgs = [
    ...program.slice(1),
    'init',
    '--services', servicesDir,
    '--state', stateDir,
    '--run', runDir,
    '--log-level', 'warn',
    ...(options.args ?? []),
  ];
  const namespace = options.namespace ?? true;
  const command = namespace ? 'unshare' : program[0]!;
  const args = namespace ? ['--pid', '--fork', '--kill-child', '--mount-proc', program[0]!, ...initArgs] : initArgs;
  const child = spawn(command, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const socket = path.join(runDir, 'init.sock');

  const hostPid = (): number => {
    if (!namespace) return child.pid!;
    const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (children.length !== 1) throw new Error(`expected unshare to have one child, found ${children.length}`);
    return Number(children[0]);
  };

  const processes = (): HostProcess[] => {
    const all = hostProcesses();
    if (namespace) {
      const ns = readlinkSync(`/proc/${hostPid()}/ns/pid`);
      return all.filter((p) => {
        try {
          return readlinkSync(`/proc/${p.pid}/ns/pid`) === ns;
        } catch {
          return false;
        }
      });
    }
    const result: HostProcess[] = [];
    const walk = (pid: number): void => {
      for (const p of all) if (p.ppid === pid) (result.push(p), walk(p.pid));
    };
    const self = all.find((p) => p.pid === child.pid);
    if (self) result.push(self);
    walk(child.pid!);
    return result;
  };

  const handle: InitHandle = {
    dir,
    servicesDir,
    stateDir,
    runDir,
    socket,
    child,
    output: () => output,
    exited,
    hostPid,
    request: (body) => request(socket, body),
    services: async () => ((await request(socket, { cmd: 'services' })) as { services: never[] }).services,
    logEntries: () => {
      try {
        return readFileSync(path.join(stateDir, 'log', 'init.log'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      } catch {
        return [];
      }
    },
    writeService: (name, toml) => writeFileSync(path.join(servicesDir, `${name}.toml`), toml),
    signal: (signal) => process.kill(hostPid(), signal),
    processes,
    zombies: () => processes().filter((p) => p.state === 'Z'),
    cleanup: async (cleanupOptions) => {
      if (cleanupOptions?.kill) child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) {
        try {
          await request(socket, { cmd: 'poweroff' });
        } catch {
          child.kill('SIGKILL');
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (options.waitReady ?? true) {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`init exited early (${child.exitCode}): ${output}`);
      if (!handle.logEntries().some((e) => e.msg === 'aios-init ready')) return false;
      try {
        await request(socket, { cmd: 'ping' });
        return true;
      } catch {
        return false;
      }
    }, 30_000, 'init to be ready');
  }
  return handle;
}

export function hostProcesses(): HostProcess[] {
  const result: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      } catch {
        // A zombie has no cmdline.
      }
      result.push({ pid: Number(entry), state: fields[0]!, ppid: Number(fields[1]), cmdline });
    } catch {
      // Gone.
    }
  }
  return result;
}

export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Entries of init.log whose message contains `text`. */
export function logged(init: InitHandle, text: string): Record<string, unknown>[] {
  return init.logEntries().filter((e) => typeof e.msg === 'string' && e.msg.includes(text));
}
